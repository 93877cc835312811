#include "pgtier/core/selection.hpp"

#include <algorithm>

namespace pgtier {

namespace {

// Newest first by the manifest's UTC start time, never by name or mtime.
std::vector<const Manifest*> newest_first(const std::vector<Manifest>& published) {
    std::vector<const Manifest*> sorted;
    for (const auto& m : published) sorted.push_back(&m);
    std::stable_sort(sorted.begin(), sorted.end(), [](const Manifest* a, const Manifest* b) {
        return a->started_at > b->started_at;
    });
    return sorted;
}

BackupPlan everything(BackupType type, const Fingerprint& current, std::string reason) {
    BackupPlan plan;
    plan.type = type;
    plan.reason = std::move(reason);
    plan.globals = true;
    for (const auto& db : current.databases) plan.databases.push_back(db.name);
    return plan;
}

std::string join(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}

}  // namespace

BackupPlan plan_backup(BackupType requested, Force force, const Fingerprint& current,
                       const std::vector<Manifest>& published) {
    const auto archives = newest_first(published);
    const auto newest_full = std::find_if(archives.begin(), archives.end(), [](const Manifest* m) {
        return m->type == BackupType::full;
    });

    if (requested == BackupType::full)
        return everything(BackupType::full, current, "full requested");
    if (newest_full == archives.end()) {
        return everything(BackupType::full, current,
                          std::string(to_string(requested)) + " requested but no full exists yet");
    }
    const Manifest& base = **newest_full;

    if (requested == BackupType::differential) {
        if (force == Force::yes) return everything(requested, current, "forced");
        if (base.fingerprint.digest == current.digest) {
            BackupPlan plan;
            plan.type = requested;
            plan.skip = true;
            plan.reason = "nothing changed since full " + base.name + " (" +
                          format_utc_seconds(base.started_at) + ")";
            return plan;
        }
        return everything(requested, current, "cluster changed since full " + base.name);
    }

    // Incremental: each database against the newest archive that holds it.
    if (force == Force::yes) return everything(requested, current, "forced");
    BackupPlan plan;
    plan.type = requested;
    plan.globals = false;
    std::vector<std::string> reasons;
    for (const auto& db : current.databases) {
        const auto holder = std::find_if(archives.begin(), archives.end(), [&](const Manifest* m) {
            return m->find_database(db.name) != nullptr;
        });
        if (holder == archives.end()) {
            plan.databases.push_back(db.name);
            reasons.push_back(db.name + " (new)");
        } else if ((*holder)->find_database(db.name)->fingerprint != db.fingerprint) {
            plan.databases.push_back(db.name);
            reasons.push_back(db.name);
        }
    }
    const auto globals_holder = std::find_if(archives.begin(), archives.end(),
                                             [](const Manifest* m) { return m->has_globals(); });
    if (globals_holder == archives.end() ||
        (*globals_holder)->fingerprint.globals != current.globals) {
        plan.globals = true;
        reasons.push_back("globals");
    }
    // A dropped database changes no remaining section; the globals section records the new
    // database list so that the newest manifest always describes the cluster.
    std::vector<std::string> dropped;
    for (const auto& db : archives.front()->fingerprint.databases) {
        if (!current.database(db.name)) dropped.push_back(db.name);
    }
    if (!dropped.empty()) {
        plan.globals = true;
        reasons.push_back("dropped: " + join(dropped));
    }
    if (plan.databases.empty() && !plan.globals) {
        plan.skip = true;
        const Manifest& newest = *archives.front();
        plan.reason = "nothing changed since " + std::string(to_string(newest.type)) + " " +
                      newest.name + " (" + format_utc_seconds(newest.started_at) + ")";
        return plan;
    }
    plan.reason = "changed: " + join(reasons);
    return plan;
}

}  // namespace pgtier
