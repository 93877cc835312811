#include "pgtier/core/compression.hpp"

namespace pgtier {

std::string_view to_string(CompressionFormat format) {
    return format == CompressionFormat::zstd ? "zstd" : "bzip2";
}

std::optional<CompressionFormat> parse_compression_format(std::string_view text) {
    for (auto format : all_compression_formats) {
        if (text == to_string(format)) return format;
    }
    return std::nullopt;
}

CompressionLevels compression_levels(CompressionFormat format) {
    // zstd's 20..22 ("--ultra") need windows larger than a frame: no gain here, much memory.
    if (format == CompressionFormat::zstd) return {1, 19, 3};
    return {1, 9, 9};
}

std::string_view archive_extension(CompressionFormat format) {
    return format == CompressionFormat::zstd ? ".sql.zst" : ".sql.bz2";
}

}  // namespace pgtier
