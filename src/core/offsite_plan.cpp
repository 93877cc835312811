#include "pgtier/core/offsite_plan.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/text.hpp"

namespace pgtier {

namespace {

std::string key_of(BackupType tier, const std::string& name) {
    return std::string(to_string(tier)) + "/" + name;
}

bool valid_bucket_name(const std::string& bucket) {
    if (bucket.size() < 3 || bucket.size() > 63) return false;
    return std::all_of(bucket.begin(), bucket.end(), [](unsigned char c) {
        return std::islower(c) || std::isdigit(c) || c == '-' || c == '.' || c == '_';
    });
}

}  // namespace

S3Url parse_s3_url(const std::string& url) {
    constexpr std::string_view scheme = "s3://";
    if (url.rfind(scheme, 0) != 0)
        throw Error("must be s3://BUCKET or s3://BUCKET/PREFIX, got '" + url + "'");
    std::string rest = url.substr(scheme.size());
    const auto slash = rest.find('/');
    S3Url parsed;
    parsed.bucket = rest.substr(0, slash);
    if (slash != std::string::npos) parsed.prefix = rest.substr(slash + 1);
    while (!parsed.prefix.empty() && parsed.prefix.back() == '/') parsed.prefix.pop_back();
    if (!valid_bucket_name(parsed.bucket)) {
        throw Error("'" + parsed.bucket +
                    "' is not a bucket name (3 to 63 lowercase letters, digits, '-', '.', '_')");
    }
    // The prefix becomes part of every key: no empty, "." or ".." segment, no control byte.
    std::string segment;
    for (std::size_t i = 0; i <= parsed.prefix.size(); ++i) {
        if (i == parsed.prefix.size() || parsed.prefix[i] == '/') {
            if (!parsed.prefix.empty() && (segment.empty() || segment == "." || segment == ".."))
                throw Error("the prefix '" + parsed.prefix + "' has an empty, . or .. segment");
            segment.clear();
        } else if (static_cast<unsigned char>(parsed.prefix[i]) < 0x20) {
            throw Error("the prefix holds a control character");
        } else {
            segment += parsed.prefix[i];
        }
    }
    return parsed;
}

bool url_has_userinfo(std::string_view url) {
    const auto scheme_end = url.find("://");
    const auto authority = scheme_end == std::string_view::npos ? url : url.substr(scheme_end + 3);
    return authority.substr(0, authority.find_first_of("/?#")).find('@') != std::string_view::npos;
}

std::optional<std::int64_t> parse_duration(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::int64_t unit = 1;
    switch (text.back()) {
        case 's':
            text.remove_suffix(1);
            break;
        case 'm':
            unit = 60;
            text.remove_suffix(1);
            break;
        case 'h':
            unit = 3600;
            text.remove_suffix(1);
            break;
        case 'd':
            unit = 86400;
            text.remove_suffix(1);
            break;
        default:
            break;
    }
    if (text.empty() || text.size() > 9) return std::nullopt;
    std::int64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    return value * unit;
}

RetentionConfig offsite_retention(const RetentionConfig& local, const OffsiteConfig& offsite) {
    RetentionConfig policy = local;
    if (offsite.incremental_days) policy.incremental_days = *offsite.incremental_days;
    if (offsite.differential_days) policy.differential_days = *offsite.differential_days;
    if (offsite.full_days) policy.full_days = *offsite.full_days;
    if (offsite.min_full) policy.min_full = *offsite.min_full;
    return policy;
}

std::string describe_offsite_retention(const RetentionConfig& local, const OffsiteConfig& offsite) {
    const auto item = [](const char* key, const std::optional<int>& remote, int fallback) {
        return std::string(key) + " " + std::to_string(remote ? *remote : fallback) +
               (remote ? " ([offsite])" : " ([retention])");
    };
    return "remote retention: " +
           item("incremental_days", offsite.incremental_days, local.incremental_days) + ", " +
           item("differential_days", offsite.differential_days, local.differential_days) + ", " +
           item("full_days", offsite.full_days, local.full_days) + ", " +
           item("min_full", offsite.min_full, local.min_full) + ", keep_monthly_full " +
           std::to_string(local.keep_monthly_full) + " ([retention])";
}

OffsitePlan plan_offsite(const std::vector<Manifest>& local,
                         const std::vector<Manifest>& remote_published,
                         const std::vector<RemoteFiles>& remote_files,
                         const RetentionConfig& remote_policy, TimePoint now) {
    std::map<std::string, const Manifest*> remote;
    for (const auto& m : remote_published) remote[key_of(m.type, m.name)] = &m;
    std::map<std::string, std::uint64_t> object_sizes;
    for (const auto& f : remote_files) {
        if (f.archive_size) object_sizes[key_of(f.tier, f.name)] = *f.archive_size;
    }

    std::vector<Manifest> candidates;
    for (const auto& m : local) {
        if (remote.count(key_of(m.type, m.name)) == 0) candidates.push_back(m);
    }
    // Retention judges the bucket as it will be: what it holds plus what would be uploaded.
    std::vector<Manifest> future = remote_published;
    future.insert(future.end(), candidates.begin(), candidates.end());
    std::stable_sort(future.begin(), future.end(), [](const Manifest& a, const Manifest& b) {
        return a.started_at < b.started_at;
    });
    OffsitePlan plan;
    plan.retention = plan_retention(future, remote_policy, now);
    std::map<std::string, bool> keep;
    for (const auto& d : plan.retention) keep[key_of(d.tier, d.name)] = d.keep;

    for (auto& m : candidates) {
        const std::string key = key_of(m.type, m.name);
        if (!keep[key]) continue;
        const auto object = object_sizes.find(key);
        const bool have_archive =
            object != object_sizes.end() && object->second == m.compressed_size;
        plan.pending_bytes += m.compressed_size;
        plan.uploads.push_back({std::move(m), !have_archive});
    }
    std::stable_sort(plan.uploads.begin(), plan.uploads.end(),
                     [](const OffsiteUpload& a, const OffsiteUpload& b) {
                         return a.manifest.finished_at < b.manifest.finished_at;
                     });
    // Only archives the bucket holds are deleted; a candidate retention drops is just skipped.
    std::erase_if(plan.retention, [&](const RetentionDecision& d) {
        return remote.count(key_of(d.tier, d.name)) == 0;
    });
    return plan;
}

std::vector<Manifest> offsite_pending(const std::vector<Manifest>& local,
                                      std::optional<TimePoint> synced_through) {
    std::vector<Manifest> pending;
    for (const auto& m : local) {
        if (!synced_through || m.finished_at > *synced_through) pending.push_back(m);
    }
    std::stable_sort(pending.begin(), pending.end(), [](const Manifest& a, const Manifest& b) {
        return a.finished_at < b.finished_at;
    });
    return pending;
}

std::optional<TimePoint> synced_through_after(const std::vector<Manifest>& local,
                                              const std::vector<Manifest>& still_pending,
                                              std::optional<TimePoint> before) {
    if (!still_pending.empty()) {
        TimePoint oldest = still_pending.front().finished_at;
        for (const auto& m : still_pending) oldest = std::min(oldest, m.finished_at);
        return oldest - std::chrono::microseconds(1);
    }
    std::optional<TimePoint> newest = before;
    for (const auto& m : local) {
        if (!newest || m.finished_at > *newest) newest = m.finished_at;
    }
    return newest;
}

std::optional<std::string> judge_offsite_lag(const std::vector<Manifest>& pending,
                                             std::int64_t max_lag_seconds, TimePoint now,
                                             const std::string& last_error) {
    if (pending.empty()) return std::nullopt;
    const Manifest& oldest = pending.front();
    const auto waited = std::chrono::duration_cast<std::chrono::seconds>(now - oldest.finished_at);
    if (waited.count() <= max_lag_seconds) return std::nullopt;
    std::string text = "offsite: " + oldest.name + " has waited " +
                       duration_text(static_cast<double>(waited.count())) +
                       " for its upload (offsite.max_lag " +
                       duration_text(static_cast<double>(max_lag_seconds)) + "; " +
                       std::to_string(pending.size()) + " archive" +
                       (pending.size() == 1 ? "" : "s") + " pending)";
    if (!last_error.empty()) text += "; last error: " + last_error;
    return text;
}

}  // namespace pgtier
