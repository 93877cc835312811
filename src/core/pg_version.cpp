#include "pgtier/core/pg_version.hpp"

#include <cctype>

namespace pgtier {

namespace {
bool is_digit(char ch) {
    return std::isdigit(static_cast<unsigned char>(ch)) != 0;
}
}  // namespace

std::string version_number(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (!is_digit(text[i]) || (i > 0 && text[i - 1] != ' ' && text[i - 1] != '(')) continue;
        std::size_t end = i;
        while (end < text.size() && text[end] != ' ' && text[end] != ')') ++end;
        return std::string(text.substr(i, end - i));
    }
    return "";
}

std::optional<int> major_version(std::string_view text) {
    const std::string number = version_number(text);
    if (number.empty()) return std::nullopt;
    int major = 0;
    for (std::size_t i = 0; i < number.size() && is_digit(number[i]) && major < 10000; ++i)
        major = major * 10 + (number[i] - '0');
    return major;
}

std::optional<std::string> pg_dump_refusal(std::string_view pg_dump_version,
                                           std::string_view server_version) {
    const auto dump_major = major_version(pg_dump_version);
    const auto server_major = major_version(server_version);
    if (!dump_major || !server_major || *dump_major >= *server_major) return std::nullopt;
    const std::string server = std::to_string(*server_major);
    return "pg_dump " + version_number(pg_dump_version) + " is older than the server (PostgreSQL " +
           version_number(server_version) + "): pg_dump " + std::to_string(*dump_major) +
           " refuses to dump a PostgreSQL " + server +
           " server. Use the client tools of PostgreSQL " + server +
           " or newer: for the pgtier image, build it on the server's major (make build "
           "PG_IMAGE=postgres:" +
           server +
           "-bookworm); on a host, install "
           "postgresql-client-" +
           server + " and put its bin directory first on PATH. Nothing was dumped.";
}

std::optional<std::string> restore_version_refusal(std::string_view archive,
                                                   std::string_view archive_server_version,
                                                   std::string_view target_server_version) {
    const auto from = major_version(archive_server_version);
    const auto into = major_version(target_server_version);
    if (!from || !into || *into >= *from) return std::nullopt;
    return std::string(archive) + " was dumped from PostgreSQL " +
           version_number(archive_server_version) + ", newer than the target server (PostgreSQL " +
           version_number(target_server_version) + "): a dump of PostgreSQL " +
           std::to_string(*from) + " may use what PostgreSQL " + std::to_string(*into) +
           " lacks, and a restore that fails half-way leaves a partly restored cluster. Restore "
           "into a server of PostgreSQL " +
           std::to_string(*from) +
           " or newer, or pass --force-version to try anyway. Nothing was changed.";
}

std::optional<std::string> psql_restrict_refusal(std::string_view psql_version) {
    // The first minor release of each major that has \restrict (CVE-2025-8714).
    constexpr int first_minor[][2] = {{13, 22}, {14, 19}, {15, 14}, {16, 10}, {17, 6}};
    const std::string number = version_number(psql_version);
    const auto major = major_version(psql_version);
    int minor = 0;
    if (const auto dot = number.find('.'); dot != std::string::npos) {
        for (std::size_t i = dot + 1; i < number.size() && is_digit(number[i]) && minor < 10000;
             ++i)
            minor = minor * 10 + (number[i] - '0');
    }
    bool has_restrict = major && *major >= 18;
    for (const auto& [m, first] : first_minor) {
        if (major && *major == m && minor >= first) has_restrict = true;
    }
    if (has_restrict) return std::nullopt;
    const std::string which = number.empty() ? "of unknown version" : number;
    return "psql " + which +
           " cannot be told to refuse meta-commands (\\restrict needs psql 13.22, 14.19, 15.14, "
           "16.10, 17.6, 18 or newer); pgtier does not feed archive text to it, since an archive "
           "could run commands on this host through it. Install a newer PostgreSQL client and "
           "put its bin directory first on PATH. Nothing was restored.";
}

}  // namespace pgtier
