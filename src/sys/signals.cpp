#include "pgtier/sys/signals.hpp"

#include <signal.h>

namespace pgtier {

namespace {
std::atomic<bool> stop_flag{false};
std::atomic<bool> reload_flag{false};

extern "C" void on_stop(int) {
    stop_flag.store(true);
}
extern "C" void on_reload(int) {
    reload_flag.store(true);
}
}  // namespace

std::atomic<bool>& stop_requested() {
    return stop_flag;
}

std::atomic<bool>& reload_requested() {
    return reload_flag;
}

void install_signal_handlers() {
    struct sigaction stop = {};
    stop.sa_handler = on_stop;
    sigemptyset(&stop.sa_mask);
    sigaction(SIGINT, &stop, nullptr);
    sigaction(SIGTERM, &stop, nullptr);
    struct sigaction reload = {};
    reload.sa_handler = on_reload;
    sigemptyset(&reload.sa_mask);
    sigaction(SIGHUP, &reload, nullptr);
}

}  // namespace pgtier
