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

TEST_CASE("compression threads are split between the sections compressed at once") {
    using pgtier::section_threads;
    CHECK(section_threads(0, 16, 4) == 4);  // 0 = one per core
    CHECK(section_threads(8, 16, 4) == 2);
    CHECK(section_threads(8, 16, 3) == 2);
    CHECK(section_threads(2, 2, 4) == 1);  // at least one each
    CHECK(section_threads(0, 0, 2) == 1);  // unknown core count
    CHECK(section_threads(6, 16, 1) == 6);
}
