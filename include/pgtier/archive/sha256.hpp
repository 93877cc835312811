#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace pgtier {

// Incremental SHA-256 (OpenSSL EVP).
class Sha256 {
  public:
    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(const void* data, std::size_t size);
    void update(std::string_view text) { update(text.data(), text.size()); }
    // Lowercase hex digest; the object cannot be updated afterwards.
    std::string hex_digest();

  private:
    evp_md_ctx_st* ctx_;
};

std::string sha256_hex(std::string_view text);

}  // namespace pgtier
