#include "pgtier/pg/stall_watch.hpp"

#include "pgtier/core/lock_wait.hpp"
#include "pgtier/pg/database.hpp"
#include "pgtier/pg/queries.hpp"
#include "pgtier/sys/log.hpp"

namespace pgtier {

StallWatch::StallWatch(const ConnectionSettings& settings, std::string database,
                       std::string application_name, std::string label,
                       const std::atomic<std::uint64_t>& bytes, std::chrono::milliseconds interval)
    : settings_(settings),
      database_(std::move(database)),
      application_name_(std::move(application_name)),
      label_(std::move(label)),
      bytes_(bytes),
      interval_(interval),
      thread_([this](const std::stop_token& stop) { watch(stop); }) {}

StallWatch::~StallWatch() {
    thread_.request_stop();
    wake_.notify_all();
}

void StallWatch::watch(const std::stop_token& stop) {
    std::uint64_t seen = bytes_.load();
    std::unique_lock lock(mutex_);
    for (;;) {
        // Returns at the interval's end or on a stop request (the predicate never holds).
        wake_.wait_for(lock, stop, interval_, [] { return false; });
        if (stop.stop_requested()) return;
        const std::uint64_t now = bytes_.load();
        if (now != seen) {
            seen = now;
            waiting_.store(false);
            continue;
        }
        lock.unlock();
        check();
        lock.lock();
    }
}

void StallWatch::check() {
    try {
        Connection conn(settings_, database_);
        const auto wait = queries::lock_wait_of(conn, application_name_);
        const auto text = wait ? describe_lock_wait(*wait) : std::nullopt;
        waiting_.store(text.has_value());
        if (text) spdlog::info("{}: {}", label_, one_line(*text));
    } catch (const std::exception& err) {
        spdlog::debug("{}: cannot ask the server what it waits for: {}", label_, err.what());
    }
}

}  // namespace pgtier
