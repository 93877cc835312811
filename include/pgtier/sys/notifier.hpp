#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pgtier/core/notify.hpp"

namespace pgtier {

// How one event is delivered: to every URL, in the format, each attempt bounded by the timeout,
// retried with a back-off of 1 s doubling. A copy travels with each event, so a reloaded
// configuration changes the events sent after it.
struct NotifyTarget {
    std::vector<std::string> urls;
    NotifyFormat format = NotifyFormat::json;
    int timeout_seconds = 10;
    int retries = 3;

    bool enabled() const { return !urls.empty(); }
    // The longest one URL's delivery takes: every attempt timing out, and the back-offs.
    std::chrono::seconds delivery_bound() const;
};

// Posts events to webhooks from one background thread, so that a slow or dead webhook never
// delays or fails a backup. A delivery that fails every attempt is logged (warn) with the URL's
// host only: the URL is a secret. The destructor abandons what is still queued (logged) and
// ends a request in progress.
class Notifier {
  public:
    Notifier();
    ~Notifier();
    Notifier(const Notifier&) = delete;
    Notifier& operator=(const Notifier&) = delete;

    // Queues the event for every URL of the target (none: nothing to do); never blocks.
    void send(const NotifyTarget& target, const Notification& event);
    // Waits until everything queued was delivered or given up, at most `limit`; false when the
    // limit came first.
    bool wait_idle(std::chrono::milliseconds limit);

  private:
    struct Delivery {
        std::string url;
        std::string body;
        std::string event;
        int timeout_seconds = 10;
        int retries = 0;
    };
    void run();
    bool deliver(const Delivery& delivery);
    // Sleeps up to `delay` unless quitting; false when quitting.
    bool pause(std::chrono::milliseconds delay);

    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<Delivery> queue_;
    bool busy_ = false;  // a delivery is in progress
    bool quit_ = false;
    std::atomic<bool> cancel_{false};
    std::thread thread_;  // started by the constructor once curl is initialised
};

// The host name of this machine, for the events' "host".
std::string this_host_name();

}  // namespace pgtier
