#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "pgtier/core/backup_type.hpp"

// The scheduling of a parallel backup (several pg_dump children at once, each section
// compressed into its own spool file, appended to the archive in archive order).
namespace pgtier {

struct ScheduledSection {
    SectionKind kind = SectionKind::database;
    std::uint64_t size = 0;  // the database's size on the server (0: unknown)
};

// The order in which the dumps start, as indexes into `sections` (given in archive order).
// The globals first: they take a moment and come first in the archive, so appending can begin
// early. Then the databases largest first, so that the longest dump does not start last (the
// longest-processing-time rule); equal sizes in archive order.
std::vector<std::size_t> dump_start_order(const std::vector<ScheduledSection>& sections);

// Which finished sections can be appended to the archive now: in archive order, each as soon as
// it and every section before it are finished.
class AppendOrder {
  public:
    explicit AppendOrder(std::size_t count) : finished_(count, false) {}

    // Section `index` (archive order) is finished: spooled, or known to have no section.
    void finished(std::size_t index);
    // The next section to append, handed out once: the first not yet handed out, when it is
    // finished; nullopt while it is not.
    std::optional<std::size_t> next();
    // Every section handed out.
    bool done() const { return next_ == finished_.size(); }
    // The first section not yet handed out (what appending waits for); size() when done.
    std::size_t waiting_for() const { return next_; }

  private:
    std::vector<bool> finished_;
    std::size_t next_ = 0;
};

}  // namespace pgtier
