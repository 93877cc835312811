#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgtier/core/manifest.hpp"
#include "pgtier/core/retention.hpp"
#include "pgtier/core/settings.hpp"
#include "pgtier/core/time.hpp"

// The offsite copies' decisions (docs/design.md, Offsite copies), pure and tested with fixed
// times: what to upload, what remote retention deletes, how far the bucket lags.
namespace pgtier {

struct S3Url {
    std::string bucket;
    std::string prefix;  // "" or "a/b": no leading or trailing slash
};
// "s3://BUCKET[/PREFIX]". Throws Error saying what is wrong.
S3Url parse_s3_url(const std::string& url);

// Whether a URL ("https://user:password@host/", "s3://user@bucket") carries a user and maybe a
// password before its host: credentials belong in the credential files, and a URL is shown in
// messages, offsite.json and status.
bool url_has_userinfo(std::string_view url);

// Seconds in "90s", "90m", "6h", "2d" or a bare number of seconds; nullopt when not one.
std::optional<std::int64_t> parse_duration(std::string_view text);

// The remote retention policy: the [offsite] day counts where set, else the local ones.
RetentionConfig offsite_retention(const RetentionConfig& local, const OffsiteConfig& offsite);
// What offsite_retention used and from where, for prune --remote: "remote retention:
// incremental_days 14 ([retention]), differential_days 42 ([retention]), full_days 90
// ([offsite]), min_full 2 ([retention]), keep_monthly_full 0 ([retention])".
std::string describe_offsite_retention(const RetentionConfig& local, const OffsiteConfig& offsite);

// What a listing of the bucket shows of one archive name (no object read).
struct RemoteFiles {
    BackupType tier = BackupType::full;
    std::string name;
    std::optional<std::uint64_t> archive_size;  // nullopt: no archive object
};

struct OffsiteUpload {
    Manifest manifest;    // the local archive's
    bool archive = true;  // false: an object of the archive's exact size is there already
};

struct OffsitePlan {
    std::vector<OffsiteUpload> uploads;  // oldest first: archive, sidecar, then manifest each
    // The remote retention decisions, for the archives the bucket holds complete and those
    // about to be uploaded; those with keep == false are deleted (manifest first) after the
    // uploads. A local archive remote retention would delete at once is not uploaded.
    std::vector<RetentionDecision> retention;
    std::uint64_t pending_bytes = 0;
};

// `local`: the local published manifests; `remote_published`: the manifests of the archives
// complete in the bucket (scan_store); `remote_files`: the archive objects the listing shows.
OffsitePlan plan_offsite(const std::vector<Manifest>& local,
                         const std::vector<Manifest>& remote_published,
                         const std::vector<RemoteFiles>& remote_files,
                         const RetentionConfig& remote_policy, TimePoint now);

// The local archives not known to be in the bucket: those that finished after `synced_through`
// (every archive that finished by then was uploaded, or skipped by remote retention; nullopt:
// never synced, everything waits). Oldest first.
std::vector<Manifest> offsite_pending(const std::vector<Manifest>& local,
                                      std::optional<TimePoint> synced_through);

// What `synced_through` becomes after a sync that left `still_pending` (oldest first) of
// `local`: just before the oldest one still waiting, else the newest local archive's finish.
std::optional<TimePoint> synced_through_after(const std::vector<Manifest>& local,
                                              const std::vector<Manifest>& still_pending,
                                              std::optional<TimePoint> before);

// The health problem of the offsite copies at `now`: the oldest pending archive finished more
// than `max_lag_seconds` ago. nullopt when within the lag.
std::optional<std::string> judge_offsite_lag(const std::vector<Manifest>& pending,
                                             std::int64_t max_lag_seconds, TimePoint now,
                                             const std::string& last_error);

}  // namespace pgtier
