#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgtier/archive/verifier.hpp"
#include "pgtier/commands/commands.hpp"
#include "pgtier/core/health.hpp"
#include "pgtier/core/manifest.hpp"
#include "pgtier/core/restore_plan.hpp"
#include "pgtier/core/retention.hpp"
#include "pgtier/storage/archive_store.hpp"
#include "pgtier/storage/offsite_sync.hpp"

// The documents of --json (docs/json-output.md): pure functions from the structs the text
// output is printed from, so both say the same. Every document is one object that starts
// with "schema", "command" and "ok"; fields are only added within a schema version.
namespace pgtier::commands {

// Keys keep the order they are added in: "schema" and "command" come first.
using Json = nlohmann::ordered_json;

inline constexpr int json_schema = 1;

// {"schema": 1, "command": COMMAND, "ok": OK}: the start of every document.
Json json_document(std::string_view command, bool ok);
// A command that failed with an error: {"schema", "command", "ok": false, "error": MESSAGE}.
Json json_error(std::string_view command, const std::string& message);
// The document on stdout, one line per field (invalid UTF-8 in names replaced, never thrown).
void print_json(const Json& document);

// An archive by its manifest: name, tier, time (started, ISO 8601 UTC), size_bytes,
// databases (in the archive's order), globals.
Json archive_json(const Manifest& manifest);
// An archive of a listing: archive_json's fields when its manifest is readable, and the
// listing's own (path, state, size, problem …).
Json listed_archive_json(const ArchiveEntry& entry);
// One verdict of verify: the archive (a path or URL), ok, error (problems joined, or null),
// problems, intact_sections, note.
Json verify_result_json(const std::string& archive, const VerifyResult& result);
// A verdict without a check: the archive could not be found or read.
Json verify_failure_json(const std::string& archive, const std::string& error);
// One retention decision: name, tier, time, size_bytes, reason.
Json retention_decision_json(const RetentionDecision& decision);
// prune: "kept" and "deleted" (in a dry run: to delete) decisions, in decision order, and
// the bytes deleted; `policy` is the bucket's retention for --remote ("" locally).
Json prune_json(const std::vector<RetentionDecision>& decisions, TimePoint at, bool dry_run,
                bool remote, const std::string& policy);
// The backup command's result, without its offsite part.
Json backup_json(BackupType requested, const BackupOutcome& outcome);
// An offsite pass: uploaded, deleted, pending (archives), their bytes, error.
Json sync_json(const OffsiteSyncResult& result, bool dry_run, const std::string& bucket);
// restore plan: the base, the ordered steps (globals, then each database), dropped databases,
// and the archives read (local or bucket) with their bytes.
Json plan_json(const RestorePlan& plan, const PlanReads& reads,
               const std::vector<std::string>& notes);
// health: verdict "healthy" / "unhealthy" and the reasons.
Json health_json(const std::vector<std::string>& problems);
// health --live: verdict "alive" / "not alive", the reasons, the daemon's heartbeat.
Json health_live_json(const std::optional<Heartbeat>& heartbeat,
                      const std::optional<std::string>& problem);

}  // namespace pgtier::commands
