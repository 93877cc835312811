// pgtier restore list-databases | database | full | latest
#include <unistd.h>
#include <algorithm>
#include <set>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "pgtier/archive/keys.hpp"
#include "pgtier/archive/section_reader.hpp"
#include "pgtier/commands/commands.hpp"
#include "pgtier/commands/json_output.hpp"
#include "pgtier/core/cluster.hpp"
#include "pgtier/core/jobs.hpp"
#include "pgtier/core/naming.hpp"
#include "pgtier/core/pg_version.hpp"
#include "pgtier/core/restore_plan.hpp"
#include "pgtier/core/sql_filter.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/core/time.hpp"
#include "pgtier/pg/restorer.hpp"
#include "pgtier/storage/directory.hpp"
#include "pgtier/storage/local_store.hpp"
#include "pgtier/storage/offsite_sync.hpp"
#include "pgtier/storage/repository.hpp"
#include "pgtier/sys/log.hpp"
#include "pgtier/sys/signals.hpp"

namespace pgtier::commands {

namespace {

struct ResolvedArchive {
    StoredArchive stored;
    std::shared_ptr<const ArchiveSource> file;    // its bytes, as the sidecar hashes them
    std::shared_ptr<const ArchiveSource> source;  // its compressed stream (decrypted)
    Manifest manifest;
    std::optional<BackupType> bucket_tier;  // set when it is read from the bucket
    const std::string& name() const { return stored.name; }
};

// The archives a restore reads: the backup directory's and, with [offsite], the bucket's for
// what the directory lacks (docs/design.md, Offsite copies, "Reads"). The bucket is listed only
// when the directory cannot serve.
class Catalog {
  public:
    Catalog(const Config& config, const Environment& env, const Repository& repo)
        : config_(config),
          env_(env),
          repo_(repo),
          local_(repo.store()),
          keys_(load_archive_keys(config)) {}

    const ArchiveKeys& keys() const { return keys_; }
    // A published archive's compressed stream (decrypted when it is an age file).
    std::shared_ptr<const ArchiveSource> open_stream(BackupType tier, const std::string& name) {
        return pgtier::open_stream(store_of(tier, name)->open(tier, name), keys_);
    }

    // The bucket's store, opened on first use; null without [offsite].
    S3Store* remote() {
        if (!remote_ && config_.offsite.enabled())
            remote_ = open_offsite_store(config_, env_, &stop_requested());
        return remote_.get();
    }
    const std::vector<ArchiveEntry>& remote_entries() {
        if (!remote_entries_)
            remote_entries_ = remote() ? scan_store(*remote()) : std::vector<ArchiveEntry>{};
        return *remote_entries_;
    }
    // The complete remote archive a user named (its file name or latest-<tier>), and its tier.
    std::optional<std::pair<BackupType, StoredArchive>> find_remote(const std::string& name) {
        if (!remote()) return std::nullopt;
        const ArchiveEntry* found = nullptr;
        for (const auto& e : remote_entries()) {
            if (e.state != ArchiveState::complete) continue;
            const bool match = name == e.name ||
                               (name == "latest-" + std::string(to_string(e.tier)) &&
                                (!found || e.manifest->started_at > found->manifest->started_at));
            if (match) found = &e;
        }
        if (!found) return std::nullopt;
        spdlog::info("{} is not in {}: reading it from {}", found->name, repo_.dir().string(),
                     remote()->describe());
        return std::pair{found->tier, stored_archive(remote_, found->tier, found->name)};
    }
    // Every published archive a plan may use: the directory's, then the bucket's that the
    // directory lacks. A bucket that cannot be read leaves the directory's alone, with a
    // warning (or the error, when the directory has nothing).
    std::vector<Manifest> published() {
        std::vector<Manifest> manifests;
        if (local_exists()) {
            manifests = repo_.published_manifests();
        } else if (!config_.offsite.enabled()) {
            throw Error(missing_directory_advice());
        }
        if (!config_.offsite.enabled()) return manifests;
        std::vector<Manifest> remote_only;
        try {
            for (auto& m : pgtier::published_manifests(remote_entries())) {
                const bool local = std::any_of(
                    manifests.begin(), manifests.end(),
                    [&](const Manifest& l) { return l.type == m.type && l.name == m.name; });
                if (!local) {
                    from_remote_.insert(std::string(to_string(m.type)) + "/" + m.name);
                    remote_only.push_back(std::move(m));
                }
            }
        } catch (const Error& err) {
            if (!local_exists()) throw Error(missing_directory_advice() + "; " + err.what());
            if (manifests.empty()) throw;
            spdlog::warn("planning from {} alone: {}", repo_.dir().string(), one_line(err.what()));
        }
        manifests.insert(manifests.end(), remote_only.begin(), remote_only.end());
        std::stable_sort(
            manifests.begin(), manifests.end(),
            [](const Manifest& a, const Manifest& b) { return a.started_at < b.started_at; });
        return manifests;
    }
    // Whether the backup directory exists (a new node's may not yet): without it, plans come
    // from the bucket alone.
    bool local_exists() const { return Directory::open_existing(repo_.dir()).has_value(); }
    // What a node without its backup directory can do (docs/design.md, Restore semantics).
    std::string missing_directory_advice() const {
        std::string text;
        try {
            repo_.require_exists();
        } catch (const Error& err) {
            text = err.what();
        }
        if (text.empty()) text = "backup directory " + repo_.dir().string() + " does not exist";
        return text + ". Nothing to plan from: mount or create it (mkdir -p " +
               repo_.dir().string() +
               ") and put the archives there, or configure [offsite] url = \"s3://BUCKET/PREFIX\" "
               "(with its credentials) to restore from the bucket";
    }
    // Whether published() found this archive in the bucket only.
    bool in_bucket_only(BackupType tier, const std::string& name) const {
        return from_remote_.count(std::string(to_string(tier)) + "/" + name) != 0;
    }
    // The store holding a published archive (after published()).
    std::shared_ptr<const ArchiveStore> store_of(BackupType tier, const std::string& name) {
        if (in_bucket_only(tier, name)) return remote_;
        return local_;
    }
    std::uint64_t bytes_downloaded() const {
        return remote_ ? remote_->client().bytes_downloaded() : 0;
    }
    // Opens a bucket archive through a client of its own: one client serves one transfer at a
    // time, and a parallel restore reads several sections at once.
    std::function<std::shared_ptr<const ArchiveSource>()> own_opener(
        BackupType tier, const std::string& name) const {
        return [this, tier, name] {
            const std::shared_ptr<const ArchiveStore> store =
                open_offsite_store(config_, env_, &stop_requested());
            return pgtier::open_stream(store->open(tier, name), keys_);
        };
    }

  private:
    const Config& config_;
    const Environment& env_;
    const Repository& repo_;
    std::shared_ptr<const ArchiveStore> local_;
    std::shared_ptr<S3Store> remote_;
    std::optional<std::vector<ArchiveEntry>> remote_entries_;
    std::set<std::string> from_remote_;
    ArchiveKeys keys_;
};

// What the user named: a path, a name in a tier folder, or latest-<tier> (in the directory,
// else in the bucket); it must be a pgtier archive with its sidecar and manifest.
ResolvedArchive resolve_archive(const Repository& repo, Catalog& catalog, const std::string& name) {
    const auto path = repo.resolve(name);
    std::optional<std::pair<BackupType, StoredArchive>> remote;
    if (!path) remote = catalog.find_remote(name);
    if (!path && !remote) {
        throw Error("no archive \"" + name + "\" (a path, a file name in " + repo.dir().string() +
                    "/<tier>/, or latest-full / latest-differential / latest-incremental)" +
                    (catalog.remote()
                         ? " in " + repo.dir().string() + " or " + catalog.remote()->describe()
                         : ""));
    }
    ResolvedArchive archive{path ? archive_at_path(*path) : remote->second,
                            nullptr,
                            nullptr,
                            {},
                            remote ? std::optional(remote->first) : std::nullopt};
    const StoredArchive& stored = archive.stored;
    const auto manifest_text = stored.read_beside(manifest_name(stored.name));
    if (!manifest_text) {
        throw Error(stored.location + " has no manifest " + manifest_name(stored.name) +
                    ": not a pgtier archive (a plain SQL archive replays with " +
                    (archive_format(stored.name) == CompressionFormat::zstd ? "zstdcat" : "bzcat") +
                    " | psql)");
    }
    if (!stored.read_beside(sidecar_name(stored.name))) {
        throw Error(stored.location + " has no sidecar " + sidecar_name(stored.name));
    }
    archive.manifest =
        manifest_from_json(*manifest_text, stored.describe_beside(manifest_name(stored.name)));
    // The manifest decides which bytes are read and what is created: it must describe this
    // very file.
    if (archive.manifest.name != stored.name) {
        throw Error(stored.describe_beside(manifest_name(stored.name)) + " describes \"" +
                    printable(archive.manifest.name) + "\", not " + stored.name +
                    ": the manifest does not belong to this archive");
    }
    check_manifest_signature(archive.manifest, catalog.keys(),
                             stored.describe_beside(manifest_name(stored.name)));
    archive.file = stored.open();
    archive.source = open_stream(archive.file, catalog.keys());
    return archive;
}

// Restores hold the repository lock, so that retention cannot delete an archive being read
// and scheduled backups wait. Only where the backup directory cannot be written (a read-only
// mount on the host) does a restore go on without it.
std::unique_ptr<RepositoryLock> lock_for_restore(const Repository& repo) {
    install_signal_handlers();
    if (!Directory::open_existing(repo.dir())) {
        spdlog::warn("restoring without the repository lock: {} does not exist",
                     repo.dir().string());
        return nullptr;
    }
    try {
        repo.ensure_layout();
    } catch (const Error& err) {
        spdlog::warn("restoring without the repository lock: {}", err.what());
        return nullptr;
    }
    if (::access(repo.state_dir().c_str(), W_OK) != 0) {
        spdlog::warn("{} is not writable: restoring without the repository lock",
                     repo.state_dir().string());
        return nullptr;
    }
    return repo.lock(&stop_requested());
}

// The whole file against its sidecar, and the manifest against the file, before anything
// changes (its offsets are what the restore will read).
void check_whole(const ArchiveSource& source, const StoredArchive& stored,
                 const Manifest& manifest) {
    const std::string sidecar = stored.sidecar_sha256();
    check_whole_archive(source, sidecar);
    if (sidecar != manifest.sha256) {
        throw Error(stored.location + ": the manifest does not belong to this archive");
    }
}

std::string database_list(const Manifest& manifest) {
    std::vector<std::string> names;
    for (const auto& s : manifest.sections) {
        if (s.kind == SectionKind::database) names.push_back(*s.database);
    }
    return names.empty() ? "no database" : join_quoted(names);
}

// Role statements for a single-database restore: from the archive's own globals, else from the
// newest archive with globals in the repository that is not newer than it.
std::map<std::string, std::string> roles_for(Catalog& catalog, const ResolvedArchive& archive) {
    // The repository is only read when the archive has no globals of its own.
    // Only the archive's own cluster defines its roles (docs/design.md, Cluster identity).
    const auto choice = choose_globals_source(
        archive.manifest,
        archive.manifest.has_globals()
            ? std::vector<Manifest>{}
            : manifests_of_cluster(catalog.published(), cluster_identity(archive.manifest)));
    std::optional<SectionRef> globals;
    if (choice) {
        if (!choice->own) {
            const StoredArchive other =
                stored_archive(catalog.store_of(choice->source.tier, choice->source.archive),
                               choice->source.tier, choice->source.archive);
            check_manifest_signature(other.manifest(), catalog.keys(),
                                     other.describe_beside(manifest_name(other.name)));
        }
        globals = SectionRef{choice->own
                                 ? archive.source
                                 : catalog.open_stream(choice->source.tier, choice->source.archive),
                             choice->source.section};
    }
    if (!globals) {
        spdlog::warn(
            "no globals section found for {}: missing roles are created without "
            "attributes",
            archive.name());
        return {};
    }
    spdlog::debug("role definitions from {}", globals->archive->describe());
    return role_definitions(Restorer::read_text(*globals));
}

struct ClusterDatabase {
    SectionRef ref;
    // Set for a section in the bucket: opens a source with a client of its own for the worker
    // that replays it (a file is read by every worker at once).
    std::function<std::shared_ptr<const ArchiveSource>()> open_own;
};

struct ClusterSource {
    SectionRef globals;
    std::vector<ClusterDatabase> databases;
};

// The databases of a whole-cluster restore, loaded `jobs` at a time, each through its own psql
// under its own work name (Restorer::restore_database runs in several threads at once), each
// reported as it ends. After the first failure no database starts and those in flight are let
// finish: each is all or nothing, independent of the failed one, and a database completed is one
// less that the operator waits for (SIGTERM stops them all at once).
class ClusterLoad {
  public:
    ClusterLoad(Restorer& restorer, const std::vector<ClusterDatabase>& databases,
                const std::function<void(const std::string&)>& report)
        : restorer_(restorer),
          databases_(databases),
          report_(report),
          outcomes_(databases.size()) {}

    // Loads the databases at these indexes, started in this order, `jobs` at a time. False when
    // one failed or a stop was requested (what was not started then stays so).
    bool run(const std::vector<std::size_t>& order, int jobs) {
        next_ = 0;
        order_ = &order;
        own_sources_ = jobs > 1;
        const auto workers = std::min(static_cast<std::size_t>(jobs), order.size());
        std::size_t active = 0;
        {
            std::vector<std::jthread> threads;  // joined on the way out, also on an exception
            std::unique_lock lock(mutex_, std::defer_lock);
            try {
                for (std::size_t i = 0; i < workers; ++i) {
                    {
                        const std::lock_guard starting(mutex_);
                        ++active;
                    }
                    try {
                        threads.emplace_back([this, &active] {
                            work();
                            const std::lock_guard done(mutex_);
                            --active;
                            ended_changed_.notify_all();
                        });
                    } catch (...) {
                        const std::lock_guard not_started(mutex_);
                        --active;
                        throw;
                    }
                }
                lock.lock();
                for (;;) {
                    ended_changed_.wait(lock, [&] { return !ended_.empty() || active == 0; });
                    while (!ended_.empty()) {
                        const std::size_t index = ended_.front();
                        ended_.pop_front();
                        lock.unlock();
                        announce(index);
                        lock.lock();
                    }
                    if (active == 0) break;
                }
            } catch (...) {
                if (!lock.owns_lock()) lock.lock();
                failed_ = true;  // start nothing more
                throw;
            }
        }
        return !failed_ && !stop_requested().load();
    }

    std::size_t restored() const { return count(State::restored); }
    std::uint64_t bytes() const {
        std::uint64_t total = 0;
        for (const auto& o : outcomes_) total += o.result.bytes;
        return total;
    }

    // What happened to every database, after a failure or a stop.
    std::string failure_summary() const {
        std::string text;
        std::vector<std::string> restored, failed, not_started;
        for (std::size_t i = 0; i < outcomes_.size(); ++i) {
            const std::string& name = *databases_[i].ref.section.database;
            switch (outcomes_[i].state) {
                case State::restored:
                    restored.push_back(name);
                    break;
                case State::failed:
                    failed.push_back(name);
                    text += "database \"" + printable(name) + "\": " + outcomes_[i].error + "\n";
                    break;
                default:
                    not_started.push_back(name);
                    break;
            }
        }
        text += stop_requested().load() ? "The whole-cluster restore was interrupted"
                                        : "The whole-cluster restore stopped";
        text += " with the cluster partly restored. Restored: globals" +
                (restored.empty() ? "" : ", " + join_quoted(restored)) +
                ". Failed: " + (failed.empty() ? "none" : join_quoted(failed)) +
                ". Not started: " + (not_started.empty() ? "none" : join_quoted(not_started)) +
                ". Restore again with --replace once the cause is fixed.";
        return text;
    }

  private:
    enum class State { not_started, running, restored, failed };
    struct Outcome {
        State state = State::not_started;
        std::string error;
        RestoredDatabase result;
    };

    std::size_t count(State state) const {
        return static_cast<std::size_t>(
            std::count_if(outcomes_.begin(), outcomes_.end(),
                          [&](const Outcome& o) { return o.state == state; }));
    }

    void work() {
        for (;;) {
            std::size_t index = 0;
            {
                const std::lock_guard lock(mutex_);
                if (failed_ || stop_requested().load() || next_ == order_->size()) return;
                index = (*order_)[next_++];
                outcomes_[index].state = State::running;
            }
            Outcome outcome;
            try {
                SectionRef ref = databases_[index].ref;
                if (own_sources_ && databases_[index].open_own) {
                    const std::lock_guard lock(open_mutex_);
                    ref.archive = databases_[index].open_own();
                }
                outcome.result = restorer_.restore_database(ref, *ref.section.database, true, {});
                outcome.state = State::restored;
            } catch (const std::exception& err) {
                outcome.state = State::failed;
                outcome.error = err.what();
            }
            {
                const std::lock_guard lock(mutex_);
                if (outcome.state == State::failed) failed_ = true;
                outcomes_[index] = std::move(outcome);
                ended_.push_back(index);
            }
            ended_changed_.notify_all();
        }
    }

    // In the main thread, as each database ends.
    void announce(std::size_t index) {
        std::vector<std::string> running;
        State state;
        std::size_t done = 0;
        {
            const std::lock_guard lock(mutex_);
            state = outcomes_[index].state;
            done = count(State::restored);
            for (std::size_t i = 0; i < outcomes_.size(); ++i) {
                if (outcomes_[i].state == State::running)
                    running.push_back(*databases_[i].ref.section.database);
            }
        }
        const Outcome& o = outcomes_[index];  // no longer written by any thread
        const std::string& name = *databases_[index].ref.section.database;
        if (state == State::restored) {
            char line[200];
            std::snprintf(line, sizeof line, " (%zu of %zu): %s of SQL in %.1f s", done,
                          outcomes_.size(), human_size(o.result.bytes).c_str(), o.result.seconds);
            report_("restored database \"" + printable(name) + "\"" + line);
            return;
        }
        // The whole message ends the command; said now too when others still run (for long).
        if (!running.empty() && !stop_requested().load()) {
            spdlog::error(
                "restoring database \"{}\" failed ({}); no further database starts, waiting for "
                "the {} in flight to finish: {}",
                printable(name), one_line(o.error), running.size(), join_quoted(running));
        }
    }

    Restorer& restorer_;
    const std::vector<ClusterDatabase>& databases_;
    const std::function<void(const std::string&)>& report_;
    std::vector<Outcome> outcomes_;
    const std::vector<std::size_t>* order_ = nullptr;
    bool own_sources_ = false;
    std::mutex mutex_;  // guards what follows, and the state of outcomes_
    std::condition_variable ended_changed_;
    std::size_t next_ = 0;
    std::deque<std::size_t> ended_;  // ended, not yet announced
    bool failed_ = false;
    std::mutex open_mutex_;  // one bucket client opened at a time
};

// Restores globals then every database; refuses before changing anything when a database
// exists (unless replace) — postgres and template1 count only when they have user tables.
// With jobs > 1 the databases are loaded concurrently, the largest first; a postgres or template1
// that is replaced (not loaded in place) is restored alone before them: replacing it renames it,
// which ends every session connected to it, and the other restores connect to postgres (to
// template1 when they restore postgres).
ExitCode restore_cluster(const Repository& repo, Restorer& restorer, const ClusterSource& source,
                         bool replace, int jobs,
                         const std::function<void(const std::string&)>& report) {
    // Every section is checked (its target name, its header against its label) before the
    // first change: a bad one found half-way would leave a partly restored cluster.
    for (const auto& db : source.databases)
        Restorer::check_restorable(db.ref, *db.ref.section.database);
    std::vector<std::string> conflicts;
    std::set<std::string> in_place;  // postgres, template1 when they exist without user tables
    const auto existing = restorer.databases();
    for (const auto& db : source.databases) {
        const std::string& name = *db.ref.section.database;
        if (std::find(existing.begin(), existing.end(), name) == existing.end()) continue;
        if ((name == "postgres" || name == "template1") && !restorer.has_user_tables(name)) {
            in_place.insert(name);
            continue;
        }
        conflicts.push_back(name);
    }
    if (!conflicts.empty() && !replace) {
        throw Error(
            "these databases of the archive exist (postgres and template1 count only "
            "when they have user tables): " +
            join_quoted(conflicts) + "; nothing was changed (use --replace to replace them)");
    }
    // One job: the archive's order, as before parallel restores. Several: the largest first, so
    // that a big database does not start last and run alone.
    std::vector<std::size_t> alone, order;
    for (std::size_t i = 0; i < source.databases.size(); ++i) {
        const std::string& name = *source.databases[i].ref.section.database;
        const bool maintenance = name == "postgres" || name == "template1";
        (jobs > 1 && maintenance && in_place.count(name) == 0 ? alone : order).push_back(i);
    }
    if (jobs > 1) {
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return source.databases[a].ref.section.uncompressed_length >
                   source.databases[b].ref.section.uncompressed_length;
        });
    }
    // Refused here, before the marker, when psql or the globals cannot be trusted.
    restorer.require_restricting_psql();
    const std::string globals =
        Restorer::checked_globals(source.globals, restorer.connected_role());
    const auto started = std::chrono::steady_clock::now();
    // While this file exists the cluster holds part of a restore: the daemon refuses to start
    // its schedule (a backup now would record the partial cluster as the newest state).
    try {
        repo.write_state_file(restoring_marker, "pid " + std::to_string(::getpid()) + ", started " +
                                                    format_utc_iso(now_utc()) + ", globals from " +
                                                    source.globals.archive->describe() + "\n");
    } catch (const Error& err) {
        spdlog::warn("cannot write {}: {}", (repo.state_dir() / restoring_marker).string(),
                     err.what());
    }
    restorer.restore_globals(source.globals, globals);
    spdlog::info("restoring {} databases, {} at a time", source.databases.size(), jobs);
    ClusterLoad load(restorer, source.databases, report);
    if (!load.run(alone, 1) || !load.run(order, jobs)) throw Error(load.failure_summary());
    repo.remove_state_file(restoring_marker);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    char summary[200];
    std::snprintf(summary, sizeof summary,
                  "restored globals and %zu databases: %s of SQL in %.1f s (up to %d at a time)",
                  load.restored(), human_size(load.bytes()).c_str(), seconds, jobs);
    report(summary);
    return ExitCode::ok;
}

// The --jobs of restore full / latest: 0 is the default for this machine.
int restore_jobs(int requested) {
    return requested > 0 ? requested : default_jobs(std::thread::hardware_concurrency());
}

// An archive dumped from a newer major than the target server's is refused (VersionError, before
// anything changes) unless forced, and then it is a warning.
void check_restore_versions(Restorer& restorer, const std::vector<const Manifest*>& archives,
                            bool force_version) {
    const std::string target = restorer.server_version();
    for (const Manifest* m : archives) {
        const std::string name = std::string(to_string(m->type)) + "/" + m->name;
        const auto refusal = restore_version_refusal(name, m->server_version, target);
        if (!refusal) continue;
        if (!force_version) throw VersionError(*refusal);
        spdlog::warn("--force-version: restoring {} (dumped from PostgreSQL {}) into PostgreSQL {}",
                     name, version_number(m->server_version), version_number(target));
    }
}

// The plan of `restore latest` over one cluster's archives, and the lines it prints: which
// cluster (and the others found), the plan, where each archive is read from and what is
// downloaded (docs/design.md, Restore semantics).
struct LatestPlan {
    ClusterChoice choice;
    RestorePlan plan;
    std::vector<std::string> lines;
    std::size_t note_lines = 0;  // the first lines: notes and the cluster choice (for --json)
    PlanReads reads;
};

// --at TIME: an operator's time (core/time.hpp, parse_operator_time).
std::optional<TimePoint> parse_at(const std::optional<std::string>& at) {
    if (!at) return std::nullopt;
    const auto parsed = parse_operator_time(*at);
    if (!parsed) {
        throw UsageError("--at '" + *at +
                         "' is not a time: write 2026-12-04T10:00:00Z, 2026-12-04 10:00 (UTC, "
                         "like every time pgtier prints) or 2026-12-04T11:00+01:00");
    }
    return parsed;
}

LatestPlan plan_latest(const Repository& repo, Catalog& catalog,
                       const std::optional<std::string>& cluster,
                       std::optional<TimePoint> at = std::nullopt) {
    LatestPlan latest;
    if (!catalog.local_exists()) {
        latest.lines.push_back("note: backup directory " + repo.dir().string() +
                               " does not exist: planning from " +
                               (catalog.remote() ? catalog.remote()->describe() : "the bucket") +
                               " alone (create the directory for the repository lock and the "
                               "backups this node takes next)");
    }
    const auto all = catalog.published();
    // With --at, the cluster is chosen among the archives of then, and the plan counts the
    // chosen cluster's later ones as left out.
    latest.choice = choose_cluster(at ? archives_at_or_before(all, *at) : all, cluster);
    for (auto& line : describe_cluster_choice(latest.choice)) latest.lines.push_back(line);
    latest.note_lines = latest.lines.size();
    latest.plan = plan_latest_restore(
        at ? manifests_of_cluster(all, latest.choice.identity) : latest.choice.manifests, at);
    for (auto& line : describe_plan(latest.plan)) latest.lines.push_back(line);
    const auto reads = plan_reads(latest.plan, latest.choice.manifests,
                                  [&](BackupType tier, const std::string& name) {
                                      return catalog.in_bucket_only(tier, name);
                                  });
    for (auto& line : describe_reads(reads, repo.dir().string(),
                                     catalog.remote() ? catalog.remote()->describe() : "-"))
        latest.lines.push_back(line);
    latest.reads = reads;
    return latest;
}

}  // namespace

std::optional<InterruptedRestore> interrupted_restore(const Repository& repo) {
    auto content = repo.read_state_file(restoring_marker);
    if (!content) return std::nullopt;
    while (!content->empty() && content->back() == '\n') content->pop_back();
    return InterruptedRestore{repo.state_dir() / restoring_marker, std::move(*content)};
}

std::string InterruptedRestore::refusal(const std::string& doing) const {
    return "a whole-cluster restore was interrupted (" + marker.string() + ": " + content +
           "); not " + doing +
           ". Finish it with `pgtier restore latest --replace` (or remove that file once the "
           "cluster is as it should be)";
}

ExitCode restore_list_databases(const Config& config, const Environment& env,
                                const std::string& archive_name, OutputFormat format) {
    const Repository repo(config.storage.dir);
    Catalog catalog(config, env, repo);
    const auto archive = resolve_archive(repo, catalog, archive_name);
    const auto& m = archive.manifest;
    if (format == OutputFormat::json) {
        Json out = json_document("restore list-databases", true);
        out["archive"] = archive_json(m);
        out["databases"] = Json::array();
        for (const auto& s : m.sections) {
            if (s.kind != SectionKind::database) continue;
            out["databases"].push_back({{"database", *s.database},
                                        {"sql_bytes", s.uncompressed_length},
                                        {"compressed_bytes", s.length}});
        }
        print_json(out);
        return ExitCode::ok;
    }
    std::printf("%s (%s, %s)\n", archive.name().c_str(), std::string(to_string(m.type)).c_str(),
                format_utc_seconds(m.started_at).c_str());
    std::printf("%-32s %12s %12s\n", "DATABASE", "SQL", "COMPRESSED");
    for (const auto& s : m.sections) {
        const std::string name =
            s.kind == SectionKind::globals ? "(globals)" : printable(*s.database);
        std::printf("%-32s %12s %12s\n", name.c_str(), human_size(s.uncompressed_length).c_str(),
                    human_size(s.length).c_str());
    }
    return ExitCode::ok;
}

ExitCode restore_database(const Config& config, const Environment& env,
                          const std::string& archive_name, const std::string& database,
                          const std::optional<std::string>& as, bool replace, bool force_version,
                          const std::optional<std::string>& at) {
    // A bad target is a usage error, refused before any work (a name PostgreSQL cannot hold
    // would fail only at the final rename, after the whole section was loaded).
    try {
        check_database_name(as.value_or(database));
    } catch (const BadDatabaseName& bad) {
        std::fprintf(stderr, "pgtier: cannot restore into \"%s\": %s\n",
                     printable(as.value_or(database)).c_str(), bad.what());
        return ExitCode::usage;
    }
    const Repository repo(config.storage.dir);
    const auto cutoff = parse_at(at);
    const auto lock = lock_for_restore(repo);
    Catalog catalog(config, env, repo);
    std::string chosen = archive_name;
    if (cutoff) {
        const auto all = catalog.published();
        const auto choice = choose_cluster(archives_at_or_before(all, *cutoff), std::nullopt);
        const auto source =
            choose_database_at(manifests_of_cluster(all, choice.identity), database, *cutoff);
        std::printf("as of %s: database \"%s\" from %s/%s\n", describe_time(*cutoff).c_str(),
                    printable(database).c_str(), std::string(to_string(source.tier)).c_str(),
                    source.archive.c_str());
        chosen = source.archive;
    }
    const auto archive = resolve_archive(repo, catalog, chosen);
    const SectionEntry* section = archive.manifest.find_database(database);
    if (section == nullptr) {
        throw Error("database \"" + database + "\" is not in " + archive.name() +
                    "; it holds: " + database_list(archive.manifest));
    }
    const SectionRef ref{archive.source, *section};
    check_section(*ref.archive, ref.section);  // before anything changes
    const auto roles = roles_for(catalog, archive);
    WorkerPool decode_pool(config.compression.threads);
    Restorer restorer(resolve_connection(config, env), stop_requested(), &decode_pool);
    check_restore_versions(restorer, {&archive.manifest}, force_version);
    restorer.drop_stale_work_databases();
    const std::string target = as.value_or(database);
    const auto result = restorer.restore_database(ref, target, replace, roles);
    std::printf("restored database \"%s\"%s from %s: %s of SQL in %.1f s, %s on the server\n",
                target.c_str(), as ? (" (from \"" + database + "\")").c_str() : "",
                archive.name().c_str(), human_size(result.bytes).c_str(), result.seconds,
                human_size(result.size_on_server).c_str());
    if (const std::uint64_t read = catalog.bytes_downloaded(); read > 0) {
        // Ranged reads: the section twice (checked before any change, then replayed); the
        // rest is manifests, sidecars and the globals the roles come from.
        const std::uint64_t section_bytes = 2 * section->length;
        std::printf(
            "read %llu bytes from %s: the section (%s) twice, to check it and to replay "
            "it, and %s of manifests, sidecars and role definitions; the archive is %s\n",
            static_cast<unsigned long long>(read), catalog.remote()->describe().c_str(),
            human_size(section->length).c_str(),
            human_size(read > section_bytes ? read - section_bytes : 0).c_str(),
            human_size(archive.manifest.compressed_size).c_str());
    }
    return ExitCode::ok;
}

ExitCode restore_full(const Config& config, const Environment& env, const std::string& archive_name,
                      bool replace, bool force_version, int jobs) {
    const Repository repo(config.storage.dir);
    const auto lock = lock_for_restore(repo);
    Catalog catalog(config, env, repo);
    const auto archive = resolve_archive(repo, catalog, archive_name);
    if (archive.manifest.type == BackupType::incremental) {
        throw Error(archive.name() +
                    " is an incremental (only the databases that changed); restore it with "
                    "`restore database` or use `restore latest`");
    }
    check_whole(*archive.file, archive.stored, archive.manifest);
    ClusterSource source;
    for (const auto& s : archive.manifest.sections) {
        if (s.kind == SectionKind::globals) {
            source.globals = {archive.source, s};
        } else {
            ClusterDatabase db{{archive.source, s}, nullptr};
            if (archive.bucket_tier)
                db.open_own = catalog.own_opener(*archive.bucket_tier, archive.name());
            source.databases.push_back(std::move(db));
        }
    }
    WorkerPool decode_pool(config.compression.threads);
    Restorer restorer(resolve_connection(config, env), stop_requested(), &decode_pool);
    check_restore_versions(restorer, {&archive.manifest}, force_version);
    restorer.drop_stale_work_databases();
    return restore_cluster(repo, restorer, source, replace, restore_jobs(jobs), print_line);
}

ExitCode restore_latest(const Config& config, const Environment& env, bool if_empty, bool replace,
                        bool dry_run, const std::function<void(const std::string&)>& report,
                        bool force_version, int jobs, const std::optional<std::string>& cluster,
                        const std::optional<std::string>& at) {
    const auto cutoff = parse_at(at);
    const Repository repo(config.storage.dir);
    Catalog catalog(config, env, repo);
    if (dry_run) {
        const auto latest = plan_latest(repo, catalog, cluster, cutoff);
        for (const auto& line : latest.lines) report(line);
        return ExitCode::ok;
    }
    const auto lock = lock_for_restore(repo);
    WorkerPool decode_pool(config.compression.threads);
    Restorer restorer(resolve_connection(config, env), stop_requested(), &decode_pool);
    restorer.drop_stale_work_databases();
    // --if-empty looks at the cluster first: on a cluster in use it does nothing, whatever
    // state the backup directory is in (it is what the daemon runs at every start).
    if (if_empty) {
        if (const auto check = restorer.cluster_is_empty(); !check.empty) {
            report("not restoring (--if-empty): " + check.why);
            return ExitCode::ok;
        }
    }
    const auto all = catalog.published();
    const bool have_base = std::any_of(all.begin(), all.end(), [](const Manifest& m) {
        return m.type != BackupType::incremental;
    });
    if (!have_base && if_empty) {
        // The daemon's first start with auto_restore: nothing to restore is not an error.
        report("not restoring (--if-empty): no full or differential archive in " +
               repo.dir().string() +
               (catalog.remote() ? " or " + catalog.remote()->describe() : "") + " yet");
        return ExitCode::ok;
    }
    const auto latest = plan_latest(repo, catalog, cluster, cutoff);
    for (const auto& line : latest.lines) report(line);
    const auto& plan = latest.plan;
    const auto& published = latest.choice.manifests;
    {
        std::set<std::string> used{plan.base, plan.globals.archive};
        for (const auto& db : plan.databases) used.insert(db.source.archive);
        std::vector<const Manifest*> archives;
        for (const auto& m : published) {
            if (used.count(m.name) == 0) continue;
            check_manifest_signature(
                m, catalog.keys(),
                catalog.store_of(m.type, m.name)->describe(m.type, manifest_name(m.name)));
            archives.push_back(&m);
        }
        check_restore_versions(restorer, archives, force_version);
    }
    std::set<std::string> from_bucket;
    for (const auto& db : plan.databases) {
        if (catalog.in_bucket_only(db.source.tier, db.source.archive))
            from_bucket.insert(db.source.archive);
    }
    if (catalog.in_bucket_only(plan.base_tier, plan.base)) from_bucket.insert(plan.base);
    if (!from_bucket.empty()) {
        report(std::to_string(from_bucket.size()) + " archive(s) of the plan are not in " +
               repo.dir().string() + ": reading them from " + catalog.remote()->describe());
    }

    // Everything that will be read is checked before anything changes: the base against its
    // sidecar, each section from a newer archive against its manifest.
    std::map<std::string, std::shared_ptr<const ArchiveSource>> opened;
    auto source_of = [&](const SectionSource& s) {
        auto& archive = opened[s.archive];
        if (!archive) archive = catalog.open_stream(s.tier, s.archive);
        return archive;
    };
    const StoredArchive base =
        stored_archive(catalog.store_of(plan.base_tier, plan.base), plan.base_tier, plan.base);
    check_whole(*base.open(), base, base.manifest());
    ClusterSource source;
    source.globals = {source_of(plan.globals), plan.globals.section};
    if (plan.globals.archive != plan.base)
        check_section(*source.globals.archive, plan.globals.section);
    for (const auto& db : plan.databases) {
        SectionRef ref{source_of(db.source), db.source.section};
        if (db.source.archive != plan.base) check_section(*ref.archive, ref.section);
        ClusterDatabase entry{ref, nullptr};
        if (catalog.in_bucket_only(db.source.tier, db.source.archive))
            entry.open_own = catalog.own_opener(db.source.tier, db.source.archive);
        source.databases.push_back(std::move(entry));
    }
    return restore_cluster(repo, restorer, source, replace, restore_jobs(jobs), report);
}

ExitCode restore_plan_json(const Config& config, const Environment& env,
                           const std::optional<std::string>& cluster,
                           const std::optional<std::string>& at) {
    const auto cutoff = parse_at(at);
    const Repository repo(config.storage.dir);
    Catalog catalog(config, env, repo);
    const auto latest = plan_latest(repo, catalog, cluster, cutoff);
    const std::vector<std::string> notes(
        latest.lines.begin(),
        latest.lines.begin() + static_cast<std::ptrdiff_t>(latest.note_lines));
    Json out = plan_json(latest.plan, latest.reads, notes);
    out["cluster"] = latest.choice.identity.empty() ? Json(nullptr) : Json(latest.choice.identity);
    out["local"] = repo.dir().string();
    out["bucket"] = catalog.remote() ? Json(catalog.remote()->describe()) : Json(nullptr);
    out["as_of"] = latest.plan.as_of ? Json(format_utc_iso(*latest.plan.as_of)) : Json(nullptr);
    out["left_out_after"] = latest.plan.left_out_after;
    print_json(out);
    return ExitCode::ok;
}

}  // namespace pgtier::commands
