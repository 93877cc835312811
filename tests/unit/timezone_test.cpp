// Issue 11: a time zone is accepted only when it names a TZif file inside the zone database.
#include <unistd.h>

#include "catch_compat.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "pgtier/core/errors.hpp"
#include "pgtier/sys/clock.hpp"
#include "pgtier/sys/config.hpp"

using namespace pgtier;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "pgtier-tz-XXXXXX").string();
        path = mkdtemp(pattern.data());
    }
    ~TempDir() { fs::remove_all(path); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
}

// A small zone database: real-looking TZif files, a table, a directory and links.
struct ZoneDb {
    TempDir tmp;
    fs::path dir = tmp.path / "zoneinfo";
    ZoneDb() {
        write(dir / "Europe" / "Berlin", std::string("TZif2\0\0\0", 8));
        write(dir / "Etc" / "GMT+5", "TZif");
        write(dir / "zone.tab", "# tzdb timezone descriptions\nDE\t+5230+01322\tEurope/Berlin\n");
        write(dir / "short", "TZ");
        write(tmp.path / "outside", "TZif2 but outside the database");
        fs::create_symlink("Europe/Berlin", dir / "Link");
        fs::create_symlink("../outside", dir / "Escape");
        fs::create_symlink("nowhere", dir / "Dangling");
        fs::create_directories(dir / "empty");
    }
    std::optional<std::string> problem(const std::string& zone) const {
        try {
            check_timezone(zone, dir);
            return std::nullopt;
        } catch (const ConfigError& e) {
            return e.what();
        }
    }
};

}  // namespace

TEST_CASE("a zone name that resolves to a TZif file in the database is a zone") {
    ZoneDb db;
    CHECK_FALSE(db.problem("Europe/Berlin"));
    CHECK_FALSE(db.problem("Etc/GMT+5"));
    CHECK_FALSE(db.problem("Link"));  // a link inside the database
    CHECK_FALSE(db.problem("UTC"));   // built into glibc, no file needed
    CHECK_FALSE(db.problem(""));
}

TEST_CASE("a directory, a table, a path or an escape is not a zone") {
    ZoneDb db;
    auto why = [&](const std::string& zone) { return db.problem(zone).value_or("(accepted)"); };
    CHECK_THAT(why("Europe"), match::Contains("is a directory"));
    CHECK_THAT(why("empty"), match::Contains("is a directory"));
    CHECK_THAT(why("zone.tab"), match::Contains("not a TZif zone file"));
    CHECK_THAT(why("short"), match::Contains("not a TZif zone file"));
    CHECK_THAT(why("../outside"), match::Contains("'..' component"));
    CHECK_THAT(why("../../../etc/passwd"), match::Contains("'..' component"));
    CHECK_THAT(why("Europe/../Europe/Berlin"), match::Contains("'..' component"));
    CHECK_THAT(why("./Europe/Berlin"), match::Contains("'.' component"));
    CHECK_THAT(why("Europe/"), match::Contains("not a time zone name"));
    CHECK_THAT(why((db.dir / "Europe" / "Berlin").string()), match::Contains("is a path"));
    CHECK_THAT(why("/etc/passwd"), match::Contains("is a path"));
    CHECK_THAT(why("Escape"), match::Contains("outside"));
    CHECK_THAT(why("Dangling"), match::Contains("there is no"));
    CHECK_THAT(why("Mars/Olympus_Mons"), match::Contains("unknown time zone 'Mars/Olympus_Mons'"));
    CHECK_THAT(why("CET-1CEST,M3.5.0,M10.5.0/3"), match::Contains("not a time zone name"));
    CHECK_THAT(why(std::string("Europe/Berlin\0x", 15)), match::Contains("not a time zone name"));
    CHECK_THAT(why("Europe/Berlin\n"), match::Contains("not a time zone name"));
}

TEST_CASE("set_process_timezone refuses what is not a zone, with the database of TZDIR") {
    ZoneDb db;
    const char* old = std::getenv("TZDIR");
    const std::string saved = old != nullptr ? old : "";
    setenv("TZDIR", db.dir.c_str(), 1);
    CHECK(zoneinfo_dir() == db.dir);
    CHECK_THROWS_AS(set_process_timezone("Europe"), ConfigError);
    CHECK_THROWS_AS(set_process_timezone("zone.tab"), ConfigError);
    CHECK_THROWS_AS(set_process_timezone("../../../etc/passwd"), ConfigError);
    CHECK_NOTHROW(set_process_timezone("UTC"));
    CHECK_NOTHROW(set_process_timezone(""));
    if (old != nullptr) {
        setenv("TZDIR", saved.c_str(), 1);
    } else {
        unsetenv("TZDIR");
    }
    CHECK(zoneinfo_dir() ==
          (old != nullptr && *old != '\0' ? fs::path(saved) : fs::path("/usr/share/zoneinfo")));
    set_process_timezone("UTC");
}

TEST_CASE("the system's zone database: real zones pass, its other files do not") {
    if (!fs::exists("/usr/share/zoneinfo/Europe/Berlin")) return;  // no tzdata installed
    const fs::path sys = "/usr/share/zoneinfo";
    CHECK_NOTHROW(check_timezone("Europe/Berlin", sys));
    CHECK_NOTHROW(check_timezone("Asia/Kathmandu", sys));
    CHECK_THROWS_AS(check_timezone("Europe", sys), ConfigError);
    CHECK_THROWS_AS(check_timezone("zone.tab", sys), ConfigError);
    CHECK_THROWS_AS(check_timezone("../../../etc/passwd", sys), ConfigError);
}

TEST_CASE("a bad zone names where it came from") {
    ZoneDb db;
    setenv("TZDIR", db.dir.c_str(), 1);
    auto error_of = [](const Config& config, const Environment& env) -> std::string {
        try {
            apply_timezone(config, env);
        } catch (const ConfigError& err) {
            return err.what();
        }
        return "";
    };
    const Config from_file = parse_config("[schedule]\ntimezone = \"Europe\"\n", "cfg.toml", {});
    CHECK_THAT(error_of(from_file, {}), match::StartsWith("cfg.toml: schedule.timezone: "));
    const Environment env{{"PGTIER_SCHEDULE_TIMEZONE", "zone.tab"}};
    const Config from_env = parse_config("[schedule]\ntimezone = \"UTC\"\n", "cfg.toml", env);
    CHECK_THAT(error_of(from_env, env),
               match::StartsWith("environment variable PGTIER_SCHEDULE_TIMEZONE: "));
    const Config none = parse_config("", "cfg.toml", {});
    CHECK_THAT(error_of(none, {{"TZ", ":../../../etc/passwd"}}),
               match::StartsWith("environment variable TZ: ") && match::Contains("'..' component"));
    CHECK(error_of(none, {{"TZ", "Europe/Berlin"}}).empty());
    unsetenv("TZDIR");
    set_process_timezone("UTC");
}
