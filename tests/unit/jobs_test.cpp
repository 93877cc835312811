#include "catch_compat.hpp"

#include "pgtier/core/jobs.hpp"

using pgtier::default_jobs;

TEST_CASE("default jobs: a quarter of the cores, between 2 and 8") {
    CHECK(default_jobs(0) == 2);
    CHECK(default_jobs(1) == 2);
    CHECK(default_jobs(2) == 2);
    CHECK(default_jobs(12) == 3);
    CHECK(default_jobs(16) == 4);
    CHECK(default_jobs(32) == 8);
    CHECK(default_jobs(256) == 8);
}

TEST_CASE("backup jobs: the configured number, 0 for the default") {
    using pgtier::backup_jobs;
    CHECK(backup_jobs(0, 2) == 2);
    CHECK(backup_jobs(0, 32) == 8);
    CHECK(backup_jobs(1, 32) == 1);
    CHECK(backup_jobs(12, 2) == 12);
}
