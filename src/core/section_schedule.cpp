#include "pgtier/core/section_schedule.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace pgtier {

std::vector<std::size_t> dump_start_order(const std::vector<ScheduledSection>& sections) {
    std::vector<std::size_t> order(sections.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        const bool a_globals = sections[a].kind == SectionKind::globals;
        const bool b_globals = sections[b].kind == SectionKind::globals;
        if (a_globals != b_globals) return a_globals;
        return sections[a].size > sections[b].size;
    });
    return order;
}

void AppendOrder::finished(std::size_t index) {
    if (index >= finished_.size()) throw std::out_of_range("AppendOrder: no such section");
    finished_[index] = true;
}

std::optional<std::size_t> AppendOrder::next() {
    if (next_ == finished_.size() || !finished_[next_]) return std::nullopt;
    return next_++;
}

}  // namespace pgtier
