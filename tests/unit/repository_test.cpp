#include <sys/stat.h>
#include <unistd.h>

#include "catch_compat.hpp"

#include <fstream>
#include <iterator>

#include "pgtier/archive/sha256.hpp"
#include "pgtier/core/naming.hpp"
#include "pgtier/storage/repository.hpp"

using namespace pgtier;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "pgtier-repo-XXXXXX").string();
        path = mkdtemp(pattern.data());
    }
    ~TempDir() { fs::remove_all(path); }
};

void write(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
}

mode_t mode_of(const fs::path& p) {
    struct stat st = {};
    lstat(p.c_str(), &st);
    return st.st_mode & 07777;
}

Manifest manifest_for(BackupType type, const std::string& name, const std::string& at,
                      const std::string& content) {
    Manifest m;
    m.type = type;
    m.name = name;
    m.started_at = *parse_utc_iso(at);
    m.finished_at = m.started_at;
    m.compressed_size = content.size();
    m.sha256 = sha256_hex(content);
    return m;
}

void publish(const Repository& repo, const Manifest& m, const std::string& content) {
    auto partial = repo.create_partial(m.type, m.name);
    REQUIRE(::write(partial.fd(), content.data(), content.size()) ==
            static_cast<ssize_t>(content.size()));
    partial.sync_and_close();
    repo.publish(partial, m);
}

}  // namespace

TEST_CASE("publish writes archive, sidecar, manifest and a relative latest link") {
    TempDir tmp;
    Repository repo(tmp.path / "backups");
    repo.ensure_layout();
    CHECK(mode_of(repo.tier_dir(BackupType::full)) == 0750);

    publish(repo,
            manifest_for(BackupType::full, "20260101_000000_full.sql.bz2", "2026-01-01T00:00:00Z",
                         "one"),
            "one");
    const auto dir = repo.tier_dir(BackupType::full);
    CHECK(fs::exists(dir / "20260101_000000_full.sql.bz2"));
    CHECK_FALSE(fs::exists(dir / ".20260101_000000_full.sql.bz2.partial"));
    std::ifstream sidecar(dir / "20260101_000000_full.sql.bz2.sha256");
    std::string line;
    std::getline(sidecar, line);
    CHECK(line == sha256_hex("one") + "  20260101_000000_full.sql.bz2");
    CHECK(mode_of(dir / "20260101_000000_full.sql.bz2.json") == 0640);
    CHECK(fs::read_symlink(dir / "latest_full.sql.bz2") == "20260101_000000_full.sql.bz2");
    CHECK_FALSE(fs::exists(repo.state_dir() / "publishing"));

    publish(repo,
            manifest_for(BackupType::full, "20260102_000000_full.sql.bz2", "2026-01-02T00:00:00Z",
                         "two"),
            "two");
    CHECK(fs::read_symlink(dir / "latest_full.sql.bz2") == "20260102_000000_full.sql.bz2");

    const auto manifests = repo.published_manifests();
    REQUIRE(manifests.size() == 2);
    CHECK(manifests[0].name == "20260101_000000_full.sql.bz2");
    CHECK(repo.resolve("latest-full") == dir / "20260102_000000_full.sql.bz2");
    CHECK(repo.resolve("20260101_000000_full.sql.bz2") == dir / "20260101_000000_full.sql.bz2");
    CHECK_FALSE(repo.resolve("latest-incremental").has_value());
}

TEST_CASE("sweep removes crash leftovers and nothing pgtier did not make") {
    TempDir tmp;
    Repository repo(tmp.path);
    repo.ensure_layout();
    const auto dir = repo.tier_dir(BackupType::incremental);
    write(dir / ".20260101_000000_incremental.sql.bz2.partial", "half");
    write(dir / ".20260101_000000_incremental.sql.bz2.json.tmp", "{");
    // A parallel backup's section spool.
    write(dir / ".20260101_000000_incremental.sql.bz2.section-2.partial", "spooled");
    write(dir / ".notes.section-2.partial", "not pgtier's");
    // An interrupted publication: renamed, sidecar written, no manifest.
    write(dir / "20260101_000100_incremental.sql.bz2", "renamed");
    write(dir / "20260101_000100_incremental.sql.bz2.sha256", "x");
    write(repo.state_dir() / "publishing", "incremental/20260101_000100_incremental.sql.bz2\n");
    // An old shell-script archive without manifest, and an unrelated file: never touched.
    write(dir / "20200101_000000_incremental.sql.bz2", "legacy");
    write(dir / "README.txt", "mine");

    const auto removed = repo.sweep();
    CHECK(removed.size() == 5);
    CHECK_FALSE(fs::exists(dir / ".20260101_000000_incremental.sql.bz2.partial"));
    CHECK_FALSE(fs::exists(dir / ".20260101_000000_incremental.sql.bz2.section-2.partial"));
    CHECK(fs::exists(dir / ".notes.section-2.partial"));
    CHECK_FALSE(fs::exists(dir / "20260101_000100_incremental.sql.bz2"));
    CHECK_FALSE(fs::exists(dir / "20260101_000100_incremental.sql.bz2.sha256"));
    CHECK_FALSE(fs::exists(repo.state_dir() / "publishing"));
    CHECK(fs::exists(dir / "20200101_000000_incremental.sql.bz2"));
    CHECK(fs::exists(dir / "README.txt"));

    const auto entries = repo.scan();
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].state == ArchiveState::missing_manifest);
    CHECK(repo.published_manifests().empty());
}

TEST_CASE("two archives in one second get distinct names") {
    TempDir tmp;
    Repository repo(tmp.path);
    repo.ensure_layout();
    std::tm tm{};
    tm.tm_year = 126;
    tm.tm_mday = 1;
    const auto first = repo.new_archive_name(BackupType::full, tm, CompressionFormat::bzip2);
    write(repo.tier_dir(BackupType::full) / partial_name(first), "x");
    const auto second = repo.new_archive_name(BackupType::full, tm, CompressionFormat::bzip2);
    CHECK(first != second);
    CHECK(looks_like_archive(second, BackupType::full));
    // A time stamp names one archive of the tier, whatever its format.
    write(repo.tier_dir(BackupType::full) / second, "x");
    const auto third = repo.new_archive_name(BackupType::full, tm, CompressionFormat::zstd);
    CHECK(third == "20260101_000000-3_full.sql.zst");
}

TEST_CASE("bzip2 and zstd archives in one tier: one latest link, with the newest's extension") {
    TempDir tmp;
    Repository repo(tmp.path);
    repo.ensure_layout();
    const auto dir = repo.tier_dir(BackupType::full);
    const std::string bz2 = "20260101_000000_full.sql.bz2";
    const std::string zst = "20260102_000000_full.sql.zst";
    publish(repo, manifest_for(BackupType::full, bz2, "2026-01-01T00:00:00Z", "one"), "one");
    CHECK(fs::read_symlink(dir / "latest_full.sql.bz2") == bz2);
    publish(repo, manifest_for(BackupType::full, zst, "2026-01-02T00:00:00Z", "two"), "two");
    CHECK(fs::read_symlink(dir / "latest_full.sql.zst") == zst);
    // A script reading latest_full.sql.bz2 fails instead of restoring the older archive.
    CHECK_FALSE(fs::exists(fs::symlink_status(dir / "latest_full.sql.bz2")));
    CHECK(fs::exists(dir / (zst + ".sha256")));
    CHECK(fs::exists(dir / (zst + ".json")));

    const auto manifests = repo.published_manifests();
    REQUIRE(manifests.size() == 2);
    CHECK(manifests[1].name == zst);
    CHECK(repo.resolve("latest-full") == dir / zst);
    CHECK(repo.resolve("latest_full.sql.zst") == dir / zst);
    CHECK(repo.resolve(zst) == dir / zst);

    // Deleting the newest points the link back at the bzip2 one, under its own name.
    repo.remove_archive(BackupType::full, zst);
    CHECK(fs::read_symlink(dir / "latest_full.sql.bz2") == bz2);
    CHECK_FALSE(fs::exists(fs::symlink_status(dir / "latest_full.sql.zst")));
    repo.remove_archive(BackupType::full, bz2);
    CHECK_FALSE(fs::exists(fs::symlink_status(dir / "latest_full.sql.bz2")));

    // The sweep knows the zstd names too.
    write(dir / ".20260103_000000_full.sql.zst.partial", "half");
    write(dir / ".latest_full.sql.zst.tmp", "x");
    write(dir / ".20260103_000000_full.sql.zst.sha256.tmp", "x");
    CHECK(repo.sweep().size() == 3);
}

TEST_CASE("ensure_layout reports a directory it cannot create") {
    TempDir tmp;
    write(tmp.path / "file", "x");
    Repository repo(tmp.path / "file" / "backups");
    CHECK_THROWS_WITH(repo.ensure_layout(), match::Contains("cannot create backup directory"));
}

// --- the backup directory is untrusted input (issue 11) ------------------------------------

namespace {

// A file outside the backup directory that planted names point at; it must never change.
struct Victim {
    fs::path path;
    explicit Victim(const fs::path& p) : path(p) {
        write(path, "victim\n");
        ::chmod(path.c_str(), 0604);
    }
    void check_untouched() const {
        REQUIRE(fs::exists(path));
        CHECK(mode_of(path) == 0604);
        std::ifstream in(path);
        std::string text((std::istreambuf_iterator<char>(in)), {});
        CHECK(text == "victim\n");
    }
};

}  // namespace

TEST_CASE("a symbolic link planted at the lock or a state file is refused, not followed") {
    TempDir tmp;
    Repository repo(tmp.path / "backups");
    repo.ensure_layout();
    const Victim victim(tmp.path / "victim");

    fs::create_symlink(victim.path, repo.state_dir() / "lock");
    CHECK_THROWS_WITH(repo.lock(), match::Contains("refusing") && match::Contains("lock") &&
                                       match::Contains("symbolic link"));
    CHECK_FALSE(repo.lock_held());
    fs::remove(repo.state_dir() / "lock");

    // A link at the temporary or the final name is replaced, never written through.
    fs::create_symlink(victim.path, repo.state_dir() / ".status.json.tmp");
    repo.write_state_file("status.json", "{}");
    CHECK_FALSE(fs::exists(fs::symlink_status(repo.state_dir() / ".status.json.tmp")));
    CHECK(mode_of(repo.state_dir() / "status.json") == 0640);
    fs::remove(repo.state_dir() / "status.json");
    fs::create_symlink(victim.path, repo.state_dir() / "metrics.prom");
    repo.write_state_file("metrics.prom", "# metrics\n");
    CHECK_FALSE(fs::is_symlink(repo.state_dir() / "metrics.prom"));
    CHECK(mode_of(repo.state_dir() / "metrics.prom") == 0640);
    // Reading through a link is refused too.
    fs::create_symlink(victim.path, repo.state_dir() / "status.json");
    CHECK_THROWS_WITH(repo.read_state_file("status.json"), match::Contains("symbolic link"));
    victim.check_untouched();
}

TEST_CASE("a hard link at the lock is refused") {
    TempDir tmp;
    Repository repo(tmp.path / "backups");
    repo.ensure_layout();
    const Victim victim(tmp.path / "victim");
    REQUIRE(::link(victim.path.c_str(), (repo.state_dir() / "lock").c_str()) == 0);
    CHECK_THROWS_WITH(repo.lock(), match::Contains("hard links"));
    victim.check_untouched();
}

TEST_CASE("a tier folder or .pgtier that is a link is refused") {
    TempDir tmp;
    fs::create_directories(tmp.path / "elsewhere");
    fs::create_directories(tmp.path / "backups");
    fs::create_directory_symlink(tmp.path / "elsewhere", tmp.path / "backups" / "full");
    Repository repo(tmp.path / "backups");
    CHECK_THROWS_WITH(repo.ensure_layout(),
                      match::Contains("full") && match::Contains("symbolic link"));
    CHECK_THROWS_WITH(repo.scan(), match::Contains("symbolic link"));
    CHECK(fs::is_empty(tmp.path / "elsewhere"));
}

TEST_CASE("the sweep acts only on an archive name of pgtier's in .pgtier/publishing") {
    TempDir tmp;
    Repository repo(tmp.path / "backups");
    repo.ensure_layout();
    const Victim victim(tmp.path / "victim4");
    const Victim sidecar(tmp.path / "victim4.sha256");
    for (const std::string& planted : std::vector<std::string>{
             victim.path.string(), "full/../../victim4", "full/" + victim.path.string(),
             "../victim4", "incremental/20260101_000000_full.sql.bz2", "nonsense"}) {
        write(repo.state_dir() / "publishing", planted + "\n");
        CHECK(repo.sweep().empty());
        CHECK_FALSE(fs::exists(repo.state_dir() / "publishing"));
    }
    victim.check_untouched();
    sidecar.check_untouched();
    // Leftovers are only pgtier's own temporary names.
    const auto dir = repo.tier_dir(BackupType::full);
    write(dir / ".mine.partial", "operator");
    write(dir / ".notes.tmp", "operator");
    fs::create_symlink(victim.path, dir / ".20260101_000000_full.sql.bz2.partial");
    const auto removed = repo.sweep();
    REQUIRE(removed.size() == 1);  // the link itself, named as a partial of pgtier's
    CHECK(fs::exists(dir / ".mine.partial"));
    CHECK(fs::exists(dir / ".notes.tmp"));
    victim.check_untouched();
}

TEST_CASE("a manifest that names another file is reported and never acted on") {
    TempDir tmp;
    Repository repo(tmp.path / "backups");
    repo.ensure_layout();
    const Victim victim(tmp.path / "secret.txt");
    const Victim victim_json(tmp.path / "secret.txt.json");
    const std::string name = "20260101_000000_full.sql.bz2";
    const auto dir = repo.tier_dir(BackupType::full);
    auto m = manifest_for(BackupType::full, name, "2026-01-01T00:00:00Z", "x");
    m.name = "../../secret.txt";
    write(dir / name, "x");
    write(dir / sidecar_name(name), sha256_hex("x") + "  " + name + "\n");
    write(dir / manifest_name(name), manifest_to_json(m));

    const auto entries = repo.scan();
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].state == ArchiveState::foreign_manifest);
    CHECK_THAT(entries[0].problem, match::Contains("../../secret.txt"));
    CHECK(repo.published_manifests().empty());
    CHECK_THROWS_WITH(repo.resolve("latest-full"), match::Contains("../../secret.txt"));
    CHECK_THROWS_WITH(repo.remove_archive(BackupType::full, m.name),
                      match::Contains("not an archive name"));
    victim.check_untouched();
    victim_json.check_untouched();

    // The same file under another tier's folder type is refused the same way.
    m.name = name;
    m.type = BackupType::incremental;
    write(dir / manifest_name(name), manifest_to_json(m));
    CHECK(repo.scan().at(0).state == ArchiveState::foreign_manifest);
}

TEST_CASE("a latest link resolves one level, to an archive in its own folder") {
    TempDir tmp;
    Repository repo(tmp.path / "backups");
    repo.ensure_layout();
    const std::string name = "20260101_000000_full.sql.bz2";
    publish(repo, manifest_for(BackupType::full, name, "2026-01-01T00:00:00Z", "one"), "one");
    const auto dir = repo.tier_dir(BackupType::full);
    CHECK(repo.resolve((dir / "latest_full.sql.bz2").string()) == dir / name);
    CHECK(repo.resolve("latest_full.sql.bz2") == dir / name);

    const Victim victim(tmp.path / "20260101_000000_full.sql.bz2");
    fs::create_symlink(victim.path, dir / "20260102_000000_full.sql.bz2");
    CHECK_THROWS_WITH(
        repo.resolve("20260102_000000_full.sql.bz2"),
        match::Contains("refusing") && match::Contains("not an archive in the same folder"));
    fs::create_symlink("../../etc/passwd", dir / "evil");
    CHECK_THROWS_WITH(repo.resolve((dir / "evil").string()), match::Contains("refusing"));
}

TEST_CASE("modes are 0750 and 0640 whatever the umask") {
    TempDir tmp;
    const mode_t old = ::umask(077);
    Repository repo(tmp.path / "backups");
    repo.ensure_layout();
    publish(repo,
            manifest_for(BackupType::full, "20260101_000000_full.sql.bz2", "2026-01-01T00:00:00Z",
                         "one"),
            "one");
    { auto lock = repo.lock(); }
    ::umask(old);
    CHECK(mode_of(repo.dir()) == 0750);
    CHECK(mode_of(repo.state_dir()) == 0750);
    CHECK(mode_of(repo.tier_dir(BackupType::incremental)) == 0750);
    CHECK(mode_of(repo.state_dir() / "lock") == 0640);
    const auto dir = repo.tier_dir(BackupType::full);
    for (const auto* file : {"20260101_000000_full.sql.bz2", "20260101_000000_full.sql.bz2.json",
                             "20260101_000000_full.sql.bz2.sha256"})
        CHECK(mode_of(dir / file) == 0640);
}

TEST_CASE("a missing backup directory is an error, not an empty one") {
    TempDir tmp;
    Repository repo(tmp.path / "nonexistent");
    CHECK_THROWS_WITH(repo.require_exists(), match::Contains("does not exist"));
    CHECK_THROWS_WITH(repo.scan(), match::Contains("does not exist"));
}

TEST_CASE("a deletion leaves an intent until its last file is gone") {
    TempDir tmp;
    Repository repo(tmp.path / "backups");
    repo.ensure_layout();
    const std::string name = "20260101_000000_full.sql.bz2";
    const auto m = manifest_for(BackupType::full, name, "2026-01-01T00:00:00Z", "one");
    publish(repo, m, "one");
    repo.remove_archive(BackupType::full, name);
    const auto dir = repo.tier_dir(BackupType::full);
    for (const auto& file : {name, sidecar_name(name), manifest_name(name), name + ".deleting"})
        CHECK_FALSE(fs::exists(dir / file));
    // Without a manifest of its own an archive is not pgtier's to delete.
    write(dir / name, "x");
    CHECK_THROWS_WITH(repo.remove_archive(BackupType::full, name), match::Contains("no manifest"));
    CHECK(fs::exists(dir / name));
}

// The states a kill leaves in the middle of remove_archive (intent, manifest, archive, sidecar,
// intent), written here file by file, and the next run's sweep.
TEST_CASE("the sweep completes an interrupted deletion and only that one") {
    TempDir tmp;
    Repository repo(tmp.path / "backups");
    repo.ensure_layout();
    const auto dir = repo.tier_dir(BackupType::full);
    const auto archive = [&](const std::string& name, const std::string& content) {
        const auto m = manifest_for(BackupType::full, name,
                                    "2026-01-0" + name.substr(7, 1) + "T00:00:00Z", content);
        publish(repo, m, content);
        return m;
    };
    const auto intent = [&](const std::string& name, const std::string& content) {
        write(dir / (name + ".deleting"), sha256_hex(content) + "  " + name + "\n");
    };
    // Killed after the manifest went: archive and sidecar stay.
    const std::string a = "20260101_000000_full.sql.bz2";
    archive(a, "a");
    intent(a, "a");
    fs::remove(dir / manifest_name(a));
    // Killed after the archive went: the sidecar stays.
    const std::string b = "20260102_000000_full.sql.bz2";
    archive(b, "b");
    intent(b, "b");
    fs::remove(dir / manifest_name(b));
    fs::remove(dir / b);
    // Killed before anything went: manifest, archive, sidecar stay.
    const std::string c = "20260103_000000_full.sql.bz2";
    archive(c, "c");
    intent(c, "c");
    // An intent for an archive whose manifest records other bytes (not the one decided).
    const std::string d = "20260104_000000_full.sql.bz2";
    archive(d, "d");
    intent(d, "other");
    // An intent beside an archive without manifest whose sidecar disagrees with it.
    const std::string e = "20260105_000000_full.sql.bz2";
    write(dir / e, "e");
    write(dir / sidecar_name(e), sha256_hex("e") + "  " + e + "\n");
    intent(e, "not e");
    // An old script's archive and sidecar: no manifest, no intent.
    const std::string old = "20200101_000000_full.sql.bz2";
    write(dir / old, "old");
    write(dir / sidecar_name(old), sha256_hex("old") + "  " + old + "\n");
    // An intent-like name that is not an archive name of pgtier's.
    write(dir / "notes.deleting", "x");

    repo.sweep();
    for (const auto& gone : {a, b, c}) {
        for (const auto& file : {gone, sidecar_name(gone), manifest_name(gone), gone + ".deleting"})
            CHECK_FALSE(fs::exists(dir / file));
    }
    for (const auto& file : {d, sidecar_name(d), manifest_name(d), e, sidecar_name(e), old,
                             sidecar_name(old), std::string("notes.deleting")})
        CHECK(fs::exists(dir / file));
    CHECK_FALSE(fs::exists(dir / (d + ".deleting")));
    CHECK_FALSE(fs::exists(dir / (e + ".deleting")));
    // latest_full names the newest archive left.
    CHECK(fs::read_symlink(dir / "latest_full.sql.bz2") == d);
    const auto published = repo.published_manifests();
    REQUIRE(published.size() == 1);
    CHECK(published[0].name == d);
}
