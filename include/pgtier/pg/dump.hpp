#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "pgtier/archive/compressor.hpp"
#include "pgtier/core/backup_type.hpp"
#include "pgtier/core/errors.hpp"
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

// Thrown by a dump stopped through DumpControl::abort (another dump of the run failed).
class DumpAborted : public Error {
  public:
    using Error::Error;
};

// What a caller running several dumps at once gives each one.
struct DumpControl {
    // Once set: the child is killed and dump() throws DumpAborted (within 0.2 s).
    const std::atomic<bool>* abort = nullptr;
    // When given: the bytes read so far are kept here, and dump() logs no progress lines of its
    // own (the caller logs one line for all its dumps).
    std::atomic<std::uint64_t>* bytes = nullptr;
};

// Runs pg_dumpall --globals-only / pg_dump --create for each section, streaming their output
// into `writer` (one section each). The password reaches the children only through an
// inherited, unnamed PGPASSFILE (see ClientEnvironment). Throws Error when a child fails, ends
// without its "dump complete" trailer, or `stop` is set; except that a database dropped after
// it was listed (pg_dump failed before any output and the database is gone) is
// DumpOutcome::dropped. dump() may run in several threads at once (one Dumper, one writer each).
class Dumper {
  public:
    Dumper(const ConnectionSettings& settings, const std::atomic<bool>& stop);
    Dumper(const Dumper&) = delete;
    Dumper& operator=(const Dumper&) = delete;

    DumpOutcome dump(const DumpSection& section, ArchiveWriter& writer,
                     const DumpControl& control = {});

    // "pg_dump (PostgreSQL) 15.18 …"
    std::string pg_dump_version() const;

  private:
    // Whether the server still has a database of that name; true when it cannot tell.
    bool still_exists(const std::string& database) const;

    ClientEnvironment client_;
    const std::atomic<bool>& stop_;
};

}  // namespace pgtier
