#include "pgtier/sys/notifier.hpp"

#include <curl/curl.h>
#include <unistd.h>

#include <climits>
#include <memory>

#include "pgtier/sys/log.hpp"

namespace pgtier {

namespace {

using namespace std::chrono_literals;

constexpr auto first_backoff = 1s;

std::chrono::milliseconds backoff(int attempt) {  // before attempt 2, 3, …: 1 s, 2 s, 4 s, …
    return std::chrono::duration_cast<std::chrono::milliseconds>(first_backoff) *
           (1 << std::min(attempt - 2, 10));
}

void global_init() {
    // curl_global_init is not thread-safe; a function-local static runs it exactly once.
    static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    (void)rc;
}

int on_progress(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<std::atomic<bool>*>(cancel)->load() ? 1 : 0;
}

size_t discard(char*, size_t size, size_t count, void*) {
    return size * count;  // the webhook's answer is not needed
}

struct CurlDeleter {
    void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct HeaderListDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

}  // namespace

std::chrono::seconds NotifyTarget::delivery_bound() const {
    std::chrono::milliseconds total = std::chrono::seconds(timeout_seconds) * (retries + 1);
    for (int attempt = 2; attempt <= retries + 1; ++attempt) total += backoff(attempt);
    return std::chrono::duration_cast<std::chrono::seconds>(total) + 1s;
}

Notifier::Notifier() {
    global_init();  // before the thread's first request
    thread_ = std::thread([this] { run(); });
}

Notifier::~Notifier() {
    std::size_t dropped = 0;
    {
        std::lock_guard<std::mutex> guard(mutex_);
        quit_ = true;
        dropped = queue_.size();
    }
    cancel_ = true;
    changed_.notify_all();
    thread_.join();
    if (dropped > 0) spdlog::warn("notify: {} webhook delivery(ies) abandoned at exit", dropped);
}

void Notifier::send(const NotifyTarget& target, const Notification& event) {
    if (!target.enabled()) return;
    const std::string body = notification_body(event, target.format);
    {
        std::lock_guard<std::mutex> guard(mutex_);
        for (const auto& url : target.urls) {
            queue_.push_back({url, body, std::string(to_string(event.event)),
                              target.timeout_seconds, target.retries});
        }
    }
    changed_.notify_all();
}

bool Notifier::wait_idle(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, limit, [this] { return queue_.empty() && !busy_; });
}

bool Notifier::pause(std::chrono::milliseconds delay) {
    std::unique_lock<std::mutex> lock(mutex_);
    return !changed_.wait_for(lock, delay, [this] { return quit_; });
}

void Notifier::run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        changed_.wait(lock, [this] { return quit_ || !queue_.empty(); });
        if (quit_) return;
        const Delivery delivery = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        lock.unlock();
        deliver(delivery);
        lock.lock();
        busy_ = false;
        changed_.notify_all();  // wait_idle
    }
}

bool Notifier::deliver(const Delivery& delivery) {
    const std::string host = url_host(delivery.url);
    std::string why;
    const int attempts = delivery.retries + 1;
    for (int attempt = 1; attempt <= attempts; ++attempt) {
        if (attempt > 1) {
            spdlog::info("notify: {} to {}: attempt {} of {} failed ({}), retrying", delivery.event,
                         host, attempt - 1, attempts, why);
            if (!pause(backoff(attempt))) return false;
        }
        const std::unique_ptr<CURL, CurlDeleter> handle(curl_easy_init());
        if (!handle) {
            why = "cannot start a request";
            continue;
        }
        CURL* h = handle.get();
        const std::unique_ptr<curl_slist, HeaderListDeleter> headers(
            curl_slist_append(nullptr, "Content-Type: application/json"));
        curl_easy_setopt(h, CURLOPT_URL, delivery.url.c_str());
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, delivery.body.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(delivery.body.size()));
        curl_easy_setopt(h, CURLOPT_TIMEOUT, static_cast<long>(delivery.timeout_seconds));
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, static_cast<long>(delivery.timeout_seconds));
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_USERAGENT, "pgtier/" PGTIER_VERSION);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &cancel_);
        const CURLcode rc = curl_easy_perform(h);
        if (cancel_.load()) return false;
        if (rc != CURLE_OK) {
            // curl's own text only: its error buffer could quote more of the URL.
            why = curl_easy_strerror(rc);
            continue;
        }
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            spdlog::debug("notify: {} delivered to {} (HTTP {})", delivery.event, host, status);
            return true;
        }
        why = "HTTP status " + std::to_string(status);
    }
    spdlog::warn("notify: could not deliver {} to {} ({} attempt(s), the last: {})", delivery.event,
                 host, attempts, why);
    return false;
}

std::string this_host_name() {
    char name[HOST_NAME_MAX + 1] = {};
    if (::gethostname(name, sizeof name - 1) != 0) return "";
    return name;
}

}  // namespace pgtier
