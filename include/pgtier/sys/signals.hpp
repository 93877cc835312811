#pragma once
#include <atomic>

namespace pgtier {

// Set by SIGTERM/SIGINT once install_signal_handlers ran: a running dump or restore stops, its
// partial output is removed, and the daemon exits.
std::atomic<bool>& stop_requested();
// Set by SIGHUP: the daemon reloads its configuration (and clears the flag).
std::atomic<bool>& reload_requested();

// Installs the handlers (without SA_RESTART, so blocking waits return EINTR and look at the
// flags).
void install_signal_handlers();

}  // namespace pgtier
