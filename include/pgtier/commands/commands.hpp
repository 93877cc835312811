#pragma once
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pgtier/core/backup_type.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/core/retention.hpp"
#include "pgtier/core/selection.hpp"
#include "pgtier/storage/repository.hpp"
#include "pgtier/storage/run_status.hpp"
#include "pgtier/sys/config.hpp"
#include "pgtier/sys/notifier.hpp"

// One function per subcommand; each returns the process exit code.
namespace pgtier::commands {

// --json: one document on stdout (json_output.hpp, docs/json-output.md) instead of the text.
enum class OutputFormat { text, json };

// backup_run.cpp: the backup service, for the backup command and the daemon. One run under
// the repository lock (refused during an interrupted restore), recorded in the tier status,
// then retention. A failed run is recorded and thrown; a run stopped by a signal is thrown.
// No offsite sync: the command syncs after the lock is released, the daemon's uploader does.
struct BackupOutcome {
    RunRecord record;  // published or skipped; failed when databases were left out
    // Databases that cannot be backed up (their names); the others may still be published
    // (record.archive). The run is failed and logged, retention is not run.
    std::vector<std::string> not_backed_up;
    bool retention_failed = false;     // logged; the archive stands
    std::optional<Manifest> manifest;  // of the archive published (for --json)
};
// `retry`: 0 for a scheduled or manual run, n for the daemon's n-th retry (recorded, counted).
BackupOutcome run_backup(const Config& config, const Environment& env, const Repository& repo,
                         BackupType type, Force force, int retry = 0);
// pg_dump's major against the server's: the refusal (core/pg_version) when pg_dump is older,
// else nothing. Connects; throws Error when it cannot. The daemon checks it once at start.
std::optional<std::string> check_pg_dump_version(const ConnectionSettings& settings);
// "full: wrote full/… (N bytes, 1.2 s)" or "full: skipped: …"; with what was not backed up.
std::string backup_result_line(BackupType requested, const BackupOutcome& outcome);

// backup_notify.cpp: the webhooks' view of a backup run ([notify]). Before the run: whether the
// tier's last recorded run failed or was interrupted (nullopt: none was recorded).
std::optional<bool> last_run_failed(const Repository& repo, BackupType tier);
// After it: the event it calls for (core/notify's backup_event), if any. `outcome` is null when
// run_backup threw `error`; `duration_s` is the run's.
std::optional<Notification> backup_notification(const Config& config, const Repository& repo,
                                                BackupType tier,
                                                std::optional<bool> previous_failed,
                                                const BackupOutcome* outcome,
                                                const std::string& error, double duration_s);
// An offsite_failed (with `problem`) or offsite recovered event.
Notification offsite_notification(const Config& config, const Repository& repo, NotifyEvent event,
                                  const std::optional<std::string>& problem);
// Where events go: the URLs of notify.urls and notify.url_file (read now; throws ConfigError).
NotifyTarget notify_target(const Config& config);

// backup.cpp: the backup command: run_backup, its result line on stdout, then (with
// [offsite]) an upload of what the bucket lacks.
ExitCode backup(const Config& config, const Environment& env, BackupType type, Force force,
                OutputFormat format = OutputFormat::text);

// list.cpp: the archives of the backup directory, or of the bucket (remote).
ExitCode list(const Config& config, const Environment& env, OutputFormat format, bool remote);

// verify.cpp: every archive (or those named) of the directory, or of the bucket (remote: sizes
// and checksums against the manifests; deep: also downloads and decodes every section). A
// section is decoded by `threads` threads (0: one per core).
ExitCode verify(const Config& config, const Environment& env,
                const std::vector<std::string>& archives, bool remote, bool deep, int threads,
                OutputFormat format = OutputFormat::text);

// offsite.cpp: `offsite sync` uploads what is pending (exit 1 when something stays pending);
// `fetch` downloads an archive from the bucket into the directory and checks it.
ExitCode offsite_sync(const Config& config, const Environment& env, bool dry_run,
                      OutputFormat format = OutputFormat::text);
ExitCode fetch(const Config& config, const Environment& env, const std::string& archive);

// keygen.cpp: a new age identity (DIR/age_identity.txt) and Ed25519 signing key
// (DIR/signing_key.pem), both 0600 and never replacing a file; prints the [encryption] lines.
ExitCode keygen(const std::filesystem::path& dir);

// The next `count` fire times of a cron expression after `from` (ISO 8601; default now), in
// `timezone` (default: the configured one, `configured_zone`, already applied; "" = UTC).
ExitCode schedule(const std::string& expression, const std::optional<std::string>& timezone,
                  const std::optional<std::string>& from, int count,
                  OutputFormat format = OutputFormat::text,
                  const std::string& configured_zone = "");

// prune.cpp: retention over the published archives at `now`; deletes unless dry_run.
std::vector<RetentionDecision> apply_retention(const Repository& repo,
                                               const RetentionConfig& policy, TimePoint now,
                                               bool dry_run);
ExitCode prune(const Config& config, const Environment& env, bool dry_run,
               const std::optional<std::string>& at, bool remote,
               OutputFormat format = OutputFormat::text);

// status.cpp: last result and next run per tier; health exits 1 (saying why) when the last run
// of a tier failed or its newest success is older than its interval plus a grace.
ExitCode status(const Config& config, OutputFormat format);
ExitCode health(const Config& config, OutputFormat format = OutputFormat::text);
// health --live: exit 0 when the daemon's heartbeat is at most `max_age` old (the container
// health check: is the daemon alive and able to work), else 1 saying why.
ExitCode health_live(const Config& config, std::chrono::seconds max_age,
                     OutputFormat format = OutputFormat::text);
// What health says, without printing: its problems (empty: healthy), read from the backup
// directory at `now`. The daemon's GET /healthz serves them.
std::vector<std::string> health_problems(const Config& config, const Repository& repo,
                                         TimePoint now);
// The offsite part of them alone (none without [offsite]): the daemon's offsite alarm.
std::optional<std::string> offsite_health_problem(const Config& config, const Repository& repo,
                                                  TimePoint now);

// daemon.cpp: the scheduler; runs until SIGTERM/SIGINT (exit 0).
ExitCode daemon(const Config& config, const ConfigOverrides& overrides, const Environment& env);

// restore.cpp. A whole-cluster restore keeps this file in .pgtier/ while the cluster holds
// part of it.
inline constexpr const char* restoring_marker = "restoring";
// A whole-cluster restore that did not finish: its marker file and what the file says.
struct InterruptedRestore {
    std::filesystem::path marker;
    std::string content;  // without trailing line feeds

    // While the marker exists a backup would record a half-restored cluster as the newest
    // state: the refusal backup and the daemon give ("… not <doing>. Finish it with …").
    std::string refusal(const std::string& doing) const;
};
// The interrupted restore in `repo`, nullopt when there is none.
std::optional<InterruptedRestore> interrupted_restore(const Repository& repo);
ExitCode restore_list_databases(const Config& config, const Environment& env,
                                const std::string& archive, OutputFormat format);
ExitCode restore_database(const Config& config, const Environment& env, const std::string& archive,
                          const std::string& database, const std::optional<std::string>& as,
                          bool replace, bool force_version = false,
                          const std::optional<std::string>& at = std::nullopt);
// force_version (restore database, full and latest): restore an archive dumped from a newer
// PostgreSQL major than the target server's, which is otherwise refused up front (exit 2).
// at (database, latest): --at TIME, an operator's time (core/time.hpp): restore the newest state
// at or before it (restore database: `archive` is ignored, the database's newest section at or
// before it is taken); UsageError when it does not parse or no archive is that old.
// jobs (full and latest): how many databases are loaded at once; 0 = default_jobs for this
// machine's cores.
ExitCode restore_full(const Config& config, const Environment& env, const std::string& archive,
                      bool replace, bool force_version = false, int jobs = 0);
// `report` takes the result lines (the plan, "not restoring …", the summary): stdout for the
// command, the log for the daemon's auto_restore. `cluster`: the identity whose archives are
// restored (--cluster; "-" for archives without one); default the newest full's
// (core/cluster.hpp, choose_cluster).
ExitCode restore_latest(const Config& config, const Environment& env, bool if_empty, bool replace,
                        bool dry_run, const std::function<void(const std::string&)>& report,
                        bool force_version = false, int jobs = 0,
                        const std::optional<std::string>& cluster = std::nullopt,
                        const std::optional<std::string>& at = std::nullopt);
// restore plan --json: the plan restore_latest's dry run prints, as one document.
ExitCode restore_plan_json(const Config& config, const Environment& env,
                           const std::optional<std::string>& cluster,
                           const std::optional<std::string>& at = std::nullopt);

}  // namespace pgtier::commands
