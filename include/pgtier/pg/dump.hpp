#pragma once
#include <atomic>
#include <string>
#include <vector>

#include "pgtier/archive/compressor.hpp"
#include "pgtier/core/backup_type.hpp"
#include "pgtier/core/sql_filter.hpp"  // has_dump_trailer
#include "pgtier/pg/pg_client.hpp"
#include "pgtier/sys/config.hpp"

namespace pgtier {

struct DumpSection {
    SectionKind kind = SectionKind::database;
    std::string database;  // empty for globals
};

enum class DumpOutcome {
    dumped,   // one section written
    dropped,  // the database no longer exists and pg_dump wrote nothing: no section
};

// Runs pg_dumpall --globals-only / pg_dump --create for each section, in order, streaming
// their output into `writer` (one section each). The password reaches the children only
// through an inherited, unnamed PGPASSFILE (see ClientEnvironment). Throws Error when a child
// fails, ends without its "dump complete" trailer, or `stop` is set; except that a database dropped
// after it was listed (pg_dump failed before any output and the database is gone) is
// DumpOutcome::dropped.
class Dumper {
  public:
    Dumper(const ConnectionSettings& settings, const std::atomic<bool>& stop);
    Dumper(const Dumper&) = delete;
    Dumper& operator=(const Dumper&) = delete;

    DumpOutcome dump(const DumpSection& section, ArchiveWriter& writer);

    // "pg_dump (PostgreSQL) 15.18 …"
    std::string pg_dump_version() const;

  private:
    // Whether the server still has a database of that name; true when it cannot tell.
    bool still_exists(const std::string& database) const;

    ClientEnvironment client_;
    const std::atomic<bool>& stop_;
};

}  // namespace pgtier
