#include "pgtier/pg/dump.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/sql_filter.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/pg/database.hpp"
#include "pgtier/pg/queries.hpp"
#include "pgtier/pg/stall_watch.hpp"
#include "pgtier/sys/log.hpp"
#include "pgtier/sys/process.hpp"

namespace pgtier {

namespace {

constexpr std::size_t read_size = 256 * 1024;
constexpr std::size_t tail_keep = 1024;

// The application name of one dump's session, unique in the cluster: what StallWatch asks
// the server about.
std::string dump_application_name() {
    static std::atomic<int> counter{0};
    return "pgtier-dump-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

}  // namespace

Dumper::Dumper(const ConnectionSettings& settings, const std::atomic<bool>& stop)
    : client_(settings), stop_(stop) {}

std::string Dumper::pg_dump_version() const {
    std::string version = run_and_capture({{"pg_dump", "--version"}, client_.env()});
    while (!version.empty() && version.back() == '\n') version.pop_back();
    return version;
}

bool Dumper::still_exists(const std::string& database) const {
    for (const char* maintenance : {"postgres", "template1"}) {
        if (database == maintenance) continue;
        try {
            Connection conn(client_.settings(), maintenance);
            return queries::database_exists(conn, database);
        } catch (const Error& err) {
            spdlog::debug("cannot check whether database {} exists: {}", database, err.what());
        }
    }
    return true;
}

DumpOutcome Dumper::dump(const DumpSection& section, ArchiveWriter& writer,
                         const DumpControl& control) {
    std::vector<std::string> argv;
    std::string preamble;
    const std::string label =
        section.kind == SectionKind::globals ? "globals" : "database " + section.database;
    if (section.kind == SectionKind::globals) {
        argv = {"pg_dumpall", "--globals-only"};
        for (auto& a : client_.connection_args()) argv.push_back(a);
    } else {
        argv = {"pg_dump"};
        for (auto& a : client_.connection_args()) argv.push_back(a);
        // As pg_dumpall does: template1 and postgres exist in any cluster, so their contents
        // are restored into them; every other database is created.
        if (section.database == "template1" || section.database == "postgres") {
            preamble = "\\connect " + section.database + "\n\n";
        } else {
            argv.push_back("--create");
        }
        argv.push_back("--dbname=" + dbname_conninfo(section.database));
    }

    // The section starts with the child's first output: a database dropped since it was listed
    // makes pg_dump fail before writing anything, and then it leaves no section behind.
    bool begun = false;
    auto begin = [&] {
        if (begun) return;
        writer.begin_section();
        writer.write(preamble.data(), preamble.size());
        begun = true;
    };
    // The globals are small and get one line rewritten, so they are held until complete.
    std::string globals;
    const bool hold = section.kind == SectionKind::globals;
    ChildSpec spec{argv, client_.env(), false, client_.inherit_fds()};
    const std::string application_name = dump_application_name();
    spec.env.push_back("PGAPPNAME=" + application_name);
    Child child(spec);
    std::vector<char> buffer(read_size);
    std::string tail;
    std::uint64_t bytes = 0;
    std::atomic<std::uint64_t> produced{0};
    const StallWatch stall(client_.settings(),
                           section.kind == SectionKind::globals ? "postgres" : section.database,
                           application_name, "dumping " + label, produced);
    ProgressLog progress;
    for (;;) {
        if (stop_.load()) {
            child.kill_now();
            throw Error("interrupted while dumping " + label);
        }
        if (control.abort != nullptr && control.abort->load()) {
            child.kill_now();
            throw DumpAborted("stopped dumping " + label + ": another dump of this run failed");
        }
        const long n = child.read_stdout(buffer.data(), buffer.size(), 200);
        if (n == 0) break;
        if (n < 0) continue;
        const auto size = static_cast<std::size_t>(n);
        if (hold) {
            globals.append(buffer.data(), size);
        } else {
            begin();
            writer.write(buffer.data(), size);
        }
        bytes += size;
        produced.store(bytes);
        tail.append(buffer.data(), size);
        if (tail.size() > 2 * tail_keep) tail.erase(0, tail.size() - tail_keep);
        if (control.bytes != nullptr) {
            control.bytes->store(bytes);
        } else if (const auto seconds = progress.due(); seconds && !stall.waiting()) {
            spdlog::info("dumping {}: {:.1f} MiB so far, {:.1f} MiB/s", label, bytes / 1048576.0,
                         bytes / 1048576.0 / *seconds);
        }
    }
    const int status = child.wait();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (section.kind == SectionKind::database && !begun && !still_exists(section.database)) {
            spdlog::warn("database {} was dropped after it was listed: it is not in this archive",
                         section.database);
            return DumpOutcome::dropped;
        }
        throw Error(argv[0] + " failed for " + label + " (" + describe_wait_status(status) +
                    "): " + message_excerpt(child.stderr_text(), TextEnd::head, 2000));
    }
    if (!has_dump_trailer(tail)) {
        throw Error(argv[0] + " output for " + label +
                    " ended without its \"dump complete\" trailer (the dump was cut short)");
    }
    begin();
    if (hold) {
        globals = make_roles_idempotent(globals, client_.settings().user);
        writer.write(globals.data(), globals.size());
    }
    writer.end_section();
    spdlog::debug("dumped {}: {} bytes", label, bytes);
    return DumpOutcome::dumped;
}

}  // namespace pgtier
