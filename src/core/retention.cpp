#include "pgtier/core/retention.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <set>

#include "pgtier/core/cluster.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/core/restore_plan.hpp"

namespace pgtier {

namespace {

int days_for(const RetentionConfig& policy, BackupType tier) {
    switch (tier) {
        case BackupType::full:
            return policy.full_days;
        case BackupType::differential:
            return policy.differential_days;
        case BackupType::incremental:
            return policy.incremental_days;
    }
    return policy.full_days;
}

// "2026-11" of a UTC time.
std::string utc_month(TimePoint t) {
    const std::time_t tt = unix_seconds(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char text[32];
    std::snprintf(text, sizeof text, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    return text;
}

// The last `count` calendar months up to and including now's, as "YYYY-MM".
std::set<std::string> recent_months(TimePoint now, int count) {
    const std::time_t tt = unix_seconds(now);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    int year = tm.tm_year + 1900, month = tm.tm_mon + 1;
    std::set<std::string> months;
    for (int i = 0; i < count; ++i) {
        char text[32];
        std::snprintf(text, sizeof text, "%04d-%02d", year, month);
        months.insert(text);
        if (--month == 0) {
            month = 12;
            --year;
        }
    }
    return months;
}

std::string age_text(double days) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f days", days);
    return text;
}

// The rules over the archives of one cluster identity.
std::vector<RetentionDecision> plan_one_cluster(const std::vector<Manifest>& published,
                                                const RetentionConfig& policy, TimePoint now) {
    std::vector<const Manifest*> archives;
    for (const auto& m : published) archives.push_back(&m);
    std::sort(archives.begin(), archives.end(), [](const Manifest* a, const Manifest* b) {
        return a->started_at != b->started_at ? a->started_at > b->started_at : a->name > b->name;
    });

    // What `restore latest` reads, from what is not dated in the future.
    std::set<std::string> chain;
    std::vector<Manifest> past;
    for (const auto* m : archives) {
        if (m->started_at <= now) past.push_back(*m);
    }
    try {
        const auto plan = plan_latest_restore(past);
        chain.insert(plan.base);
        chain.insert(plan.globals.archive);
        for (const auto& db : plan.databases) chain.insert(db.source.archive);
    } catch (const Error&) {
        // No plan (no full or differential yet, or a database no archive holds): keep every
        // archive from the newest base on, rather than guess which ones a restore would need.
        std::optional<TimePoint> base;
        for (const auto& m : past) {
            if (m.type != BackupType::incremental && (!base || m.started_at > *base))
                base = m.started_at;
        }
        for (const auto& m : past) {
            if (!base || m.started_at >= *base) chain.insert(m.name);
        }
    }

    const auto months = recent_months(now, policy.keep_monthly_full);
    std::set<std::string> month_kept;
    std::map<BackupType, bool> seen_tier;
    int fulls_seen = 0;
    std::vector<RetentionDecision> decisions;
    for (const auto* m : archives) {
        RetentionDecision d{m->type, m->name, m->started_at, m->compressed_size, true, ""};
        const double age_days = std::chrono::duration<double>(now - m->started_at).count() / 86400;
        const int limit = days_for(policy, m->type);
        const bool newest_of_tier = !seen_tier[m->type];
        if (m->started_at <= now) seen_tier[m->type] = true;
        const bool counted_full = m->type == BackupType::full && m->started_at <= now;
        if (counted_full) ++fulls_seen;

        if (m->started_at > now) {
            d.reason = "dated in the future (" + format_utc_seconds(m->started_at) + "): kept";
        } else if (newest_of_tier) {
            d.reason = "newest " + std::string(to_string(m->type)) + ": always kept";
        } else if (chain.count(m->name)) {
            d.reason = "read by the newest restore chain (restore latest): kept";
        } else if (counted_full && fulls_seen <= policy.min_full) {
            d.reason =
                "one of the newest " + std::to_string(policy.min_full) + " fulls (min_full): kept";
        } else if (m->type == BackupType::full && months.count(utc_month(m->started_at)) &&
                   !month_kept.count(utc_month(m->started_at))) {
            month_kept.insert(utc_month(m->started_at));
            d.reason = "newest full of " + utc_month(m->started_at) +
                       " (keep_monthly_full = " + std::to_string(policy.keep_monthly_full) +
                       "): kept";
        } else if (age_days <= limit) {
            d.reason = "age " + age_text(age_days) + " <= " + std::to_string(limit) + " days";
        } else {
            d.keep = false;
            d.reason = "age " + age_text(age_days) + " > " + std::to_string(limit) + " days (" +
                       std::string(to_string(m->type)) + "_days)";
        }
        // The newest full of a month counts for that month even when kept for another reason.
        if (m->type == BackupType::full && m->started_at <= now)
            month_kept.insert(utc_month(m->started_at));
        decisions.push_back(std::move(d));
    }
    return decisions;
}

}  // namespace

std::vector<RetentionDecision> plan_retention(const std::vector<Manifest>& published,
                                              const RetentionConfig& policy, TimePoint now) {
    // Per cluster identity (docs/design.md, Cluster identity): another cluster's fulls never
    // count toward min_full, its chain is never this one's, and each keeps its own newest.
    const auto clusters = cluster_summaries(published);
    if (clusters.size() <= 1) return plan_one_cluster(published, policy, now);
    std::vector<RetentionDecision> decisions;
    for (const auto& cluster : clusters) {
        auto part =
            plan_one_cluster(manifests_of_cluster(published, cluster.identity), policy, now);
        for (auto& d : part) {
            d.reason += " [cluster " + short_identity(cluster.identity, 64) + "]";
            decisions.push_back(std::move(d));
        }
    }
    std::stable_sort(decisions.begin(), decisions.end(),
                     [](const RetentionDecision& a, const RetentionDecision& b) {
                         return a.started_at != b.started_at ? a.started_at > b.started_at
                                                             : a.name > b.name;
                     });
    return decisions;
}

}  // namespace pgtier
