#include "pgtier/archive/section_check.hpp"

#include <algorithm>

#include "pgtier/core/sql_filter.hpp"

namespace pgtier {

namespace {

constexpr std::size_t decode_buffer_size = 1 << 20;

std::string num(std::uint64_t n) {
    return std::to_string(n);
}

std::string short_hash(const std::string& hex) {
    return hex.substr(0, 12) + "…";
}

}  // namespace

std::string section_label(const SectionEntry& section) {
    return section.kind == SectionKind::globals ? "globals"
                                                : "database \"" + *section.database + "\"";
}

SectionDecoder::SectionDecoder(std::string label)
    : label_(std::move(label)), out_(decode_buffer_size) {
    start();
}

SectionDecoder::~SectionDecoder() {
    BZ2_bzDecompressEnd(&stream_);
}

void SectionDecoder::start() {
    stream_ = bz_stream{};
    BZ2_bzDecompressInit(&stream_, 0, 0);
    stream_ended_ = false;
}

void SectionDecoder::feed(const char* data, std::size_t size, const TextSink& sink) {
    while (size > 0 && !corrupt()) {
        if (stream_ended_) {
            BZ2_bzDecompressEnd(&stream_);
            start();
        }
        stream_.next_in = const_cast<char*>(data);
        stream_.avail_in = static_cast<unsigned int>(size);
        stream_.next_out = out_.data();
        stream_.avail_out = static_cast<unsigned int>(out_.size());
        const int rc = BZ2_bzDecompress(&stream_);
        const std::size_t consumed = size - stream_.avail_in;
        const std::size_t produced = out_.size() - stream_.avail_out;
        data += consumed;
        size -= consumed;
        decoded_ += produced;
        if (sink && produced > 0) sink(std::string_view(out_.data(), produced));
        const std::size_t keep = std::min<std::size_t>(produced, 2048);
        tail_.append(out_.data() + produced - keep, keep);
        if (tail_.size() > 4096) tail_.erase(0, tail_.size() - 2048);
        if (rc == BZ_STREAM_END) {
            stream_ended_ = true;
        } else if (rc != BZ_OK) {
            corruption_ = label_ + ": bzip2 data is corrupt (code " + std::to_string(rc) +
                          ") after " + std::to_string(decoded_) + " decoded bytes";
        }
    }
}

bool SectionVerdict::has(SectionFault fault) const {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const SectionProblem& p) { return p.fault == fault; });
}

SectionCheck::SectionCheck(const SectionEntry& entry, TextSink sink, Mode mode)
    : entry_(entry), label_("section " + section_label(entry)), sink_(std::move(sink)) {
    if (mode == Mode::decode) decoder_.emplace(label_);
}

void SectionCheck::feed(const char* data, std::size_t size) {
    hash_.update(data, size);  // every byte, also those after a decode error
    if (!decoder_ || decoder_->corrupt()) return;
    decoder_->feed(data, size, sink_);
    if (decoder_->corrupt()) problems_.push_back({SectionFault::corrupt, decoder_->corruption()});
}

void SectionCheck::fail(SectionFault fault, std::string text) {
    problems_.push_back({fault, label_ + ": " + std::move(text)});
}

SectionVerdict SectionCheck::finish() {
    SectionVerdict verdict;
    verdict.sha256 = hash_.hex_digest();
    if (verdict.sha256 != entry_.sha256) {
        fail(SectionFault::sha256, "SHA-256 is " + short_hash(verdict.sha256) + ", manifest says " +
                                       short_hash(entry_.sha256));
    }
    if (decoder_) {
        verdict.decoded = decoder_->decoded();
        if (!decoder_->corrupt()) {
            if (!decoder_->ended_cleanly()) {
                fail(SectionFault::cut_short,
                     "its " + num(entry_.length) + " bytes end inside a bzip2 stream");
            } else {
                if (decoder_->decoded() != entry_.uncompressed_length) {
                    fail(SectionFault::length, "decodes to " + num(decoder_->decoded()) +
                                                   " bytes, manifest says " +
                                                   num(entry_.uncompressed_length));
                }
                if (!has_dump_trailer(decoder_->tail())) {
                    fail(SectionFault::trailer, "no \"dump complete\" trailer");
                }
            }
        }
    }
    verdict.problems = problems_;
    return verdict;
}

}  // namespace pgtier
