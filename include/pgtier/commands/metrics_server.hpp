#pragma once
#include <atomic>
#include <memory>
#include <thread>

#include "pgtier/sys/config.hpp"

namespace httplib {
class Server;
}

namespace pgtier::commands {

// The daemon's HTTP endpoint (daemon.metrics_listen): GET /metrics, what metrics.prom holds
// (Prometheus text format), and GET /healthz, 200 when the daemon is alive and `health` finds
// nothing wrong, else 503 with the reasons. Bound to the configured address only; its own
// threads; stopped and joined by the destructor.
class MetricsServer {
  public:
    // Binds `config.daemon.metrics_listen`; throws Error naming the address when it cannot
    // (in use, not this machine's).
    explicit MetricsServer(Config config);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

  private:
    const Config config_;
    std::unique_ptr<httplib::Server> server_;
    std::atomic<bool> done_{false};  // listen_after_bind returned
    std::thread thread_;
};

}  // namespace pgtier::commands
