#include "pgtier/sys/random.hpp"

#include <sys/random.h>

#include <cerrno>
#include <string_view>

#include "pgtier/core/errors.hpp"

namespace pgtier {

std::string random_alphanumeric(std::size_t length) {
    constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // 248 = 4 * 62: bytes at or above it are dropped, so that every character is equally likely.
    constexpr unsigned limit = 4 * alphabet.size();
    std::string out;
    unsigned char buffer[64];
    while (out.size() < length) {
        const ssize_t got = ::getrandom(buffer, sizeof buffer, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw Error("cannot draw random bytes: " + errno_text(errno));
        }
        for (ssize_t i = 0; i < got && out.size() < length; ++i) {
            if (buffer[i] < limit) out.push_back(alphabet[buffer[i] % alphabet.size()]);
        }
    }
    return out;
}

}  // namespace pgtier
