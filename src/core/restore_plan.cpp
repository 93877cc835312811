#include "pgtier/core/restore_plan.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/core/time.hpp"

namespace pgtier {

namespace {

bool older(const Manifest& a, const Manifest& b) {
    return a.started_at != b.started_at ? a.started_at < b.started_at : a.name < b.name;
}

SectionSource source_of(const Manifest& manifest, const SectionEntry& section) {
    return {manifest.type, manifest.name, section};
}

std::string tier_and_name(const Manifest& m) {
    return std::string(to_string(m.type)) + "/" + m.name;
}

// The oldest of `published` that `keep` accepts; null when none does.
template <typename Keep>
const Manifest* oldest(const std::vector<Manifest>& published, Keep keep) {
    const Manifest* found = nullptr;
    for (const auto& m : published) {
        if (keep(m) && (found == nullptr || older(m, *found))) found = &m;
    }
    return found;
}

std::string started(const Manifest& m) {
    return tier_and_name(m) + ", started " + describe_time(m.started_at);
}

}  // namespace

std::string describe_time(TimePoint t) {
    return std::chrono::floor<std::chrono::seconds>(t) == t ? format_utc_seconds(t)
                                                            : format_utc_iso(t);
}

std::vector<Manifest> archives_at_or_before(const std::vector<Manifest>& published, TimePoint at) {
    std::vector<Manifest> kept;
    for (const auto& m : published) {
        if (m.started_at <= at) kept.push_back(m);
    }
    if (kept.empty()) {
        const Manifest* first = oldest(published, [](const Manifest&) { return true; });
        throw UsageError("no archive at or before " + describe_time(at) +
                         (first ? "; the oldest is " + started(*first) : ": there is none"));
    }
    return kept;
}

RestorePlan plan_latest_restore(const std::vector<Manifest>& all, std::optional<TimePoint> at) {
    const std::vector<Manifest> published = at ? archives_at_or_before(all, *at) : all;
    const auto is_base = [](const Manifest& m) { return m.type != BackupType::incremental; };
    if (at && std::none_of(published.begin(), published.end(), is_base)) {
        if (const Manifest* first = oldest(all, is_base)) {
            throw UsageError("no full or differential archive at or before " + describe_time(*at) +
                             "; the oldest is " + started(*first));
        }
    }
    std::vector<const Manifest*> archives;
    for (const auto& m : published) archives.push_back(&m);
    std::sort(archives.begin(), archives.end(),
              [](const Manifest* a, const Manifest* b) { return older(*a, *b); });

    const Manifest* base = nullptr;
    for (const Manifest* m : archives) {
        if (m->type != BackupType::incremental) base = m;
    }
    if (base == nullptr) {
        throw Error("no full or differential archive to restore from (restore latest needs one)");
    }
    RestorePlan plan;
    plan.base = base->name;
    plan.base_tier = base->type;
    const Manifest& newest = *archives.back();
    plan.state_at = newest.started_at;

    // Newest section per database, and newest globals, from the base onwards.
    std::map<std::string, SectionSource> latest_section;
    bool have_globals = false;
    for (auto it = std::find(archives.begin(), archives.end(), base); it != archives.end(); ++it) {
        const Manifest& m = **it;
        if (m.type != BackupType::incremental && &m != base) continue;
        for (const auto& section : m.sections) {
            if (section.kind == SectionKind::globals) {
                plan.globals = source_of(m, section);
                have_globals = true;
            } else {
                latest_section.insert_or_assign(*section.database, source_of(m, section));
            }
        }
    }
    if (!have_globals) throw Error(base->name + " has no globals section");

    for (const auto& db : newest.fingerprint.databases) {
        auto found = latest_section.find(db.name);
        if (found == latest_section.end()) {
            throw Error("no archive from " + base->name + " onwards holds database \"" +
                        printable(db.name) + "\", which the newest archive " + newest.name +
                        " saw");
        }
        plan.databases.push_back({db.name, found->second});
        latest_section.erase(found);
    }
    for (const auto& [name, source] : latest_section) plan.dropped.push_back(name);
    if (at) {
        plan.as_of = at;
        plan.left_out_after = all.size() - published.size();
    }
    return plan;
}

SectionSource choose_database_at(const std::vector<Manifest>& all, const std::string& database,
                                 TimePoint at) {
    const std::vector<Manifest> published = archives_at_or_before(all, at);
    const Manifest* newest = nullptr;
    const Manifest* holder = nullptr;  // the newest archive with a section of `database`
    const SectionEntry* section = nullptr;
    for (const auto& m : published) {
        if (newest == nullptr || older(*newest, m)) newest = &m;
        const SectionEntry* s = m.find_database(database);
        if (s != nullptr && (holder == nullptr || older(*holder, m))) {
            holder = &m;
            section = s;
        }
    }
    const std::string quoted = "\"" + printable(database) + "\"";
    if (!newest->fingerprint.database(database)) {
        throw Error("database " + quoted + " did not exist at " + describe_time(at) +
                    ": the newest archive at or before it, " + started(*newest) +
                    ", did not see it" +
                    (holder ? "; its last copy before then is in " + started(*holder) +
                                  " (restore database " + holder->name + " " + quoted + ")"
                            : ""));
    }
    if (holder == nullptr) {
        throw Error("no archive at or before " + describe_time(at) + " holds database " + quoted +
                    ", which " + started(*newest) + " saw");
    }
    return source_of(*holder, *section);
}

std::vector<std::string> describe_plan(const RestorePlan& plan) {
    std::vector<std::string> lines;
    if (plan.as_of) {
        lines.push_back(
            "as of " + describe_time(*plan.as_of) + ": the newest state at or before it; " +
            std::to_string(plan.left_out_after) + " archive(s) started after it left out");
    }
    auto from = [](const SectionSource& s) {
        return std::string(to_string(s.tier)) + "/" + s.archive;
    };
    lines.push_back("base: " + std::string(to_string(plan.base_tier)) + "/" + plan.base +
                    "; state as of " + format_utc_seconds(plan.state_at));
    lines.push_back("  globals from " + from(plan.globals));
    for (const auto& db : plan.databases) {
        lines.push_back("  database \"" + printable(db.database) + "\" from " + from(db.source));
    }
    for (const auto& name : plan.dropped) {
        lines.push_back("  database \"" + printable(name) +
                        "\" dropped after the base: not restored");
    }
    return lines;
}

PlanReads plan_reads(const RestorePlan& plan, const std::vector<Manifest>& published,
                     const std::function<bool(BackupType, const std::string&)>& in_bucket) {
    std::vector<const Manifest*> archives;
    for (const auto& m : published) archives.push_back(&m);
    std::stable_sort(archives.begin(), archives.end(),
                     [](const Manifest* a, const Manifest* b) { return older(*a, *b); });
    std::vector<SectionSource> sections{plan.globals};
    for (const auto& db : plan.databases) sections.push_back(db.source);
    PlanReads reads;
    auto add = [&](const Manifest& m, bool base) {
        PlanRead read{m.type, m.name, in_bucket(m.type, m.name), m.compressed_size, 0};
        if (base) read.read_bytes = m.compressed_size;
        bool used = base;
        for (const auto& s : sections) {
            if (s.tier != m.type || s.archive != m.name) continue;
            used = true;
            read.read_bytes += (base ? 1 : 2) * s.section.length;
        }
        if (!used) return;
        if (read.in_bucket) reads.bucket_bytes += read.read_bytes;
        reads.archives.push_back(std::move(read));
    };
    for (const Manifest* m : archives) {
        if (m->type == plan.base_tier && m->name == plan.base) add(*m, true);
    }
    for (const Manifest* m : archives) {
        if (m->type != plan.base_tier || m->name != plan.base) add(*m, false);
    }
    return reads;
}

std::vector<std::string> describe_reads(const PlanReads& reads, const std::string& local,
                                        const std::string& bucket) {
    std::vector<std::string> lines{"archives read:"};
    std::size_t in_bucket = 0;
    for (const auto& r : reads.archives) {
        std::string line = "  " + std::string(to_string(r.tier)) + "/" + r.archive + ": " +
                           (r.in_bucket ? "bucket " + bucket : "local " + local) + ", " +
                           human_size(r.archive_size);
        if (r.in_bucket) {
            ++in_bucket;
            line += ", " + human_size(r.read_bytes) + " to download";
        }
        lines.push_back(line);
    }
    if (in_bucket == 0) {
        lines.push_back("to download: nothing (every archive is in " + local + ")");
    } else {
        lines.push_back("to download from " + bucket + ": " + human_size(reads.bucket_bytes) +
                        " (" + std::to_string(reads.bucket_bytes) + " bytes) of " +
                        std::to_string(in_bucket) +
                        " archive(s), plus their manifests and sidecars");
    }
    return lines;
}

std::optional<GlobalsChoice> choose_globals_source(const Manifest& archive,
                                                   const std::vector<Manifest>& published) {
    std::optional<GlobalsChoice> globals;
    for (const auto& s : archive.sections) {
        if (s.kind == SectionKind::globals) globals = GlobalsChoice{true, source_of(archive, s)};
    }
    if (globals) return globals;
    TimePoint best{};
    for (const auto& m : published) {
        if (m.started_at > archive.started_at || (globals && m.started_at < best)) continue;
        for (const auto& s : m.sections) {
            if (s.kind != SectionKind::globals) continue;
            globals = GlobalsChoice{false, source_of(m, s)};
            best = m.started_at;
        }
    }
    return globals;
}

}  // namespace pgtier
