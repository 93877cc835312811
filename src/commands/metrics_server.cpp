// The daemon's /metrics and /healthz (cpp-httplib's server), from the same code as metrics.prom
// and `health`.
#include "pgtier/commands/metrics_server.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "pgtier/commands/commands.hpp"
#include "pgtier/core/health.hpp"
#include "pgtier/core/notify.hpp"
#include "pgtier/storage/run_status.hpp"
#include "pgtier/sys/log.hpp"

namespace pgtier::commands {

namespace {

using namespace std::chrono_literals;

// Scrapes and probes are small and rare: two threads answer them.
constexpr std::size_t server_threads = 2;

void serve_metrics(const Config& config, httplib::Response& response) {
    const Repository repo(config.storage.dir);
    response.set_content(current_metrics_text(repo), "text/plain; version=0.0.4; charset=utf-8");
}

// Alive (the heartbeat, as health --live) and healthy (as health).
void serve_health(const Config& config, httplib::Response& response) {
    const Repository repo(config.storage.dir);
    const TimePoint now = now_utc();
    std::string reasons;
    if (const auto dead = judge_liveness(read_heartbeat(repo), now, default_heartbeat_max_age))
        reasons += "not alive: " + *dead + "\n";
    for (const auto& problem : health_problems(config, repo, now))
        reasons += "unhealthy: " + problem + "\n";
    if (reasons.empty()) {
        response.status = 200;
        response.set_content(
            "healthy: the daemon is alive, the last run of each tier succeeded and none is "
            "overdue\n",
            "text/plain; charset=utf-8");
    } else {
        response.status = 503;
        response.set_content(reasons, "text/plain; charset=utf-8");
    }
}

// A handler that throws answers 500 with the reason, on one line.
template <typename Serve>
httplib::Server::Handler guarded(const Config& config, Serve serve) {
    return [&config, serve](const httplib::Request&, httplib::Response& response) {
        try {
            serve(config, response);
        } catch (const std::exception& err) {
            response.status = 500;
            response.set_content("error: " + one_line(err.what()) + "\n",
                                 "text/plain; charset=utf-8");
        }
    };
}

}  // namespace

MetricsServer::MetricsServer(Config config)
    : config_(std::move(config)), server_(std::make_unique<httplib::Server>()) {
    const auto& listen = config_.daemon.metrics_listen;
    const auto address = parse_listen_address(listen);
    if (!address) throw ConfigError(config_.origin("daemon.metrics_listen") + ": not HOST:PORT");
    server_->new_task_queue = [] { return new httplib::ThreadPool(server_threads); };
    // SO_REUSEADDR (a restarted daemon rebinds at once) but not httplib's default SO_REUSEPORT,
    // which would let a second daemon share the port instead of being refused.
    server_->set_socket_options([](int sock) {
        const int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    server_->Get("/metrics", guarded(config_, serve_metrics));
    server_->Get("/healthz", guarded(config_, serve_health));
    errno = 0;
    if (!server_->bind_to_port(address->host, address->port)) {
        const int error = errno;
        throw Error("cannot serve metrics on " + listen + " (" +
                    config_.origin("daemon.metrics_listen") + "): " +
                    (error != 0 ? std::string(std::strerror(error))
                                : std::string("the address is in use or not this machine's")));
    }
    thread_ = std::thread([this] {
        server_->listen_after_bind();
        done_ = true;
    });
    // stop() before the server runs would be lost, and the join wait forever.
    for (int i = 0; i < 500 && !done_ && !server_->is_running(); ++i)
        std::this_thread::sleep_for(10ms);
    spdlog::info("serving /metrics and /healthz on http://{}", listen);
}

MetricsServer::~MetricsServer() {
    while (!done_ && !server_->is_running()) std::this_thread::sleep_for(10ms);
    server_->stop();
    if (thread_.joinable()) thread_.join();
}

}  // namespace pgtier::commands
