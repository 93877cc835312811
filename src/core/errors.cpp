#include "pgtier/core/errors.hpp"

#include <cstring>

namespace pgtier {

// Here rather than beside the logger: core code builds messages with it and links no logger.
std::string errno_text(int err) {
    char buffer[256];
    return strerror_r(err, buffer, sizeof buffer);
}

}  // namespace pgtier
