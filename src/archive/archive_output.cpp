#include "pgtier/archive/archive_output.hpp"

#include "pgtier/sys/files.hpp"

namespace pgtier {

ArchiveOutput::ArchiveOutput(int fd, const std::vector<age::Recipient>& recipients) : fd_(fd) {
    if (recipients.empty()) return;
    encryptor_ = std::make_unique<age::Encryptor>(recipients);
    write_file(encryptor_->header().data(), encryptor_->header().size());
}

void ArchiveOutput::write(const char* data, std::size_t size) {
    stream_size_ += size;
    if (!encryptor_) {
        write_file(data, size);
        return;
    }
    sealed_.clear();
    encryptor_->update(data, size, sealed_);
    write_file(sealed_.data(), sealed_.size());
}

void ArchiveOutput::finish() {
    if (finished_) return;
    finished_ = true;
    if (!encryptor_) return;
    sealed_.clear();
    encryptor_->finish(sealed_);
    write_file(sealed_.data(), sealed_.size());
    sealed_ = std::string();
}

std::string ArchiveOutput::file_sha256() {
    finish();
    return file_hash_.hex_digest();
}

void ArchiveOutput::write_file(const char* data, std::size_t size) {
    if (size == 0) return;
    write_all(fd_, data, size, "the archive");
    file_hash_.update(data, size);
    file_size_ += size;
}

}  // namespace pgtier
