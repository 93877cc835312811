#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pgtier/archive/compressor.hpp"
#include "pgtier/pg/dump.hpp"
#include "pgtier/storage/repository.hpp"
#include "pgtier/sys/config.hpp"

// How a backup run (backup_run.cpp) dumps its sections into the archive: one after the other
// straight into it, or several at once through spool files.
namespace pgtier::commands {

struct SectionsDumped {
    std::vector<DumpSection> sections;  // those dumped, in archive order
    std::vector<std::string> dropped;   // databases dropped during the run, in archive order
    CompressedTotals totals;            // of the archive file; one entry per dumped section
};

struct SectionDumpJob {
    const Config& config;
    const Repository& repo;
    Dumper& dumper;
    BackupType type;
    std::string archive;                         // its name, for the spool names
    ArchiveOutput& output;                       // into the .partial file; finished here
    std::vector<DumpSection> sections;           // in archive order (pg_dumpall's)
    std::map<std::string, std::uint64_t> sizes;  // database sizes on the server, may be empty
    int jobs = 1;                                // dumps at once
};

// Dumps the sections into the archive. With one job (or one section): each streamed straight
// into it, as ever. With more: up to `jobs` pg_dump children at once (the globals, then the
// databases largest first), each section compressed into its own spool file in the tier folder
// (Repository::create_spool) and appended to the archive in archive order as soon as every
// section before it is, then deleted. Either way the archive's bytes and sections are the same.
// The first failure (or a stop request) stops the other dumps at once, kills their children and
// removes the spools, then is thrown.
SectionsDumped dump_sections(const SectionDumpJob& job);

}  // namespace pgtier::commands
