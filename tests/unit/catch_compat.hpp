// The one Catch2 include of the unit tests: Catch2 v2 (Debian 12's, a single header) or v3
// (Debian 13's and later, a compiled library), whichever CMake found (PGTIER_CATCH2_V3).
// The string matchers are named match::Contains / StartsWith / EndsWith here, because v3 renamed
// Contains to ContainsSubstring and moved the matchers into Catch::Matchers.
#pragma once

#include <string>

#ifdef PGTIER_CATCH2_V3
#include <catch2/catch_all.hpp>

namespace match {
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;
inline auto Contains(const std::string& needle,
                     Catch::CaseSensitive sensitivity = Catch::CaseSensitive::Yes) {
    return Catch::Matchers::ContainsSubstring(needle, sensitivity);
}
}  // namespace match
#else
#include <catch2/catch.hpp>

namespace match {
using Catch::Contains;
using Catch::EndsWith;
using Catch::StartsWith;
}  // namespace match
#endif
