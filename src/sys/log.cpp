#include "pgtier/sys/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <array>
#include <cstdio>
#include <cstring>

#include "pgtier/core/errors.hpp"
#include "pgtier/core/text.hpp"

namespace pgtier {

namespace {
constexpr std::array<const char*, 7> level_names = {"trace", "debug",    "info", "warn",
                                                    "error", "critical", "off"};
}  // namespace

bool is_valid_log_level(const std::string& level) {
    for (const char* name : level_names) {
        if (level == name) return true;
    }
    return false;
}

void init_logging(const std::string& level, LogTarget target) {
    spdlog::drop("pgtier");  // called again by the daemon (stdout) and on SIGHUP
    auto logger = target == LogTarget::standard_output ? spdlog::stdout_logger_mt("pgtier")
                                                       : spdlog::stderr_logger_mt("pgtier");
    // UTC with Z, as every time pgtier prints (milliseconds: a log orders events closely).
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    logger->set_level(spdlog::level::from_str(is_valid_log_level(level) ? level : "info"));
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
}

std::string one_line(std::string text) {
    while (!text.empty() && text.back() == '\n') text.pop_back();
    std::string out;
    for (char ch : text) {
        if (ch == '\n') {
            out += " | ";
        } else {
            out.push_back(ch);
        }
    }
    return printable_lines(out);
}

void print_line(const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
}

ProgressLog::ProgressLog() : started_(std::chrono::steady_clock::now()), last_(started_) {}

std::optional<double> ProgressLog::due() {
    constexpr auto interval = std::chrono::seconds(5);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < interval) return std::nullopt;
    last_ = now;
    return std::chrono::duration<double>(now - started_).count();
}

}  // namespace pgtier
