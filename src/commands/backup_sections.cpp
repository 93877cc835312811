// How a backup run dumps its sections into the archive: serially, straight into it, or several
// at once through spool files appended in archive order (docs/design.md, Parallel dumps).
#include "pgtier/commands/backup_sections.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "pgtier/archive/sha256.hpp"
#include "pgtier/core/section_schedule.hpp"
#include "pgtier/sys/log.hpp"

namespace pgtier::commands {

namespace {

constexpr std::size_t append_chunk = 1 << 20;

std::string label_of(const DumpSection& section) {
    return section.kind == SectionKind::globals ? "globals" : "database " + section.database;
}

double mib(std::uint64_t bytes) {
    return static_cast<double>(bytes) / 1048576.0;
}

std::string mib_text(std::uint64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MiB", mib(bytes));
    return text;
}

// The writer of a run's archive (jobs = 1) or of one section's spool file. Every writer of a run
// shares the run's compression threads (`pool`); each keeps its share of the blocks in flight, so
// that several sections compressed at once hold no more memory than one did.
CompressionSettings section_settings(const CompressionConfig& compression, const WorkerPool& pool,
                                     int jobs) {
    CompressionSettings settings{compression.format, compression.level};
    settings.window = ArchiveWriter::default_window(
        ArchiveWriter::default_block_size(compression.format, compression.level), pool.size(),
        static_cast<std::size_t>(jobs));
    return settings;
}

SectionsDumped dump_serially(const SectionDumpJob& job) {
    SectionsDumped result;
    WorkerPool pool(job.config.compression.threads);
    const auto writer = std::make_unique<ArchiveWriter>(
        job.output, section_settings(job.config.compression, pool, 1), pool);
    // A database dropped since the listing has no section; the rest is published.
    for (const auto& section : job.sections) {
        if (job.dumper.dump(section, *writer) == DumpOutcome::dumped) {
            result.sections.push_back(section);
        } else {
            result.dropped.push_back(section.database);
        }
    }
    result.totals = writer->finish();
    return result;
}

// One section of a parallel run. A worker owns it from its start until it is finished; then
// the appender does (handed over under the run's mutex).
struct Slot {
    std::unique_ptr<SpoolFile> spool;
    DumpOutcome outcome = DumpOutcome::dumped;
    CompressedSection written;  // within the spool: offset 0
    std::atomic<std::uint64_t> bytes{0};
    bool running = false;
};

class ParallelDump {
  public:
    explicit ParallelDump(const SectionDumpJob& job)
        : job_(job),
          pool_(job.config.compression.threads),
          workers_(std::min<std::size_t>(static_cast<std::size_t>(job.jobs), job.sections.size())),
          slots_(job.sections.size()),
          append_(job.sections.size()) {
        std::vector<ScheduledSection> scheduled;
        for (const auto& section : job.sections) {
            const auto size = job.sizes.find(section.database);
            scheduled.push_back(
                {section.kind, section.kind == SectionKind::database && size != job.sizes.end()
                                   ? size->second
                                   : 0});
        }
        start_order_ = dump_start_order(scheduled);
    }

    ~ParallelDump() { stop_workers(); }
    ParallelDump(const ParallelDump&) = delete;
    ParallelDump& operator=(const ParallelDump&) = delete;

    SectionsDumped run() {
        spdlog::info("dumping {} sections, {} at once", job_.sections.size(), workers_);
        for (std::size_t i = 0; i < workers_; ++i) threads_.emplace_back([this] { work(); });
        ProgressLog progress;
        std::unique_lock lock(mutex_);
        for (;;) {
            if (failure_) break;
            if (const auto index = append_.next()) {
                lock.unlock();
                append(*index);
                lock.lock();
                continue;
            }
            if (append_.done()) break;
            changed_.wait_for(lock, std::chrono::milliseconds(500));
            if (const auto seconds = progress.due()) log_progress(*seconds);
        }
        const std::exception_ptr failure = failure_;
        lock.unlock();
        stop_workers();
        if (failure) std::rethrow_exception(failure);
        job_.output.finish();
        result_.totals.compressed_size = job_.output.file_size();
        result_.totals.stream_size = job_.output.stream_size();
        result_.totals.sha256 = job_.output.file_sha256();
        return std::move(result_);
    }

  private:
    // A worker: takes the next section in start order until none is left or the run fails.
    void work() {
        for (;;) {
            std::size_t index = 0;
            {
                std::lock_guard lock(mutex_);
                if (abort_.load() || next_start_ == start_order_.size()) return;
                index = start_order_[next_start_++];
                slots_[index].running = true;
                // Under the lock, so that the log shows the start order.
                spdlog::debug("dumping {} ({} of {} in the archive)",
                              label_of(job_.sections[index]), index + 1, job_.sections.size());
            }
            try {
                dump(index);
            } catch (...) {
                {
                    std::lock_guard lock(mutex_);
                    slots_[index].running = false;
                    // The first failure is the run's; those it caused (DumpAborted) are not.
                    if (!failure_) failure_ = std::current_exception();
                    abort_.store(true);
                }
                changed_.notify_all();
                return;
            }
        }
    }

    void dump(std::size_t index) {
        Slot& slot = slots_[index];
        const DumpSection& section = job_.sections[index];
        const auto started = std::chrono::steady_clock::now();
        auto spool = job_.repo.create_spool(job_.type, job_.archive, index);
        DumpOutcome outcome;
        CompressedTotals totals;
        {
            const auto writer = std::make_unique<ArchiveWriter>(
                spool->fd(),
                section_settings(job_.config.compression, pool_, static_cast<int>(workers_)),
                pool_);
            outcome = job_.dumper.dump(section, *writer, {&abort_, &slot.bytes});
            totals = writer->finish();
        }
        spool->close();
        if (outcome == DumpOutcome::dumped) {
            spdlog::info(
                "dumped {}: {:.1f} MiB of SQL in {:.1f} s, {:.1f} MiB compressed",
                label_of(section), mib(totals.uncompressed_size),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
                mib(totals.compressed_size));
        }
        {
            std::lock_guard lock(mutex_);
            slot.spool = std::move(spool);
            slot.outcome = outcome;
            if (outcome == DumpOutcome::dumped) slot.written = totals.sections.at(0);
            slot.running = false;
            append_.finished(index);
        }
        changed_.notify_all();
    }

    // Copies a finished section's spool to the end of the archive, checking that it reads back
    // what was written, then deletes the spool.
    void append(std::size_t index) {
        Slot& slot = slots_[index];
        const DumpSection& section = job_.sections[index];
        if (slot.outcome == DumpOutcome::dropped) {
            result_.dropped.push_back(section.database);
            slot.spool.reset();
            return;
        }
        const UniqueFd in = slot.spool->open_for_reading();
        const std::string what = slot.spool->path().string();
        std::vector<char> buffer(append_chunk);
        Sha256 section_hash;
        std::uint64_t length = 0;
        const std::uint64_t offset = job_.output.stream_size();
        for (;;) {
            const ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw Error("cannot read " + what + ": " + errno_text(errno));
            if (n == 0) break;
            const auto size = static_cast<std::size_t>(n);
            job_.output.write(buffer.data(), size);
            section_hash.update(buffer.data(), size);
            length += size;
        }
        if (length != slot.written.length || section_hash.hex_digest() != slot.written.sha256) {
            throw Error(what + " changed after it was written (" + std::to_string(length) +
                        " bytes read back, " + std::to_string(slot.written.length) + " written)");
        }
        CompressedSection placed = slot.written;
        placed.offset = offset;
        result_.totals.uncompressed_size += placed.uncompressed_length;
        result_.totals.sections.push_back(placed);
        result_.sections.push_back(section);
        slot.spool.reset();
        spdlog::debug("appended {} at offset {}", label_of(section), placed.offset);
    }

    // One line for all running dumps (Dumper logs none of its own here).
    void log_progress(double seconds) {
        std::string running;
        std::uint64_t total = 0;
        std::size_t count = 0;
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            const std::uint64_t bytes = slots_[i].bytes.load();
            total += bytes;
            if (!slots_[i].running) continue;
            ++count;
            running +=
                (running.empty() ? "" : ", ") + label_of(job_.sections[i]) + " " + mib_text(bytes);
        }
        spdlog::info("dumping {} at once: {}; {} of {} sections in the archive, {:.1f} MiB/s",
                     count, running, append_.waiting_for(), slots_.size(), mib(total) / seconds);
    }

    // Stops and joins the workers; each kills its child within 0.2 s once abort_ is set.
    void stop_workers() {
        abort_.store(true);
        for (auto& thread : threads_) {
            if (thread.joinable()) thread.join();
        }
    }

    const SectionDumpJob& job_;
    WorkerPool pool_;  // the compression threads every section's writer shares
    const std::size_t workers_;
    std::vector<Slot> slots_;
    std::vector<std::size_t> start_order_;

    std::mutex mutex_;
    std::condition_variable changed_;
    std::size_t next_start_ = 0;
    AppendOrder append_;
    std::exception_ptr failure_;
    std::atomic<bool> abort_{false};
    std::vector<std::thread> threads_;

    // The appender's (the calling thread's) alone.
    SectionsDumped result_;
};

}  // namespace

SectionsDumped dump_sections(const SectionDumpJob& job) {
    if (job.jobs <= 1 || job.sections.size() <= 1) return dump_serially(job);
    ParallelDump dump(job);
    return dump.run();
}

}  // namespace pgtier::commands
