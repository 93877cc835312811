#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pgtier/archive/age.hpp"
#include "pgtier/archive/sha256.hpp"

namespace pgtier {

// The file an archive's compressed stream goes into: written as it is, or, given age
// recipients, as one age file whose payload is the stream (encryption at rest). Sections'
// offsets count stream bytes (the age payload's plaintext); the sidecar's SHA-256 and the
// archive's size are the file's.
class ArchiveOutput {
  public:
    // `recipients` empty: a plain archive.
    ArchiveOutput(int fd, const std::vector<age::Recipient>& recipients);
    ArchiveOutput(const ArchiveOutput&) = delete;
    ArchiveOutput& operator=(const ArchiveOutput&) = delete;

    // Throws Error when the file cannot be written (disk full, …).
    void write(const char* data, std::size_t size);
    // Writes what is left (the age payload's last chunk). No write() after it.
    void finish();

    bool encrypted() const { return encryptor_ != nullptr; }
    std::uint64_t stream_size() const { return stream_size_; }
    std::uint64_t file_size() const { return file_size_; }
    // The file's SHA-256, after finish().
    std::string file_sha256();

  private:
    void write_file(const char* data, std::size_t size);

    int fd_;
    std::unique_ptr<age::Encryptor> encryptor_;
    std::string sealed_;  // chunks the encryptor completed, written at once
    Sha256 file_hash_;
    std::uint64_t stream_size_ = 0;
    std::uint64_t file_size_ = 0;
    bool finished_ = false;
};

}  // namespace pgtier
