// pgtier daemon: the long-running scheduler (docs/design.md, Daemon).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <sys/stat.h>
#include <unistd.h>

#include "pgtier/archive/keys.hpp"
#include "pgtier/commands/commands.hpp"
#include "pgtier/commands/metrics_server.hpp"
#include "pgtier/core/notify.hpp"
#include "pgtier/core/scheduler.hpp"
#include "pgtier/pg/database.hpp"
#include "pgtier/pg/restorer.hpp"
#include "pgtier/storage/offsite_sync.hpp"
#include "pgtier/storage/run_status.hpp"
#include "pgtier/sys/log.hpp"
#include "pgtier/sys/notifier.hpp"
#include "pgtier/sys/signals.hpp"

namespace pgtier::commands {

namespace {

using namespace std::chrono_literals;

// Writes .pgtier/heartbeat.json every 10 s from its own thread (health --live reads it), so it
// stays fresh during a long dump or a wait for the lock. While the main loop only waits (for
// the next fire time), it must also tick: a wait that stops ticking for a minute means a hung
// loop, and the heartbeat stops with it. Removed when the daemon exits.
class HeartbeatWriter {
  public:
    explicit HeartbeatWriter(fs::path dir)
        : dir_(std::move(dir)), since_(now_utc()), thread_([this] { run(); }) {}
    ~HeartbeatWriter() {
        {
            std::lock_guard<std::mutex> guard(mutex_);
            quit_ = true;
        }
        wake_up_.notify_all();
        thread_.join();
        remove_heartbeat(Repository(dir_));
    }
    HeartbeatWriter(const HeartbeatWriter&) = delete;
    HeartbeatWriter& operator=(const HeartbeatWriter&) = delete;

    // What the daemon does now; `ticking`: it only waits, calling tick() as it does.
    void set_activity(std::string activity, bool ticking = false) {
        {
            std::lock_guard<std::mutex> guard(mutex_);
            activity_ = std::move(activity);
            since_ = now_utc();
            ticking_ = ticking;
            last_tick_ = since_;
            changed_ = true;
        }
        wake_up_.notify_all();
    }
    void tick() {
        std::lock_guard<std::mutex> guard(mutex_);
        last_tick_ = now_utc();
    }

  private:
    void run() {
        std::unique_lock<std::mutex> lock(mutex_);
        bool warned = false;
        while (!quit_) {
            const TimePoint now = now_utc();
            const bool hung = ticking_ && now - last_tick_ > 60s;
            const Heartbeat beat{static_cast<long>(::getpid()), now, activity_, since_};
            lock.unlock();
            try {
                if (hung) throw Error("the daemon's loop has not ticked for a minute");
                write_heartbeat(Repository(dir_), beat);
                warned = false;
            } catch (const std::exception& err) {
                if (!warned) spdlog::error("heartbeat not written: {}", one_line(err.what()));
                warned = true;
            }
            lock.lock();
            wake_up_.wait_for(lock, 10s, [this] { return quit_ || changed_; });
            changed_ = false;
        }
    }

    const fs::path dir_;
    std::mutex mutex_;
    std::condition_variable wake_up_;
    std::string activity_ = "starting";
    TimePoint since_, last_tick_{};
    bool ticking_ = false, changed_ = false, quit_ = false;
    std::thread thread_;  // last: started once everything above is ready
};

// Sleeps until `until` in short steps, ticking the heartbeat; returns early (false) on
// SIGTERM/SIGINT or SIGHUP.
bool sleep_until(TimePoint until, HeartbeatWriter& heartbeat) {
    while (now_utc() < until) {
        heartbeat.tick();
        if (stop_requested().load() || reload_requested().load()) return false;
        const auto left = until - now_utc();
        std::this_thread::sleep_for(std::min<std::chrono::microseconds>(
            std::chrono::duration_cast<std::chrono::microseconds>(left), 200ms));
    }
    return true;
}

// The modification times of the tier folders, as one text: publishing an archive (a one-shot
// `pgtier backup` beside the daemon, a fetch) or deleting one changes its folder's. A folder
// that cannot be read counts as "-" (the sync says why).
std::string tier_folders_stamp(const fs::path& dir) {
    std::string stamp;
    for (auto tier : {BackupType::full, BackupType::differential, BackupType::incremental}) {
        struct stat st = {};
        if (::lstat((dir / std::string(to_string(tier))).c_str(), &st) == 0) {
            stamp += std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
        } else {
            stamp += "-";
        }
        stamp += " ";
    }
    return stamp;
}

// The daemon's webhook events ([notify]), from the main thread (runs) and the uploader's (the
// offsite alarm). The target follows reloads; the offsite alarm is raised once per problem and
// lowered by a recovery (core/notify's offsite_event).
class Webhooks {
  public:
    explicit Webhooks(NotifyTarget target) : target_(std::move(target)) {}

    void set_target(NotifyTarget target) {
        std::lock_guard<std::mutex> guard(mutex_);
        target_ = std::move(target);
    }
    bool enabled() {
        std::lock_guard<std::mutex> guard(mutex_);
        return target_.enabled();
    }
    // At exit: what is still queued gets up to `limit` (then abandoned, logged).
    void drain(std::chrono::milliseconds limit) { notifier_.wait_idle(limit); }
    void send(const Notification& event) {
        std::lock_guard<std::mutex> guard(mutex_);
        notifier_.send(target_, event);
    }
    // After an offsite pass: is there a problem that makes health fail, and is it news?
    void check_offsite(const Config& config) {
        if (!enabled()) return;
        try {
            const Repository repo(config.storage.dir);
            const auto problem = offsite_health_problem(config, repo, now_utc());
            std::optional<NotifyEvent> event;
            {
                std::lock_guard<std::mutex> guard(mutex_);
                event = offsite_event(offsite_raised_, problem.has_value());
            }
            if (event) send(offsite_notification(config, repo, *event, problem));
        } catch (const std::exception& err) {
            spdlog::warn("notify: cannot judge the offsite copies: {}", one_line(err.what()));
        }
    }

  private:
    std::mutex mutex_;
    NotifyTarget target_;
    bool offsite_raised_ = false;
    Notifier notifier_;
};

// How often the uploader looks at the tier folders' modification times (three stat calls).
constexpr auto folder_poll_interval = 2s;

// Uploads to the bucket in the background (docs/design.md, Offsite copies), so that backups
// never wait for the network: a sync at start, after every backup and every hour, retried with
// back-off (5 s doubling to 5 min) while something stays pending or a sync fails. Between
// passes it polls the tier folders' modification times every 2 s, and a change (an archive a
// one-shot backup published, whose own upload may have failed) starts a pass at once. Pending
// uploads are derived from the listings at each pass: nothing is queued in memory.
class OffsiteUploader {
  public:
    OffsiteUploader(Config config, Environment env, Webhooks& webhooks)
        : config_(std::move(config)),
          env_(std::move(env)),
          webhooks_(webhooks),
          thread_([this] { run(); }) {}
    ~OffsiteUploader() {
        {
            std::lock_guard<std::mutex> guard(mutex_);
            quit_ = true;
        }
        cancel_ = true;  // ends a transfer in progress
        wake_up_.notify_all();
        thread_.join();
    }
    OffsiteUploader(const OffsiteUploader&) = delete;
    OffsiteUploader& operator=(const OffsiteUploader&) = delete;

    // A new archive was published.
    void wake() {
        {
            std::lock_guard<std::mutex> guard(mutex_);
            woken_ = true;
        }
        wake_up_.notify_all();
    }

  private:
    void run() {
        std::chrono::seconds delay = 0s;
        int failures = 0;
        std::string stamp;
        for (;;) {
            if (!wait(delay, stamp)) return;
            bool done = false;
            stamp = tier_folders_stamp(config_.storage.dir);  // a change from here on is seen
            try {
                const Repository repo(config_.storage.dir);
                const auto store = open_offsite_store(config_, env_, &cancel_);
                const auto result = sync_offsite(config_, repo, *store, now_utc(), cancel_);
                done = result.ok();
                if (!result.error.empty() && !cancel_.load()) {
                    spdlog::warn("offsite: {}; {} archive(s) pending, retrying{}", result.error,
                                 result.pending.size(),
                                 result.error_class == OffsiteErrorClass::permanent
                                     ? permanent_error_note(result.fix)
                                     : "");
                }
            } catch (const std::exception& err) {
                spdlog::warn("offsite: {}; retrying", one_line(err.what()));
            }
            if (!cancel_.load()) webhooks_.check_offsite(config_);
            failures = done ? 0 : std::min(failures + 1, 7);
            delay = done ? 3600s : std::chrono::seconds(5 << (failures - 1));  // 5 s .. 320 s
        }
    }

    // Waits up to `delay` for a wake(), or for the tier folders to change from `stamp`. False
    // when the uploader is to quit.
    bool wait(std::chrono::seconds delay, const std::string& stamp) {
        const auto until = std::chrono::steady_clock::now() + delay;
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            const auto step =
                std::min(until, std::chrono::steady_clock::now() + folder_poll_interval);
            if (wake_up_.wait_until(lock, step, [this] { return quit_ || woken_; })) break;
            if (std::chrono::steady_clock::now() >= until) break;
            lock.unlock();
            const bool changed = tier_folders_stamp(config_.storage.dir) != stamp;
            lock.lock();
            if (changed) {
                spdlog::info(
                    "offsite: the backup directory changed (an archive published or "
                    "deleted): syncing");
                break;
            }
        }
        if (quit_) return false;
        woken_ = false;
        return true;
    }

    const Config config_;
    const Environment env_;
    Webhooks& webhooks_;
    std::mutex mutex_;
    std::condition_variable wake_up_;
    bool quit_ = false;
    bool woken_ = false;
    std::atomic<bool> cancel_{false};
    std::thread thread_;  // last: started once everything above is ready
};

// A failed run waiting for its retry (core/scheduler's retry_time).
struct PendingRetry {
    int failures = 0;  // consecutive failed runs of the tier so far; the retry is number N
    TimePoint at{};
};

struct DaemonState {
    Config config;
    TierSchedules schedules;
    const ConfigOverrides& overrides;
    const Environment& env;
    HeartbeatWriter& heartbeat;
    Webhooks& webhooks;
    std::unique_ptr<MetricsServer> metrics_server;
    std::unique_ptr<OffsiteUploader> uploader;
    std::map<BackupType, PendingRetry> retries;

    // The uploader follows the configuration: started, restarted after a reload, or stopped.
    void restart_uploader() {
        uploader.reset();
        if (config.offsite.enabled())
            uploader = std::make_unique<OffsiteUploader>(config, env, webhooks);
    }

    // The HTTP endpoint follows the configuration too (a reload rebinds it). A failure at
    // start stops the daemon; after a reload it is logged and the endpoint stays off.
    void restart_metrics_server() {
        metrics_server.reset();
        if (!config.daemon.metrics_listen.empty())
            metrics_server = std::make_unique<MetricsServer>(config);
    }

    // SIGHUP: the new configuration replaces the old one only when it loads completely.
    void reload_if_requested() {
        if (!reload_requested().exchange(false)) return;
        try {
            Config fresh = load_config(overrides, env);
            const auto fresh_schedules = parse_schedules(fresh.schedule, fresh.source);
            auto fresh_target = notify_target(fresh);
            apply_timezone(fresh, env);
            config = std::move(fresh);
            schedules = fresh_schedules;
            webhooks.set_target(std::move(fresh_target));
            init_logging(config.daemon.log_level, LogTarget::standard_output);
            spdlog::info("SIGHUP: configuration reloaded from {}", config.source);
            if (uploader || config.offsite.enabled()) restart_uploader();
            try {
                restart_metrics_server();
            } catch (const Error& err) {
                spdlog::error("SIGHUP: {}; /metrics and /healthz are off until a reload",
                              one_line(err.what()));
            }
        } catch (const Error& err) {
            spdlog::error("SIGHUP: the new configuration is refused, keeping the old one: {}",
                          one_line(err.what()));
        }
    }
};

// Waits for the server with backoff (1 s doubling to 60 s), logging each failure; a SIGHUP
// meanwhile (a fixed host or password) is applied before the next try. False when stopped.
bool wait_for_server(DaemonState& state) {
    auto delay = 1s;
    for (;;) {
        state.reload_if_requested();
        state.heartbeat.set_activity("connecting to PostgreSQL");
        try {
            Connection probe(resolve_connection(state.config, state.env), "postgres");
            return true;
        } catch (const Error& err) {
            spdlog::warn("PostgreSQL not reachable yet, retrying in {} s: {}", delay.count(),
                         one_line(err.what()));
        }
        state.heartbeat.set_activity("waiting for PostgreSQL", true);
        if (!sleep_until(now_utc() + delay, state.heartbeat) && stop_requested().load())
            return false;
        delay = std::min<std::chrono::seconds>(delay * 2, 60s);
    }
}

// Schedules retry number `failures` of `tier` (after that many consecutive failed runs), if
// one fits before the tier's next fire time.
void schedule_retry(DaemonState& state, BackupType tier, int failures) {
    const std::string name(to_string(tier));
    if (const auto at = retry_time(state.schedules, tier, failures, now_utc(),
                                   state.config.daemon.retry_delays)) {
        state.retries[tier] = {failures, *at};
        spdlog::info("{} backup: retry {} at {}", name, failures, format_utc_seconds(*at));
    } else {
        state.retries.erase(tier);
        spdlog::info("{} backup: no retry before its next scheduled run", name);
    }
}

// After a run of `tier`: a success clears the pending retries it covers (a full covers every
// tier, a differential the incremental); a failure schedules the next retry.
void note_result(DaemonState& state, BackupType tier, bool ok) {
    if (ok) {
        std::erase_if(state.retries, [&](const auto& entry) {
            return static_cast<int>(entry.first) >= static_cast<int>(tier);
        });
        return;
    }
    const auto pending = state.retries.find(tier);
    schedule_retry(state, tier,
                   (pending == state.retries.end() ? 0 : pending->second.failures) + 1);
}

// The run's webhook event, if it calls for one; queued, never waited for.
void notify_run(DaemonState& state, BackupType tier, std::optional<bool> previous_failed,
                const BackupOutcome* outcome, const std::string& error,
                std::chrono::steady_clock::time_point started) {
    if (!state.webhooks.enabled()) return;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    try {
        const Repository repo(state.config.storage.dir);
        if (const auto event = backup_notification(state.config, repo, tier, previous_failed,
                                                   outcome, error, seconds))
            state.webhooks.send(*event);
    } catch (const std::exception& err) {
        spdlog::warn("notify: {}", one_line(err.what()));
    }
}

// One backup run (`retry` > 0: the daemon's retry number); a failure is logged (and recorded
// by run_backup()), never fatal here, and gets a retry. The uploader, not the run, sends the
// archive to the bucket.
void run_tier(DaemonState& state, BackupType tier, const std::string& why, int retry = 0) {
    const std::string name(to_string(tier));
    spdlog::info("running {} backup ({})", name, why);
    state.heartbeat.set_activity("running the " + name + " backup (" + why + ")");
    bool ok = false;
    const auto started = std::chrono::steady_clock::now();
    std::optional<bool> previous_failed;
    try {
        Repository repo(state.config.storage.dir);
        repo.ensure_layout();
        if (state.webhooks.enabled()) previous_failed = last_run_failed(repo, tier);
        const BackupOutcome outcome =
            run_backup(state.config, state.env, repo, tier, Force::no, retry);
        notify_run(state, tier, previous_failed, &outcome, "", started);
        // The one line of the run's result (run_backup logs none).
        if (outcome.record.result == RunResult::failed) {
            spdlog::error("{}", backup_result_line(tier, outcome));
        } else {
            spdlog::info("{}", backup_result_line(tier, outcome));
        }
        // A database left out (its name) fails the run (health says so) but gets no retry:
        // only renaming it helps, and each retry would take the rest again.
        ok = true;
        if (state.uploader) state.uploader->wake();
    } catch (const std::exception& err) {
        if (stop_requested().load()) {
            spdlog::info("{} backup stopped: {}", name, one_line(err.what()));
            return;
        }
        spdlog::error("{} backup failed: {}", name, one_line(err.what()));
        notify_run(state, tier, previous_failed, nullptr, err.what(), started);
    }
    note_result(state, tier, ok);
}

// The earliest pending retry, if any.
std::optional<std::pair<BackupType, PendingRetry>> first_retry(const DaemonState& state) {
    std::optional<std::pair<BackupType, PendingRetry>> first;
    for (const auto& [tier, retry] : state.retries) {
        if (!first || retry.at < first->second.at) first = {tier, retry};
    }
    return first;
}

}  // namespace

ExitCode daemon(const Config& initial, const ConfigOverrides& overrides, const Environment& env) {
    init_logging(initial.daemon.log_level, LogTarget::standard_output);
    install_signal_handlers();
    const TierSchedules schedules = parse_schedules(initial.schedule, initial.source);
    load_archive_keys(initial);  // keys that cannot be read stop the start, not a backup at 3 am
    Webhooks webhooks(notify_target(initial));  // an unreadable notify.url_file stops the start
    Repository(initial.storage.dir).ensure_layout();
    // An address in use stops the start, before a heartbeat of this process is written (and
    // removed at its exit: a second daemon started by mistake must not touch the first's).
    auto metrics_server =
        initial.daemon.metrics_listen.empty() ? nullptr : std::make_unique<MetricsServer>(initial);
    HeartbeatWriter heartbeat(initial.storage.dir);
    DaemonState state{
        initial, schedules, overrides, env, heartbeat, webhooks, std::move(metrics_server),
        nullptr, {}};
    const Config& config = state.config;
    spdlog::info(
        "pgtier {} daemon starting: backups in {}, full '{}', differential '{}', "
        "incremental '{}' ({})",
        PGTIER_VERSION, config.storage.dir.string(), config.schedule.full,
        config.schedule.differential, config.schedule.incremental, effective_timezone(config, env));
    {
        Repository repo(config.storage.dir);
        heartbeat.set_activity("waiting for the lock of " + config.storage.dir.string());
        std::unique_ptr<RepositoryLock> lock;
        try {
            lock = repo.lock(&stop_requested());
        } catch (const Error&) {
            if (!stop_requested().load()) throw;
            spdlog::info("stop requested while waiting for the lock: daemon exiting");
            return ExitCode::ok;
        }
        repo.sweep_and_log();
        record_interrupted_run(repo, now_utc());
    }
    // Backing up a half-restored cluster would make it the newest state.
    const auto interrupted = interrupted_restore(Repository(config.storage.dir));
    if (interrupted && !config.daemon.auto_restore) {
        spdlog::critical("{}", interrupted->refusal("starting the schedule"));
        return ExitCode::failure;
    }
    if (!wait_for_server(state)) return ExitCode::ok;
    // A pg_dump older than the server cannot dump it: said once here, as critical; every run
    // then fails up front with the same message (recorded, so status and health show it) and
    // gets the usual retries.
    try {
        if (const auto refusal = check_pg_dump_version(resolve_connection(config, env)))
            spdlog::critical("{}", *refusal);
    } catch (const Error& err) {
        spdlog::warn("could not compare pg_dump's version with the server's: {}",
                     one_line(err.what()));
    }
    // A restore killed earlier may have left its work database behind.
    try {
        Restorer(resolve_connection(config, env), stop_requested()).drop_stale_work_databases();
    } catch (const Error& err) {
        spdlog::warn("could not look for work databases of interrupted restores: {}",
                     one_line(err.what()));
    }
    if (config.daemon.auto_restore) {
        // An auto_restore that was stopped half-way is finished (replacing what it restored);
        // otherwise only an empty cluster is restored.
        const bool resume = interrupted.has_value();
        heartbeat.set_activity("auto_restore: restoring the latest state");
        spdlog::info("auto_restore: restore latest {}",
                     resume ? "--replace (finishing an interrupted restore)" : "--if-empty");
        try {
            restore_latest(config, env, !resume, resume, false,
                           [](const std::string& line) { spdlog::info("{}", line); });
        } catch (const std::exception& err) {
            if (stop_requested().load()) {
                spdlog::info(
                    "stop requested during auto_restore ({}); the cluster holds part of "
                    "the restore, which the next start finishes: daemon exiting",
                    one_line(err.what()));
                return ExitCode::ok;
            }
            // Backing up the empty cluster now would make it the newest state: stop instead,
            // so that the operator (or the container's restart) sees it.
            spdlog::critical("auto_restore failed, not starting the schedule: {}",
                             one_line(err.what()));
            return ExitCode::failure;
        }
    }
    state.restart_uploader();
    if (!stop_requested().load()) {
        const Repository repo(config.storage.dir);
        const auto manifests = repo.published_manifests();
        const bool have_full =
            std::any_of(manifests.begin(), manifests.end(),
                        [](const Manifest& m) { return m.type == BackupType::full; });
        const auto status = read_tier_status(repo);
        // A last run that failed or was interrupted (also before a restart) gets its retries.
        for (const auto& [tier, s] : status) {
            if (!s.last_run || succeeded(s.last_run->result)) continue;
            spdlog::info("the last {} run {}", to_string(tier), to_string(s.last_run->result));
            schedule_retry(state, tier, s.last_run->retry + 1);
        }
        auto attempt = [&](BackupType tier) {
            std::optional<TimePoint> last_run;
            if (auto found = status.find(tier); found != status.end() && found->second.last_run)
                last_run = found->second.last_run->started_at;
            return last_attempt(manifests, tier, last_run);
        };
        const auto catch_up =
            startup_run(state.schedules, now_utc(), have_full, attempt(BackupType::full),
                        attempt(BackupType::differential));
        if (catch_up) {
            run_tier(state, *catch_up,
                     have_full ? "catching up a run missed while the daemon was down"
                               : "no full backup exists yet");
        }
    }

    TimePoint after = now_utc();
    while (!stop_requested().load()) {
        if (reload_requested().load()) {
            state.reload_if_requested();
            after = now_utc();
        }
        const auto due = next_run(state.schedules, after);
        if (const auto retry = first_retry(state); retry && (!due || retry->second.at < due->at)) {
            const auto& [tier, pending] = *retry;
            const std::string what = "retry " + std::to_string(pending.failures) + " of the " +
                                     std::string(to_string(tier)) + " backup";
            heartbeat.set_activity("waiting for " + what + " at " + format_utc_seconds(pending.at),
                                   true);
            if (!sleep_until(pending.at, heartbeat)) continue;
            run_tier(state, tier, what + " after a failed run", pending.failures);
            after = std::max(after, now_utc());  // fire times passed meanwhile are not made up
            continue;
        }
        if (!due) {
            spdlog::warn("no schedule fires again; waiting for a signal");
            heartbeat.set_activity("waiting for a signal: no schedule fires again", true);
            sleep_until(TimePoint::max(), heartbeat);
            continue;
        }
        spdlog::debug("next: {} at {}", to_string(due->tier), format_utc_seconds(due->at));
        heartbeat.set_activity("waiting for the next run: " + std::string(to_string(due->tier)) +
                                   " at " + format_utc_seconds(due->at),
                               true);
        if (!sleep_until(due->at, heartbeat)) continue;
        for (auto covered : due->covered) {
            spdlog::info("{} due at the same time is covered by the {}", to_string(covered),
                         to_string(due->tier));
        }
        run_tier(state, due->tier, "scheduled");
        // Fire times that passed during a long run are not made up (as cron does).
        after = std::max(due->at, now_utc());
    }
    state.uploader.reset();  // ends an upload in progress: the next start finishes it
    state.metrics_server.reset();
    webhooks.drain(5s);  // a stop takes a few seconds at most, within Docker's 10 s
    spdlog::info("stop requested: daemon exiting");
    return ExitCode::ok;
}

}  // namespace pgtier::commands
