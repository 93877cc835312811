#include "pgtier/core/jobs.hpp"

#include <algorithm>

namespace pgtier {

int default_jobs(unsigned cores) {
    return std::clamp(static_cast<int>(std::max(cores, 1u) / 4), 2, 8);
}

int backup_jobs(int configured, unsigned cores) {
    return configured > 0 ? configured : default_jobs(cores);
}

}  // namespace pgtier
