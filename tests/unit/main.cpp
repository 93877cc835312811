#define CATCH_CONFIG_RUNNER

#include "catch_compat.hpp"

#include <cstdlib>
#include <ctime>

int main(int argc, char* argv[]) {
    // Cron fields are wall-clock times of the process zone: tests that do not choose a zone
    // run in UTC whatever the machine is set to.
    setenv("TZ", "UTC", 1);
    tzset();
    return Catch::Session().run(argc, argv);
}
