#pragma once
#include <optional>
#include <string_view>

namespace pgtier {

// How an archive's sections are compressed: bzip2 (the default, what existing scripts and
// hosts expect) or zstd. The file name says which (.sql.bz2 / .sql.zst).
enum class CompressionFormat { bzip2, zstd };
inline constexpr CompressionFormat all_compression_formats[] = {CompressionFormat::bzip2,
                                                                CompressionFormat::zstd};

std::string_view to_string(CompressionFormat format);  // "bzip2", "zstd"
std::optional<CompressionFormat> parse_compression_format(std::string_view text);

// The levels a format accepts and the one it gets when none is configured.
struct CompressionLevels {
    int low = 1;
    int high = 9;
    int default_level = 9;
};
CompressionLevels compression_levels(CompressionFormat format);

std::string_view archive_extension(CompressionFormat format);  // ".sql.bz2", ".sql.zst"

}  // namespace pgtier
