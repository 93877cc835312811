#include "catch_compat.hpp"

#include "pgtier/core/section_schedule.hpp"

using namespace pgtier;

namespace {
ScheduledSection db(std::uint64_t size) {
    return {SectionKind::database, size};
}
}  // namespace

TEST_CASE("dumps start with the globals, then the databases largest first") {
    const std::vector<ScheduledSection> sections = {
        {SectionKind::globals, 0}, db(8), db(500), db(30), db(500), db(0)};
    CHECK(dump_start_order(sections) == std::vector<std::size_t>{0, 2, 4, 3, 1, 5});
    // Without globals (an incremental that needs none); equal sizes stay in archive order.
    CHECK(dump_start_order({db(1), db(1), db(7)}) == std::vector<std::size_t>{2, 0, 1});
    CHECK(dump_start_order({}).empty());
}

TEST_CASE("sections are appended in archive order, each once its predecessors are") {
    AppendOrder order(4);
    CHECK_FALSE(order.done());
    CHECK_FALSE(order.next().has_value());
    order.finished(2);  // finished out of order: waits for 0 and 1
    CHECK_FALSE(order.next().has_value());
    order.finished(0);
    CHECK(order.next() == std::optional<std::size_t>(0));
    CHECK_FALSE(order.next().has_value());  // handed out once
    CHECK(order.waiting_for() == 1);
    order.finished(1);
    CHECK(order.next() == std::optional<std::size_t>(1));
    CHECK(order.next() == std::optional<std::size_t>(2));
    CHECK_FALSE(order.next().has_value());
    CHECK(order.waiting_for() == 3);
    order.finished(3);
    CHECK(order.next() == std::optional<std::size_t>(3));
    CHECK(order.done());
    CHECK_FALSE(order.next().has_value());
    CHECK_THROWS(order.finished(4));
}
