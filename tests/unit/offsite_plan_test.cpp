#include <fcntl.h>
#include <unistd.h>

#include "catch_compat.hpp"

#include <filesystem>
#include <fstream>
#include <map>

#include "fixtures.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/core/offsite_plan.hpp"
#include "pgtier/storage/local_store.hpp"

using namespace pgtier;
using test::state;
namespace fs = std::filesystem;

namespace {

const TimePoint now = *parse_utc_iso("2026-11-23T12:00:00Z");

TimePoint hours_ago(double hours) {
    return now - std::chrono::microseconds(static_cast<long long>(hours * 3600e6));
}

constexpr auto full = BackupType::full;
constexpr auto diff = BackupType::differential;
constexpr auto incr = BackupType::incremental;

// An archive of database A (and globals unless incremental) started `days` before now and
// finished `took_hours` later, named after its tier and age, of `size` compressed bytes.
Manifest at(BackupType type, double days, std::uint64_t size = 1000, double took_hours = 0.01) {
    Manifest m;
    m.type = type;
    m.started_at = hours_ago(days * 24);
    m.finished_at =
        m.started_at + std::chrono::microseconds(static_cast<long long>(took_hours * 3600e6));
    m.name = std::string(to_string(type)) + "-" + std::to_string(days);
    m.compressed_size = size;
    const Fingerprint fp = state({{"A", "a" + std::to_string(days)}});
    m.fingerprint = fp;
    if (type != incr)
        m.sections.push_back({SectionKind::globals, std::nullopt, 0, 0, 0, "", fp.globals});
    m.sections.push_back({SectionKind::database, "A", 0, 0, 0, "", *fp.database("A")});
    return m;
}

std::vector<std::string> upload_names(const OffsitePlan& plan) {
    std::vector<std::string> names;
    for (const auto& u : plan.uploads) names.push_back(u.manifest.name);
    return names;
}

std::map<std::string, bool> retention_of(const OffsitePlan& plan) {
    std::map<std::string, bool> out;
    for (const auto& d : plan.retention) out[d.name] = d.keep;
    return out;
}

std::string error_of(const std::string& url) {
    try {
        parse_s3_url(url);
    } catch (const Error& err) {
        return err.what();
    }
    return "";
}

}  // namespace

TEST_CASE("offsite: parse_s3_url takes a bucket and an optional prefix") {
    auto u = parse_s3_url("s3://my-bucket");
    CHECK(u.bucket == "my-bucket");
    CHECK(u.prefix.empty());
    u = parse_s3_url("s3://my.bucket/");
    CHECK(u.bucket == "my.bucket");
    CHECK(u.prefix.empty());
    u = parse_s3_url("s3://bkt/a/b");
    CHECK(u.bucket == "bkt");
    CHECK(u.prefix == "a/b");
    u = parse_s3_url("s3://bkt/a/b///");
    CHECK(u.prefix == "a/b");
    u = parse_s3_url("s3://b-1/pg tier/host.1");
    CHECK(u.prefix == "pg tier/host.1");
}

TEST_CASE("offsite: parse_s3_url refuses what is not an s3:// URL of a bucket") {
    CHECK_THAT(error_of("https://bkt/x"),
               match::Contains("s3://BUCKET") && match::Contains("'https://bkt/x'"));
    CHECK_THAT(error_of("S3://bkt"), match::Contains("s3://BUCKET"));
    CHECK_THAT(error_of("bkt/prefix"), match::Contains("s3://BUCKET"));
    CHECK_THAT(error_of("s3://ab"), match::Contains("'ab' is not a bucket name"));
    CHECK_THAT(error_of("s3://"), match::Contains("is not a bucket name"));
    CHECK_THAT(error_of("s3:///prefix"), match::Contains("is not a bucket name"));
    CHECK_THAT(error_of("s3://Upper/x"), match::Contains("'Upper' is not a bucket name"));
    CHECK_THAT(error_of("s3://" + std::string(64, 'b')), match::Contains("is not a bucket name"));
    CHECK(error_of("s3://" + std::string(63, 'b')).empty());
    CHECK(error_of("s3://abc").empty());
}

TEST_CASE("offsite: parse_s3_url refuses a prefix with an empty, . or .. segment") {
    CHECK_THAT(error_of("s3://bkt/a/../b"), match::Contains("empty, . or .. segment"));
    CHECK_THAT(error_of("s3://bkt/.."), match::Contains("empty, . or .. segment"));
    CHECK_THAT(error_of("s3://bkt/a/.."), match::Contains("empty, . or .. segment"));
    CHECK_THAT(error_of("s3://bkt/./a"), match::Contains("empty, . or .. segment"));
    CHECK_THAT(error_of("s3://bkt//a"), match::Contains("empty, . or .. segment"));
    CHECK_THAT(error_of("s3://bkt/a//b"), match::Contains("empty, . or .. segment"));
    CHECK_THAT(error_of("s3://bkt/a\nb"), match::Contains("control character"));
    // A dot inside a segment is a plain name.
    CHECK(parse_s3_url("s3://bkt/a..b/.c").prefix == "a..b/.c");
}

TEST_CASE("offsite: url_has_userinfo finds a user or password before the host") {
    CHECK(url_has_userinfo("https://user:pw@host:7480/"));
    CHECK(url_has_userinfo("http://user@host"));
    CHECK(url_has_userinfo("s3://key:secret@bucket/prefix"));
    CHECK(url_has_userinfo("user:pw@host"));
    CHECK_FALSE(url_has_userinfo("https://host:7480/path@x"));
    CHECK_FALSE(url_has_userinfo("https://host?q=a@b"));
    CHECK_FALSE(url_has_userinfo("s3://bucket/pre@fix"));
    CHECK_FALSE(url_has_userinfo(""));
}

TEST_CASE("offsite: parse_duration reads s, m, h, d and bare seconds") {
    CHECK(parse_duration("90") == 90);
    CHECK(parse_duration("0") == 0);
    CHECK(parse_duration("90s") == 90);
    CHECK(parse_duration("90m") == 5400);
    CHECK(parse_duration("6h") == 21600);
    CHECK(parse_duration("2d") == 172800);
    CHECK(parse_duration("999999999d") == 999999999LL * 86400);
    for (const char* bad :
         {"", "h", "-5", "5x", "1.5h", " 5m", "5m ", "6H", "1e3", "5hm", "1234567890"}) {
        INFO(bad);
        CHECK_FALSE(parse_duration(bad).has_value());
    }
}

TEST_CASE("offsite: remote retention takes the [offsite] days where set, else the local ones") {
    RetentionConfig local;
    local.incremental_days = 10;
    local.differential_days = 20;
    local.full_days = 30;
    local.min_full = 3;
    local.keep_monthly_full = 4;
    OffsiteConfig offsite;
    auto p = offsite_retention(local, offsite);
    CHECK(p.incremental_days == 10);
    CHECK(p.differential_days == 20);
    CHECK(p.full_days == 30);
    CHECK(p.min_full == 3);
    CHECK(p.keep_monthly_full == 4);
    offsite.incremental_days = 1;
    offsite.full_days = 7;
    p = offsite_retention(local, offsite);
    CHECK(p.incremental_days == 1);
    CHECK(p.differential_days == 20);
    CHECK(p.full_days == 7);
    CHECK(p.min_full == 3);
    offsite.differential_days = 2;
    offsite.min_full = 1;
    p = offsite_retention(local, offsite);
    CHECK(p.differential_days == 2);
    CHECK(p.min_full == 1);
    CHECK(p.keep_monthly_full == 4);
}

TEST_CASE("offsite: prune --remote says which day counts it used and from where") {
    RetentionConfig local;
    local.incremental_days = 10;
    local.differential_days = 20;
    local.full_days = 30;
    local.min_full = 3;
    local.keep_monthly_full = 4;
    OffsiteConfig offsite;
    CHECK(describe_offsite_retention(local, offsite) ==
          "remote retention: incremental_days 10 ([retention]), differential_days 20 "
          "([retention]), full_days 30 ([retention]), min_full 3 ([retention]), "
          "keep_monthly_full 4 ([retention])");
    offsite.full_days = 90;
    offsite.min_full = 1;
    CHECK(describe_offsite_retention(local, offsite) ==
          "remote retention: incremental_days 10 ([retention]), differential_days 20 "
          "([retention]), full_days 90 ([offsite]), min_full 1 ([offsite]), "
          "keep_monthly_full 4 ([retention])");
}

TEST_CASE("offsite plan: an empty bucket gets every local archive, oldest first by finish") {
    // The full started first but finished last (a long dump): it goes after the others.
    Manifest f = at(full, 3, 5000, 60);
    Manifest d = at(diff, 2, 700);
    Manifest i = at(incr, 1, 300);
    const auto plan = plan_offsite({i, f, d}, {}, {}, RetentionConfig{}, now);
    CHECK(upload_names(plan) == std::vector<std::string>{d.name, i.name, f.name});
    for (const auto& u : plan.uploads) CHECK(u.archive);
    CHECK(plan.pending_bytes == 6000);
    // Nothing is in the bucket: no retention decision acts on anything.
    CHECK(plan.retention.empty());
}

TEST_CASE("offsite plan: an archive complete in the bucket is not uploaded again") {
    Manifest f = at(full, 3, 5000);
    Manifest i = at(incr, 1, 300);
    const auto plan = plan_offsite({f, i}, {f}, {{full, f.name, 5000}}, RetentionConfig{}, now);
    CHECK(upload_names(plan) == std::vector<std::string>{i.name});
    CHECK(plan.pending_bytes == 300);
    // The decisions are about the bucket's archives only.
    const auto r = retention_of(plan);
    CHECK(r == std::map<std::string, bool>{{f.name, true}});
}

TEST_CASE("offsite plan: an archive object of the exact size is not sent again") {
    Manifest f = at(full, 3, 5000);
    Manifest i = at(incr, 1, 300);
    Manifest d = at(diff, 2, 700);
    // f's archive is there (an upload stopped before its manifest), i's is of another size,
    // d's listing shows no archive object (only a sidecar, say).
    const std::vector<RemoteFiles> files = {
        {full, f.name, 5000}, {incr, i.name, 299}, {diff, d.name, std::nullopt}};
    const auto plan = plan_offsite({f, d, i}, {}, files, RetentionConfig{}, now);
    REQUIRE(upload_names(plan) == std::vector<std::string>{f.name, d.name, i.name});
    CHECK_FALSE(plan.uploads[0].archive);
    CHECK(plan.uploads[1].archive);
    CHECK(plan.uploads[2].archive);
    // The same name in another tier is another object.
    const auto other = plan_offsite({f}, {}, {{diff, f.name, 5000}}, RetentionConfig{}, now);
    REQUIRE(other.uploads.size() == 1);
    CHECK(other.uploads[0].archive);
}

TEST_CASE("offsite plan: a local archive remote retention would delete at once is not uploaded") {
    // Remote policy: incrementals for 3 days. The 10-day-old incremental is superseded by the
    // newer one (same database): uploading it would only be deleted again.
    RetentionConfig remote;
    remote.incremental_days = 3;
    Manifest f = at(full, 20, 5000);
    Manifest old_i = at(incr, 10, 300);
    Manifest new_i = at(incr, 1, 400);
    const auto plan = plan_offsite({f, old_i, new_i}, {}, {}, remote, now);
    CHECK(upload_names(plan) == std::vector<std::string>{f.name, new_i.name});
    CHECK(plan.pending_bytes == 5400);
    CHECK(plan.retention.empty());  // old_i is not in the bucket: nothing to delete there
}

TEST_CASE("offsite plan: shorter remote days delete old remote archives, the newest full stays") {
    RetentionConfig remote;
    remote.incremental_days = 1;
    remote.differential_days = 1;
    remote.full_days = 7;
    remote.min_full = 1;
    Manifest f60 = at(full, 60);
    Manifest f30 = at(full, 30);
    Manifest i20 = at(incr, 20);
    Manifest d10 = at(diff, 10);
    Manifest f9 = at(full, 9);
    Manifest i5 = at(incr, 5);
    Manifest i0 = at(incr, 0.5);
    const std::vector<Manifest> bucket = {f60, f30, i20, d10, f9, i5};
    std::vector<RemoteFiles> files;
    for (const auto& m : bucket) files.push_back({m.type, m.name, m.compressed_size});
    // Locally: the newest full, its incremental and a new incremental.
    const auto plan = plan_offsite({f9, i5, i0}, bucket, files, remote, now);
    CHECK(upload_names(plan) == std::vector<std::string>{i0.name});
    const auto r = retention_of(plan);
    // Every archive of the bucket is decided, the one being uploaded is not listed.
    CHECK(r.size() == bucket.size());
    CHECK(r.count(i0.name) == 0);
    CHECK(r.at(f60.name) == false);
    CHECK(r.at(f30.name) == false);
    CHECK(r.at(i20.name) == false);
    CHECK(r.at(d10.name) == true);  // the newest differential
    CHECK(r.at(f9.name) == true);   // the newest full, 9 days old with full_days 7
    CHECK(r.at(i5.name) == false);  // superseded by i0 (same database), older than 1 day
    for (const auto& d : plan.retention) {
        INFO(d.name);
        if (d.name == f9.name) CHECK_THAT(d.reason, match::Contains("newest full"));
        if (d.name == f60.name) CHECK_THAT(d.reason, match::Contains("> 7 days (full_days)"));
    }
}

TEST_CASE("offsite plan: the remote retention judges the bucket as it will be after uploads") {
    // The bucket's only full is old; a newer local full is about to be uploaded: with min_full
    // 1 the old one goes, because the new one will be there.
    RetentionConfig remote;
    remote.full_days = 7;
    remote.min_full = 1;
    Manifest f30 = at(full, 30);
    Manifest f2 = at(full, 2);
    const auto plan = plan_offsite({f30, f2}, {f30}, {{full, f30.name, 1000}}, remote, now);
    CHECK(upload_names(plan) == std::vector<std::string>{f2.name});
    CHECK(retention_of(plan) == std::map<std::string, bool>{{f30.name, false}});
    // Without the new full, the old one is the newest and stays.
    const auto alone = plan_offsite({f30}, {f30}, {{full, f30.name, 1000}}, remote, now);
    CHECK(alone.uploads.empty());
    CHECK(retention_of(alone) == std::map<std::string, bool>{{f30.name, true}});
}

TEST_CASE("offsite: pending and synced_through round trip") {
    Manifest f = at(full, 3);
    Manifest i = at(incr, 2);
    const std::vector<Manifest> local = {i, f};
    // Never synced: everything waits, oldest first.
    auto pending = offsite_pending(local, std::nullopt);
    REQUIRE(pending.size() == 2);
    CHECK(pending[0].name == f.name);
    CHECK(pending[1].name == i.name);

    // A sync that left nothing: nothing waits.
    auto through = synced_through_after(local, {}, std::nullopt);
    REQUIRE(through.has_value());
    CHECK(*through == i.finished_at);
    CHECK(offsite_pending(local, through).empty());

    // A later archive waits, the earlier ones do not.
    Manifest later = at(incr, 1);
    std::vector<Manifest> grown = {f, i, later};
    pending = offsite_pending(grown, through);
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].name == later.name);

    // A sync that left `later` and a newer one: synced_through is just before the oldest.
    Manifest newest = at(incr, 0.5);
    grown.push_back(newest);
    through = synced_through_after(grown, {later, newest}, through);
    REQUIRE(through.has_value());
    CHECK(*through < later.finished_at);
    CHECK(*through > i.finished_at);
    pending = offsite_pending(grown, through);
    REQUIRE(pending.size() == 2);
    CHECK(pending[0].name == later.name);
    CHECK(pending[1].name == newest.name);

    // Still pending in any order: the oldest decides.
    CHECK(synced_through_after(grown, {newest, later}, std::nullopt) == through);

    // Nothing local and nothing pending: the previous value stays.
    const auto before = *parse_utc_iso("2026-01-01T00:00:00Z");
    CHECK(synced_through_after({}, {}, before) == before);
    CHECK_FALSE(synced_through_after({}, {}, std::nullopt).has_value());
    // A local archive older than the previous value does not move it back.
    CHECK(synced_through_after({f}, {}, now) == now);
}

TEST_CASE("offsite: the lag is a health problem only beyond max_lag") {
    Manifest old = at(full, 0, 1000);  // finished just now
    old.finished_at = hours_ago(3);
    Manifest young = at(incr, 0, 1000);
    young.finished_at = hours_ago(1);
    CHECK_FALSE(judge_offsite_lag({}, 60, now, "").has_value());
    CHECK_FALSE(judge_offsite_lag({old, young}, 6 * 3600, now, "boom").has_value());
    CHECK_FALSE(judge_offsite_lag({old, young}, 3 * 3600, now, "").has_value());  // exactly
    const auto problem = judge_offsite_lag({old, young}, 3600, now, "");
    REQUIRE(problem.has_value());
    CHECK(*problem == "offsite: " + old.name +
                          " has waited 3.0 h for its upload (offsite.max_lag 60 min; 2 archives "
                          "pending)");
    const auto with_error = judge_offsite_lag({old}, 90, now, "connection refused");
    REQUIRE(with_error.has_value());
    CHECK_THAT(*with_error, match::StartsWith("offsite: " + old.name + " has waited 3.0 h") &&
                                match::Contains("offsite.max_lag 90.0 s; 1 archive pending)") &&
                                match::EndsWith("; last error: connection refused"));
}

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "pgtier-store-XXXXXX").string();
        path = mkdtemp(pattern.data());
    }
    ~TempDir() { fs::remove_all(path); }
};

std::string read_all(const ArchiveSource& source) {
    std::string out;
    source.read(0, source.size(), "the test",
                [&](const char* data, std::size_t n) { out.append(data, n); });
    return out;
}

std::vector<std::string> names_of(const std::vector<StoredFile>& files) {
    std::vector<std::string> out;
    for (const auto& f : files) out.push_back(f.name + ":" + std::to_string(f.size));
    return out;
}

std::string thrown_by(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& err) {
        return err.what();
    }
    return "";
}

}  // namespace

TEST_CASE("LocalStore: list, read, put and remove in the tier folders") {
    TempDir tmp;
    const fs::path dir = tmp.path / "backups";
    const LocalStore store(dir);
    // A missing directory lists as empty and reads as missing.
    CHECK(store.list(full).empty());
    CHECK_FALSE(store.read_small(full, "x.json").has_value());
    CHECK_THAT(thrown_by([&] { store.open(full, "x.sql.bz2"); }),
               match::Contains((dir / "full" / "x.sql.bz2").string()));
    CHECK_FALSE(store.remove(full, "x.json"));
    CHECK(store.describe() == dir.string());
    CHECK(store.describe(incr, "a.sql.bz2") == (dir / "incremental" / "a.sql.bz2").string());

    store.put_small(incr, "b.json", "{\"b\":1}\n");
    store.put_small(incr, "a.json", "{}");
    CHECK(store.read_small(incr, "b.json") == std::optional<std::string>("{\"b\":1}\n"));
    CHECK(names_of(store.list(incr)) == std::vector<std::string>{"a.json:2", "b.json:8"});
    CHECK(store.list(full).empty());
    store.put_small(incr, "a.json", "replaced");
    CHECK(store.read_small(incr, "a.json") == std::optional<std::string>("replaced"));

    // put_file copies `size` bytes of a descriptor from offset 0, whatever its position.
    const fs::path source = tmp.path / "source.bin";
    std::string content;
    for (int i = 0; i < 3 << 20; ++i) content += static_cast<char>(i * 7 + (i >> 12));
    std::ofstream(source, std::ios::binary) << content;
    const int fd = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::lseek(fd, 100, SEEK_SET) == 100);
    store.put_file(full, "f.sql.bz2", fd, content.size());
    ::close(fd);
    CHECK(names_of(store.list(full)) ==
          std::vector<std::string>{"f.sql.bz2:" + std::to_string(content.size())});
    const auto opened = store.open(full, "f.sql.bz2");
    CHECK(opened->name() == "f.sql.bz2");
    CHECK(opened->describe() == (dir / "full" / "f.sql.bz2").string());
    CHECK(opened->size() == content.size());
    CHECK(read_all(*opened) == content);
    std::string middle;
    opened->read(1000, 10, "a range", [&](const char* d, std::size_t n) { middle.append(d, n); });
    CHECK(middle == content.substr(1000, 10));
    CHECK_THAT(thrown_by([&] {
                   opened->read(content.size() - 5, 10, "the tail",
                                [](const char*, std::size_t) {});
               }),
               match::Contains("is truncated: the tail should end at byte"));
    // No temporary file stays behind.
    for (const auto& e : fs::directory_iterator(dir / "full"))
        CHECK(e.path().filename() == "f.sql.bz2");

    CHECK(store.remove(full, "f.sql.bz2"));
    CHECK_FALSE(store.remove(full, "f.sql.bz2"));
    CHECK(store.list(full).empty());
    CHECK_THAT(thrown_by([&] { store.open(full, "f.sql.bz2"); }), match::Contains("cannot open"));
}

TEST_CASE("LocalStore: a symbolic link in a tier folder is neither listed nor followed") {
    TempDir tmp;
    const fs::path dir = tmp.path / "backups";
    const LocalStore store(dir);
    store.put_small(full, "real.json", "real");
    const fs::path outside = tmp.path / "secret.txt";
    std::ofstream(outside) << "outside the backup directory";
    fs::create_symlink(outside, dir / "full" / "link.sql.bz2");
    fs::create_symlink(outside, dir / "full" / "link.json");
    fs::create_directory(dir / "full" / "sub");
    CHECK(names_of(store.list(full)) == std::vector<std::string>{"real.json:4"});
    CHECK_THAT(thrown_by([&] { store.open(full, "link.sql.bz2"); }),
               match::Contains((dir / "full" / "link.sql.bz2").string()));
    CHECK_THAT(thrown_by([&] { store.read_small(full, "link.json"); }),
               match::Contains((dir / "full" / "link.json").string()));
    CHECK_THAT(thrown_by([&] { store.open(full, "sub"); }),
               match::Contains((dir / "full" / "sub").string()));
    // remove takes the link itself away, never its target.
    CHECK(store.remove(full, "link.json"));
    CHECK(fs::exists(outside));
    CHECK_FALSE(fs::is_symlink(dir / "full" / "link.json"));
    // Names that are not one entry of the folder are refused.
    CHECK_FALSE(thrown_by([&] { store.read_small(full, "../full/real.json"); }).empty());
    CHECK_FALSE(thrown_by([&] { store.open(full, ".."); }).empty());
}
