#include "pgtier/core/manifest.hpp"

#include <nlohmann/json.hpp>

#include "pgtier/core/cluster.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/core/naming.hpp"
#include "pgtier/core/text.hpp"

namespace pgtier {

using nlohmann::json;

const SectionEntry* Manifest::find_database(const std::string& db) const {
    for (const auto& s : sections) {
        if (s.kind == SectionKind::database && s.database == db) return &s;
    }
    return nullptr;
}

bool Manifest::has_globals() const {
    for (const auto& s : sections) {
        if (s.kind == SectionKind::globals) return true;
    }
    return false;
}

std::string manifest_to_json(const Manifest& m) {
    json databases = json::array();
    for (const auto& db : m.fingerprint.databases) {
        databases.push_back({{"name", db.name}, {"fingerprint", db.fingerprint}});
    }
    json sections = json::array();
    for (const auto& s : m.sections) {
        sections.push_back({
            {"kind", to_string(s.kind)},
            {"database", s.database ? json(*s.database) : json(nullptr)},
            {"offset", s.offset},
            {"length", s.length},
            {"uncompressed_length", s.uncompressed_length},
            {"sha256", s.sha256},
            {"fingerprint", s.fingerprint},
        });
    }
    json doc = {
        {"format", m.format},
        {"type", to_string(m.type)},
        {"name", m.name},
        {"compression", to_string(archive_format(m.name))},
        {"tool_version", m.tool_version},
        {"server_version", m.server_version},
        {"pg_dump_version", m.pg_dump_version},
        {"started_at", format_utc_iso(m.started_at)},
        {"finished_at", format_utc_iso(m.finished_at)},
        {"compressed_size", m.compressed_size},
        {"uncompressed_size", m.uncompressed_size},
        {"sha256", m.sha256},
        {"reason", m.reason},
        {"fingerprint",
         {{"digest", m.fingerprint.digest},
          {"globals", m.fingerprint.globals},
          {"databases", databases}}},
        {"sections", sections},
        {"dropped", m.dropped},
    };
    if (!m.system_identifier.empty()) doc["system_identifier"] = m.system_identifier;
    if (!m.cluster_name.empty()) doc["cluster_name"] = m.cluster_name;
    if (m.encrypted_stream_size)
        doc["encryption"] = {{"format", "age"}, {"stream_size", *m.encrypted_stream_size}};
    if (!m.signature.empty()) doc["signature"] = m.signature;
    return doc.dump(2) + "\n";
}

std::string manifest_signed_text(const Manifest& manifest) {
    Manifest unsigned_copy = manifest;
    unsigned_copy.signature.clear();
    return manifest_to_json(unsigned_copy);
}

namespace {
TimePoint time_field(const json& doc, const char* key) {
    const auto text = doc.at(key).get<std::string>();
    auto t = parse_utc_iso(text);
    if (!t) throw std::invalid_argument(std::string(key) + " is not an ISO 8601 UTC time: " + text);
    return *t;
}

// A byte count or offset: JSON's non-negative integers only. A negative number would wrap to a
// huge one and a float (1e300, 2.5) would be cut to something else by the conversion.
std::uint64_t byte_count(const json& object, const char* key, const std::string& where) {
    const auto& value = object.at(key);
    if (!value.is_number_unsigned()) {
        throw std::invalid_argument(where + key + " is " + value.dump() +
                                    ", not a byte count (a whole number from 0 up)");
    }
    return value.get<std::uint64_t>();
}
}  // namespace

Manifest manifest_from_json(const std::string& text, const std::string& source) {
    try {
        const json doc = json::parse(text);
        Manifest m;
        m.format = doc.at("format").get<int>();
        if (m.format != manifest_format_version) {
            throw std::invalid_argument("unsupported manifest format " + std::to_string(m.format));
        }
        const auto type = parse_backup_type(doc.at("type").get<std::string>());
        if (!type) throw std::invalid_argument("unknown type " + doc.at("type").dump());
        m.type = *type;
        m.name = doc.at("name").get<std::string>();
        // Written since zstd became a choice; the name's extension says the same (older
        // manifests, all bzip2, lack it).
        if (doc.contains("compression")) {
            const auto text = doc.at("compression").get<std::string>();
            const auto format = parse_compression_format(text);
            if (!format) throw std::invalid_argument("unknown compression \"" + text + "\"");
            if (*format != archive_format(m.name)) {
                throw std::invalid_argument("compression \"" + text +
                                            "\" does not match the name " + m.name);
            }
        }
        m.tool_version = doc.value("tool_version", "");
        m.server_version = doc.value("server_version", "");
        m.pg_dump_version = doc.value("pg_dump_version", "");
        m.started_at = time_field(doc, "started_at");
        m.finished_at = time_field(doc, "finished_at");
        m.compressed_size = byte_count(doc, "compressed_size", "");
        m.uncompressed_size = byte_count(doc, "uncompressed_size", "");
        m.sha256 = doc.at("sha256").get<std::string>();
        m.reason = doc.value("reason", "");
        const auto& fp = doc.at("fingerprint");
        m.fingerprint.digest = fp.at("digest").get<std::string>();
        m.fingerprint.globals = fp.at("globals").get<std::string>();
        for (const auto& db : fp.at("databases")) {
            m.fingerprint.databases.push_back(
                {db.at("name").get<std::string>(), db.at("fingerprint").get<std::string>()});
        }
        for (const auto& s : doc.at("sections")) {
            const std::string where = "sections[" + std::to_string(m.sections.size()) + "].";
            SectionEntry e;
            const auto kind = s.at("kind").get<std::string>();
            if (kind == "globals") {
                e.kind = SectionKind::globals;
            } else if (kind == "database") {
                e.kind = SectionKind::database;
                e.database = s.at("database").get<std::string>();
            } else {
                throw std::invalid_argument("unknown section kind " + kind);
            }
            e.offset = byte_count(s, "offset", where);
            e.length = byte_count(s, "length", where);
            e.uncompressed_length = byte_count(s, "uncompressed_length", where);
            e.sha256 = s.at("sha256").get<std::string>();
            e.fingerprint = s.at("fingerprint").get<std::string>();
            m.sections.push_back(std::move(e));
        }
        if (doc.contains("dropped")) m.dropped = doc.at("dropped").get<std::vector<std::string>>();
        // The identity decides which archives combine: only what a writer of pgtier can write.
        if (doc.contains("system_identifier")) {
            m.system_identifier = doc.at("system_identifier").get<std::string>();
            if (!valid_system_identifier(m.system_identifier)) {
                throw std::invalid_argument("system_identifier \"" + m.system_identifier +
                                            "\" is not a number");
            }
        }
        if (doc.contains("cluster_name")) {
            m.cluster_name = doc.at("cluster_name").get<std::string>();
            if (const auto why = cluster_name_problem(m.cluster_name)) {
                throw std::invalid_argument("cluster_name \"" + m.cluster_name + "\" " + *why);
            }
        }
        // The name says whether the file is an age file; the manifest must say the same.
        if (doc.contains("encryption")) {
            const auto& encryption = doc.at("encryption");
            if (encryption.at("format").get<std::string>() != "age")
                throw std::invalid_argument("unknown encryption " + encryption.at("format").dump());
            m.encrypted_stream_size = byte_count(encryption, "stream_size", "encryption.");
        }
        if (m.encrypted_stream_size.has_value() != archive_encrypted(m.name)) {
            throw std::invalid_argument(
                m.encrypted_stream_size
                    ? "encryption is set but the name " + m.name + " is not an age file's (.age)"
                    : "the name " + m.name + " is an age file's but encryption is not set");
        }
        if (doc.contains("signature")) m.signature = doc.at("signature").get<std::string>();
        return m;
    } catch (const std::exception& err) {
        // The reason may quote the manifest's text: printable, it cannot fake a line.
        throw Error(source + ": not a valid pgtier manifest: " + printable(err.what()));
    }
}

}  // namespace pgtier
