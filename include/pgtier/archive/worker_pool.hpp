#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pgtier {

// A fixed set of threads that run tasks in the order they were queued. One pool serves every
// ArchiveWriter and section decoder of a process, so N sections compressed (or decoded) at once
// use the configured threads, not N times them; each user bounds its own memory by keeping a
// window of tasks in flight. Compression memory is per thread (reused from task to task), so a
// pool's threads keep it between tasks.
class WorkerPool {
  public:
    // threads <= 0: one per core.
    explicit WorkerPool(int threads);
    // Runs the tasks still queued, then joins the threads.
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    std::size_t size() const { return threads_.size(); }

    // Queues `task`. A task must not throw (it reports its failure to its owner) and must not
    // wait for another task of the pool (that could wait forever with every thread waiting).
    void submit(std::function<void()> task);

    // `threads` as the pool resolves it: the core count for 0 or less.
    static int resolve_threads(int threads);

  private:
    void run();

    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::function<void()>> tasks_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace pgtier
