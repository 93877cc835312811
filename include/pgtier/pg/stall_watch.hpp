#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "pgtier/sys/config.hpp"

namespace pgtier {

// While a child (pg_dump, pg_dumpall, psql) runs under the application name `application_name`:
// every `interval` in which `bytes` did not grow, asks the server (a connection of its own to
// `database`) what that session waits for, and logs "LABEL: waiting for a lock on … (held by pid
// N: …)" when it waits for a lock — the line an operator needs instead of "0.0 MiB so far". A
// check that cannot connect is logged at debug and tried again next time.
class StallWatch {
  public:
    StallWatch(const ConnectionSettings& settings, std::string database,
               std::string application_name, std::string label,
               const std::atomic<std::uint64_t>& bytes,
               // A second before ProgressLog's first line is due, so that a dump waiting for a lock
               // never logs "0.0 MiB so far" first.
               std::chrono::milliseconds interval = std::chrono::seconds(4));
    ~StallWatch();  // stops the thread (within a check's time) and joins it
    StallWatch(const StallWatch&) = delete;
    StallWatch& operator=(const StallWatch&) = delete;

    // Whether the last check found the session waiting for a lock (the caller then leaves out
    // its own progress line).
    bool waiting() const { return waiting_.load(); }

  private:
    void watch(const std::stop_token& stop);
    void check();

    const ConnectionSettings& settings_;
    std::string database_;
    std::string application_name_;
    std::string label_;
    const std::atomic<std::uint64_t>& bytes_;
    std::chrono::milliseconds interval_;
    std::atomic<bool> waiting_{false};
    std::mutex mutex_;
    std::condition_variable_any wake_;
    std::jthread thread_;  // last: started once every member above is ready
};

}  // namespace pgtier
