#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <fstream>

#include "pgtier/naming.hpp"
#include "pgtier/repository.hpp"
#include "pgtier/sha256.hpp"

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
    struct stat st {};
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
    const auto partial = repo.tier_dir(m.type) / partial_name(m.name);
    write(partial, content);
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
    // An interrupted publication: renamed, sidecar written, no manifest.
    write(dir / "20260101_000100_incremental.sql.bz2", "renamed");
    write(dir / "20260101_000100_incremental.sql.bz2.sha256", "x");
    write(repo.state_dir() / "publishing", "incremental/20260101_000100_incremental.sql.bz2\n");
    // An old shell-script archive without manifest, and an unrelated file: never touched.
    write(dir / "20200101_000000_incremental.sql.bz2", "legacy");
    write(dir / "README.txt", "mine");

    const auto removed = repo.sweep();
    CHECK(removed.size() == 4);
    CHECK_FALSE(fs::exists(dir / ".20260101_000000_incremental.sql.bz2.partial"));
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
    const auto first = repo.new_archive_name(BackupType::full, tm);
    write(repo.tier_dir(BackupType::full) / partial_name(first), "x");
    const auto second = repo.new_archive_name(BackupType::full, tm);
    CHECK(first != second);
    CHECK(looks_like_archive(second, BackupType::full));
}

TEST_CASE("ensure_layout reports a directory it cannot create") {
    TempDir tmp;
    write(tmp.path / "file", "x");
    Repository repo(tmp.path / "file" / "backups");
    CHECK_THROWS_WITH(repo.ensure_layout(), Catch::Contains("cannot create backup directory"));
}
