#include "catch_compat.hpp"

#include "pgtier/sys/process.hpp"

using namespace pgtier;

TEST_CASE("client environment: only what libpq, pg_dump and psql need is passed on") {
    const std::vector<std::string> inherited = {
        "PATH=/usr/bin",
        "HOME=/root",
        "LANG=C.UTF-8",
        "LC_ALL=C.UTF-8",
        "TZ=Europe/Paris",
        "PGHOST=/run/postgresql",
        "PGSSLMODE=verify-full",
        "PGPASSWORD=pg-secret",
        "AWS_ACCESS_KEY_ID=AKIA",
        "AWS_SECRET_ACCESS_KEY=aws-secret",
        "AWS_SESSION_TOKEN=token",
        "AWS_SECRET_ACCESS_KEY_FILE=/run/secrets/s3",
        "PGTIER_OFFSITE_SECRET_ACCESS_KEY_FILE=/run/secrets/s3",
        "POSTGRES_PASSWORD_FILE=/run/secrets/pg",
        "PSQLRC=/tmp/evil",
        "LC_=x",
        "NOEQUALS",
    };
    const auto env = client_environment(inherited, {"PGPASSFILE=/proc/self/fd/5"});
    CHECK(env == std::vector<std::string>{"PATH=/usr/bin", "HOME=/root", "LANG=C.UTF-8",
                                          "LC_ALL=C.UTF-8", "TZ=Europe/Paris",
                                          "PGHOST=/run/postgresql", "PGSSLMODE=verify-full",
                                          "PGPASSFILE=/proc/self/fd/5"});
}

TEST_CASE("client environment: an extra entry replaces the inherited one") {
    const auto env =
        client_environment({"PGPASSFILE=/home/u/.pgpass", "PGAPPNAME=mine"}, {"PGAPPNAME=x"});
    CHECK(env == std::vector<std::string>{"PGPASSFILE=/home/u/.pgpass", "PGAPPNAME=x"});
}

TEST_CASE("a child gets the later of two entries with one name") {
    const auto out = run_and_capture(
        {{"sh", "-c", "printf '%s|%s' \"$A\" \"${B-unset}\""}, {"A=first", "A=second"}});
    CHECK(out == "second|unset");
}
