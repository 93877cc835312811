#pragma once
#include <cstddef>
#include <string>

namespace pgtier {

// `length` letters and digits from the kernel's random source (getrandom), uniformly drawn:
// keys no archive can have guessed, such as psql's \restrict key.
std::string random_alphanumeric(std::size_t length);

}  // namespace pgtier
