#include "pgtier/sys/config.hpp"

#include <unistd.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <functional>
#include <limits>
#include <sstream>
#include <variant>

#include "pgtier/core/cluster.hpp"
#include "pgtier/core/cron.hpp"
#include "pgtier/core/errors.hpp"
#include "pgtier/core/notify.hpp"
#include "pgtier/core/offsite_plan.hpp"
#include "pgtier/core/text.hpp"
#include "pgtier/sys/clock.hpp"
#include "pgtier/sys/files.hpp"
#include "pgtier/sys/log.hpp"

extern char** environ;

namespace pgtier {

namespace {

// The configuration file and the password and credentials files: far larger is a mistake.
constexpr std::size_t max_config_file_size = std::size_t{1} << 20;

using Value = std::variant<std::string, std::int64_t, bool, std::vector<std::string>>;
enum class KeyType { string, integer, boolean, string_list };

// Thrown by a setter; the loader adds the file and the key.
struct BadValue {
    std::string why;
};

int in_range(const Value& v, std::int64_t low, std::int64_t high) {
    const auto n = std::get<std::int64_t>(v);
    if (n < low || n > high) {
        throw BadValue{"must be between " + std::to_string(low) + " and " + std::to_string(high) +
                       ", got " + std::to_string(n)};
    }
    return static_cast<int>(n);
}

const std::string& non_empty(const Value& v) {
    const auto& s = std::get<std::string>(v);
    if (s.empty()) throw BadValue{"must not be empty"};
    return s;
}

const std::string& cron_expression(const Value& v) {
    const auto& text = non_empty(v);
    try {
        parse_cron(text);
    } catch (const CronError& err) {
        throw BadValue{"is not a valid cron expression '" + text + "': " + err.what()};
    }
    return text;
}

// Said without the URL, which would show the password.
constexpr const char* userinfo_refusal =
    "must not hold a user or password (user:password@): the URL is shown in messages and "
    "status files; give the credentials with offsite.access_key_id_file and "
    "offsite.secret_access_key_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";

struct KeySpec {
    const char* section;
    const char* key;
    KeyType type;
    std::function<void(Config&, const Value&)> apply;
};

const std::vector<KeySpec>& key_specs() {
    static const std::vector<KeySpec> specs = {
        {"postgres", "host", KeyType::string,
         [](Config& c, const Value& v) { c.postgres.host = std::get<std::string>(v); }},
        {"postgres", "port", KeyType::integer,
         [](Config& c, const Value& v) { c.postgres.port = in_range(v, 1, 65535); }},
        {"postgres", "user", KeyType::string,
         [](Config& c, const Value& v) { c.postgres.user = std::get<std::string>(v); }},
        {"postgres", "password_file", KeyType::string,
         [](Config& c, const Value& v) { c.postgres.password_file = std::get<std::string>(v); }},
        {"storage", "dir", KeyType::string,
         [](Config& c, const Value& v) { c.storage.dir = non_empty(v); }},
        {"storage", "cluster_name", KeyType::string,
         [](Config& c, const Value& v) {
             const auto& name = std::get<std::string>(v);  // "" = unset
             if (const auto problem = name.empty() ? std::nullopt : cluster_name_problem(name))
                 throw BadValue{"\"" + printable(name) + "\" " + *problem};
             c.storage.cluster_name = name;
         }},
        {"schedule", "timezone", KeyType::string,
         [](Config& c, const Value& v) { c.schedule.timezone = std::get<std::string>(v); }},
        {"schedule", "full", KeyType::string,
         [](Config& c, const Value& v) { c.schedule.full = cron_expression(v); }},
        {"schedule", "differential", KeyType::string,
         [](Config& c, const Value& v) { c.schedule.differential = cron_expression(v); }},
        {"schedule", "incremental", KeyType::string,
         [](Config& c, const Value& v) { c.schedule.incremental = cron_expression(v); }},
        {"retention", "incremental_days", KeyType::integer,
         [](Config& c, const Value& v) { c.retention.incremental_days = in_range(v, 1, 36500); }},
        {"retention", "differential_days", KeyType::integer,
         [](Config& c, const Value& v) { c.retention.differential_days = in_range(v, 1, 36500); }},
        {"retention", "full_days", KeyType::integer,
         [](Config& c, const Value& v) { c.retention.full_days = in_range(v, 1, 36500); }},
        {"retention", "min_full", KeyType::integer,
         [](Config& c, const Value& v) { c.retention.min_full = in_range(v, 1, 1000); }},
        {"retention", "keep_monthly_full", KeyType::integer,
         [](Config& c, const Value& v) { c.retention.keep_monthly_full = in_range(v, 0, 1200); }},
        {"backup", "jobs", KeyType::integer,
         [](Config& c, const Value& v) { c.backup.jobs = in_range(v, 0, 64); }},
        {"compression", "format", KeyType::string,
         [](Config& c, const Value& v) {
             const auto& text = std::get<std::string>(v);
             const auto format = parse_compression_format(text);
             if (!format) throw BadValue{"must be \"bzip2\" or \"zstd\", got '" + text + "'"};
             c.compression.format = *format;
         }},
        // Its range depends on the format, which may be set later (by the environment):
        // checked once both are known (resolve_compression).
        {"compression", "level", KeyType::integer,
         [](Config& c, const Value& v) {
             c.compression.level =
                 in_range(v, std::numeric_limits<int>::min(), std::numeric_limits<int>::max());
             c.compression.level_set = true;
         }},
        {"compression", "threads", KeyType::integer,
         [](Config& c, const Value& v) { c.compression.threads = in_range(v, 0, 256); }},
        {"offsite", "url", KeyType::string,
         [](Config& c, const Value& v) {
             const auto& url = std::get<std::string>(v);
             if (url_has_userinfo(url)) throw BadValue{userinfo_refusal};
             if (!url.empty()) {
                 try {
                     parse_s3_url(url);
                 } catch (const Error& err) {
                     throw BadValue{err.what()};
                 }
             }
             c.offsite.url = url;
         }},
        {"offsite", "endpoint", KeyType::string,
         [](Config& c, const Value& v) {
             const auto& url = std::get<std::string>(v);
             if (url_has_userinfo(url)) throw BadValue{userinfo_refusal};
             if (!url.empty() && url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
                 throw BadValue{"must start with https:// or http://, got '" + url + "'"};
             c.offsite.endpoint = url;
         }},
        {"offsite", "region", KeyType::string,
         [](Config& c, const Value& v) { c.offsite.region = non_empty(v); }},
        {"offsite", "path_style", KeyType::boolean,
         [](Config& c, const Value& v) { c.offsite.path_style = std::get<bool>(v); }},
        {"offsite", "ca_file", KeyType::string,
         [](Config& c, const Value& v) { c.offsite.ca_file = std::get<std::string>(v); }},
        {"offsite", "verify_tls", KeyType::boolean,
         [](Config& c, const Value& v) { c.offsite.verify_tls = std::get<bool>(v); }},
        {"offsite", "access_key_id_file", KeyType::string,
         [](Config& c, const Value& v) {
             c.offsite.access_key_id_file = std::get<std::string>(v);
         }},
        {"offsite", "secret_access_key_file", KeyType::string,
         [](Config& c, const Value& v) {
             c.offsite.secret_access_key_file = std::get<std::string>(v);
         }},
        {"offsite", "max_lag", KeyType::string,
         [](Config& c, const Value& v) {
             const auto seconds = parse_duration(std::get<std::string>(v));
             if (!seconds || *seconds <= 0)
                 throw BadValue{"must be a duration like \"90m\", \"6h\" or \"2d\", got '" +
                                std::get<std::string>(v) + "'"};
             c.offsite.max_lag_seconds = *seconds;
         }},
        {"offsite", "incremental_days", KeyType::integer,
         [](Config& c, const Value& v) { c.offsite.incremental_days = in_range(v, 1, 36500); }},
        {"offsite", "differential_days", KeyType::integer,
         [](Config& c, const Value& v) { c.offsite.differential_days = in_range(v, 1, 36500); }},
        {"offsite", "full_days", KeyType::integer,
         [](Config& c, const Value& v) { c.offsite.full_days = in_range(v, 1, 36500); }},
        {"offsite", "min_full", KeyType::integer,
         [](Config& c, const Value& v) { c.offsite.min_full = in_range(v, 1, 1000); }},
        {"encryption", "recipients", KeyType::string_list,
         [](Config& c, const Value& v) {
             c.encryption.recipients = std::get<std::vector<std::string>>(v);
         }},
        {"encryption", "recipients_file", KeyType::string,
         [](Config& c, const Value& v) {
             c.encryption.recipients_file = std::get<std::string>(v);
         }},
        {"encryption", "identity_file", KeyType::string,
         [](Config& c, const Value& v) { c.encryption.identity_file = std::get<std::string>(v); }},
        {"encryption", "signing_key_file", KeyType::string,
         [](Config& c, const Value& v) {
             c.encryption.signing_key_file = std::get<std::string>(v);
         }},
        {"encryption", "verify_key", KeyType::string,
         [](Config& c, const Value& v) { c.encryption.verify_key = std::get<std::string>(v); }},
        {"notify", "urls", KeyType::string_list,
         [](Config& c, const Value& v) {
             const auto& urls = std::get<std::vector<std::string>>(v);
             for (std::size_t i = 0; i < urls.size(); ++i) {
                 // Not quoted back: a webhook URL is a secret.
                 if (!is_webhook_url(urls[i]))
                     throw BadValue{"entry " + std::to_string(i + 1) +
                                    " is not an http:// or https:// URL with a host"};
             }
             c.notify.urls = urls;
         }},
        {"notify", "url_file", KeyType::string,
         [](Config& c, const Value& v) { c.notify.url_file = std::get<std::string>(v); }},
        {"notify", "format", KeyType::string,
         [](Config& c, const Value& v) {
             const auto& text = std::get<std::string>(v);
             const auto format = parse_notify_format(text);
             if (!format) throw BadValue{"must be \"json\" or \"slack\", got '" + text + "'"};
             c.notify.format = *format;
         }},
        {"notify", "on_success", KeyType::boolean,
         [](Config& c, const Value& v) { c.notify.on_success = std::get<bool>(v); }},
        {"notify", "timeout", KeyType::integer,
         [](Config& c, const Value& v) { c.notify.timeout_seconds = in_range(v, 1, 300); }},
        {"notify", "retries", KeyType::integer,
         [](Config& c, const Value& v) { c.notify.retries = in_range(v, 0, 10); }},
        {"daemon", "metrics_listen", KeyType::string,
         [](Config& c, const Value& v) {
             const auto& text = std::get<std::string>(v);  // "" = off
             if (!text.empty() && !parse_listen_address(text))
                 throw BadValue{
                     "must be HOST:PORT like \"127.0.0.1:9187\" (\"[::1]:9187\" for "
                     "IPv6, \"\" for off), got '" +
                     text + "'"};
             c.daemon.metrics_listen = text;
         }},
        {"daemon", "auto_restore", KeyType::boolean,
         [](Config& c, const Value& v) { c.daemon.auto_restore = std::get<bool>(v); }},
        {"daemon", "retry_delays", KeyType::string,
         [](Config& c, const Value& v) {
             const auto& text = std::get<std::string>(v);
             std::vector<std::chrono::seconds> delays;
             std::istringstream words(text);
             for (std::string word; words >> word;) {
                 const auto seconds = parse_duration(word);
                 if (!seconds || *seconds <= 0)
                     throw BadValue{
                         "must be durations like \"1m 5m 15m 60m\" (\"\" for no "
                         "retries), got '" +
                         text + "'"};
                 delays.emplace_back(*seconds);
             }
             c.daemon.retry_delays = std::move(delays);
         }},
        {"daemon", "log_level", KeyType::string,
         [](Config& c, const Value& v) {
             const auto& level = std::get<std::string>(v);
             if (!is_valid_log_level(level)) {
                 throw BadValue{
                     "must be one of trace, debug, info, warn, error, critical, off; got '" +
                     level + "'"};
             }
             c.daemon.log_level = level;
         }},
    };
    return specs;
}

std::string_view type_name(KeyType type) {
    switch (type) {
        case KeyType::string:
            return "a string";
        case KeyType::integer:
            return "an integer";
        case KeyType::boolean:
            return "a boolean (true or false)";
        case KeyType::string_list:
            return "an array of strings";
    }
    return "?";
}

const KeySpec* find_spec(std::string_view section, std::string_view key) {
    for (const auto& spec : key_specs()) {
        if (section == spec.section && key == spec.key) return &spec;
    }
    return nullptr;
}

bool known_section(std::string_view section) {
    return std::any_of(key_specs().begin(), key_specs().end(),
                       [&](const KeySpec& s) { return section == s.section; });
}

// "[postgres], [storage], …": the sections, in the order of the documentation.
std::string section_list() {
    std::vector<std::string_view> seen;
    std::string text;
    for (const auto& spec : key_specs()) {
        if (std::find(seen.begin(), seen.end(), spec.section) != seen.end()) continue;
        seen.push_back(spec.section);
        text += (text.empty() ? "[" : ", [") + std::string(spec.section) + "]";
    }
    return text;
}

// A key written before any [section] header.
std::string outside_section(const std::string& where, const std::string& key) {
    std::string owners;
    for (const auto& spec : key_specs()) {
        if (key == spec.key)
            owners += (owners.empty() ? "[" : " or [") + std::string(spec.section) + "]";
    }
    return where + ": key '" + key + "' is outside any section" +
           (owners.empty() ? "" : "; it belongs under " + owners) + " (the sections are " +
           section_list() + ")";
}

void apply(Config& config, const KeySpec& spec, const Value& value, const std::string& where) {
    try {
        spec.apply(config, value);
    } catch (const BadValue& bad) {
        throw ConfigError(where + ": " + spec.section + "." + spec.key + " " + bad.why);
    }
}

std::optional<Value> from_toml(const toml::node& node, KeyType type) {
    switch (type) {
        case KeyType::string:
            if (auto s = node.value_exact<std::string>()) return Value{*s};
            break;
        case KeyType::integer:
            if (auto n = node.value_exact<std::int64_t>()) return Value{*n};
            break;
        case KeyType::boolean:
            if (auto b = node.value_exact<bool>()) return Value{*b};
            break;
        case KeyType::string_list: {
            const auto* array = node.as_array();
            if (array == nullptr) break;
            std::vector<std::string> items;
            for (const auto& item : *array) {
                const auto text = item.value_exact<std::string>();
                if (!text) return std::nullopt;
                items.push_back(*text);
            }
            return Value{std::move(items)};
        }
    }
    return std::nullopt;
}

std::optional<Value> from_text(const std::string& text, KeyType type) {
    switch (type) {
        case KeyType::string:
            return Value{text};
        case KeyType::integer: {
            std::int64_t n = 0;
            std::size_t used = 0;
            try {
                n = std::stoll(text, &used);
            } catch (const std::exception&) {
                return std::nullopt;
            }
            if (used != text.size()) return std::nullopt;
            return Value{n};
        }
        case KeyType::boolean: {
            std::string lower = text;
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char ch) { return std::tolower(ch); });
            if (lower == "true" || lower == "1" || lower == "yes" || lower == "on")
                return Value{true};
            if (lower == "false" || lower == "0" || lower == "no" || lower == "off")
                return Value{false};
            return std::nullopt;
        }
        case KeyType::string_list: {  // words apart by spaces or commas
            std::vector<std::string> items;
            std::string word;
            for (char ch : text + " ") {
                if (ch == ' ' || ch == ',' || ch == '\t' || ch == '\n') {
                    if (!word.empty()) items.push_back(std::move(word));
                    word.clear();
                } else {
                    word += ch;
                }
            }
            return Value{std::move(items)};
        }
    }
    return std::nullopt;
}

void apply_toml(Config& config, const toml::table& root, const std::string& source) {
    for (const auto& [section_key, section_node] : root) {
        const std::string section{section_key.str()};
        const auto* table = section_node.as_table();
        if (!known_section(section)) {
            if (table == nullptr) {
                throw ConfigError(outside_section(
                    source + ":" + std::to_string(section_node.source().begin.line), section));
            }
            throw ConfigError(source + ": unknown section [" + section + "] (the sections are " +
                              section_list() + ")");
        }
        if (table == nullptr) {
            throw ConfigError(source + ": " + section + " must be a table ([" + section + "])");
        }
        for (const auto& [key_node, value_node] : *table) {
            const std::string key{key_node.str()};
            const auto* spec = find_spec(section, key);
            const auto line = value_node.source().begin.line;
            const std::string where = source + ":" + std::to_string(line);
            if (spec == nullptr) {
                throw ConfigError(where + ": unknown key " + section + "." + key);
            }
            auto value = from_toml(value_node, spec->type);
            if (!value) {
                throw ConfigError(where + ": " + section + "." + key + " must be " +
                                  std::string(type_name(spec->type)));
            }
            apply(config, *spec, *value, where);
        }
    }
}

// PGTIER_<SECTION>_<KEY> variables; PGTIER_CONFIG and PGTIER_LOG_LEVEL are handled elsewhere.
void apply_environment(Config& config, const Environment& env) {
    for (const auto& [name, text] : env) {
        if (name.rfind("PGTIER_", 0) != 0) continue;
        std::string rest = name.substr(7);
        std::transform(rest.begin(), rest.end(), rest.begin(),
                       [](unsigned char ch) { return std::tolower(ch); });
        const auto underscore = rest.find('_');
        if (underscore == std::string::npos) continue;
        const std::string section = rest.substr(0, underscore);
        const std::string key = rest.substr(underscore + 1);
        if (!known_section(section)) continue;  // PGTIER_CONFIG, PGTIER_LOG_LEVEL, …
        const auto* spec = find_spec(section, key);
        const std::string where = "environment variable " + name;
        if (spec == nullptr) {
            throw ConfigError(where + ": unknown key " + section + "." + key);
        }
        auto value = from_text(text, spec->type);
        if (!value) {
            throw ConfigError(where + ": " + section + "." + key + " must be " +
                              std::string(type_name(spec->type)) + ", got '" + text + "'");
        }
        apply(config, *spec, *value, where);
        config.from_environment[section + "." + key] = name;
    }
}

// The level for the format: the configured one, checked against the format's range, else the
// format's default.
void resolve_compression(Config& config) {
    auto& compression = config.compression;
    const auto levels = compression_levels(compression.format);
    if (!compression.level_set) {
        compression.level = levels.default_level;
        return;
    }
    if (compression.level < levels.low || compression.level > levels.high) {
        const auto other = compression.format == CompressionFormat::zstd ? CompressionFormat::bzip2
                                                                         : CompressionFormat::zstd;
        const auto other_levels = compression_levels(other);
        const auto variable = [&](const std::string& key) {
            const auto it = config.from_environment.find(key);
            return it == config.from_environment.end() ? std::string() : it->second;
        };
        const std::string level_variable = variable("compression.level");
        const std::string format_variable = variable("compression.format");
        const std::string format = std::string(to_string(compression.format));
        throw ConfigError(
            (level_variable.empty() ? config.source : "environment variable " + level_variable) +
            ": compression.level " + std::to_string(compression.level) +
            " is out of range for compression.format \"" + format + "\"" +
            (format_variable.empty() ? ""
                                     : " (from environment variable " + format_variable + ")") +
            ": " + format + " takes " + std::to_string(levels.low) + " to " +
            std::to_string(levels.high) + " (" + std::string(to_string(other)) + ": " +
            std::to_string(other_levels.low) + " to " + std::to_string(other_levels.high) + ")");
    }
}

std::string lookup(const Environment& env, const std::string& name) {
    auto it = env.find(name);
    return it == env.end() ? std::string{} : it->second;
}

}  // namespace

Environment current_environment() {
    Environment env;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        std::string text = *entry;
        const auto eq = text.find('=');
        if (eq != std::string::npos) env[text.substr(0, eq)] = text.substr(eq + 1);
    }
    return env;
}

Config parse_config(const std::string& toml_text, const std::string& source,
                    const Environment& env) {
    Config config;
    config.source = source;
    try {
        const toml::table root = toml::parse(toml_text, source);
        apply_toml(config, root, source);
    } catch (const toml::parse_error& err) {
        throw ConfigError(source + ":" + std::to_string(err.source().begin.line) +
                          ": not valid TOML: " + std::string(err.description()));
    }
    apply_environment(config, env);
    resolve_compression(config);
    return config;
}

Config load_config(const ConfigOverrides& overrides, const Environment& env) {
    std::string path = "/etc/pgtier/pgtier.toml";
    bool must_exist = false;
    if (overrides.config_file) {
        path = *overrides.config_file;
        must_exist = true;
    } else if (auto from_env = lookup(env, "PGTIER_CONFIG"); !from_env.empty()) {
        path = from_env;
        must_exist = true;
    }
    Config config;
    if (access(path.c_str(), F_OK) == 0) {
        // Only a regular file of bounded size (a link to one is fine: a Swarm config is):
        // a FIFO would hang, a device grow without end, a directory read as empty.
        const auto file = read_file(path, max_config_file_size);
        if (!file.ok()) {
            throw ConfigError(path + ": cannot read the configuration file: " +
                              read_failure_text(path, file.error, max_config_file_size));
        }
        config = parse_config(file.text, path, env);
    } else if (must_exist) {
        throw ConfigError(path + ": configuration file not found");
    } else {
        config = parse_config("", "defaults", env);
    }
    if (overrides.storage_dir) {
        if (overrides.storage_dir->empty()) throw ConfigError("--dir must not be empty");
        config.storage.dir = *overrides.storage_dir;
    }
    const std::string env_level = lookup(env, "PGTIER_LOG_LEVEL");
    if (!env_level.empty()) {
        if (!is_valid_log_level(env_level)) {
            throw ConfigError("environment variable PGTIER_LOG_LEVEL: unknown level '" + env_level +
                              "'");
        }
        config.daemon.log_level = env_level;
    }
    return config;
}

namespace {
std::string read_password_file(const std::string& path, const std::string& what,
                               const char* kind = "password file") {
    auto password = read_file(path, max_config_file_size);
    if (!password.ok()) {
        throw ConfigError(what + ": cannot read " + kind + " " + path + ": " +
                          read_failure_text(path, password.error, max_config_file_size));
    }
    std::string& text = password.text;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
}
}  // namespace

ConnectionSettings resolve_connection(const Config& config, const Environment& env) {
    ConnectionSettings settings;
    settings.host = !config.postgres.host.empty() ? config.postgres.host : lookup(env, "PGHOST");
    if (config.postgres.port) {
        settings.port = *config.postgres.port;
    } else if (auto text = lookup(env, "PGPORT"); !text.empty()) {
        try {
            settings.port = std::stoi(text);
        } catch (const std::exception&) {
            throw ConfigError("environment variable PGPORT: not a port number: '" + text + "'");
        }
    }
    settings.user = !config.postgres.user.empty()    ? config.postgres.user
                    : !lookup(env, "PGUSER").empty() ? lookup(env, "PGUSER")
                                                     : "postgres";
    if (!config.postgres.password_file.empty()) {
        settings.password = read_password_file(config.postgres.password_file,
                                               config.origin("postgres.password_file"));
    } else if (auto file = lookup(env, "POSTGRES_PASSWORD_FILE"); !file.empty()) {
        settings.password = read_password_file(file, "environment variable POSTGRES_PASSWORD_FILE");
    } else if (env.count("PGPASSWORD") != 0) {
        settings.password = lookup(env, "PGPASSWORD");
    }
    return settings;
}

namespace {

// A secret from a file (trailing newline dropped) or a variable; "" when neither is set.
std::string secret_from(const std::string& file, const std::string& file_origin,
                        const Environment& env, const std::string& variable) {
    if (!file.empty()) return read_password_file(file, file_origin, "credentials file");
    if (auto value = lookup(env, variable); !value.empty()) return value;
    if (auto path = lookup(env, variable + "_FILE"); !path.empty()) {
        return read_password_file(path, "environment variable " + variable + "_FILE",
                                  "credentials file");
    }
    return {};
}

}  // namespace

OffsiteCredentials resolve_offsite_credentials(const Config& config, const Environment& env) {
    OffsiteCredentials credentials;
    credentials.access_key_id =
        secret_from(config.offsite.access_key_id_file, config.origin("offsite.access_key_id_file"),
                    env, "AWS_ACCESS_KEY_ID");
    credentials.secret_access_key =
        secret_from(config.offsite.secret_access_key_file,
                    config.origin("offsite.secret_access_key_file"), env, "AWS_SECRET_ACCESS_KEY");
    credentials.session_token = secret_from("", "", env, "AWS_SESSION_TOKEN");
    if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
        throw ConfigError(
            "offsite copies to " + config.offsite.url +
            " need credentials: set offsite.access_key_id_file and "
            "offsite.secret_access_key_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
            "their _FILE forms)");
    }
    return credentials;
}

std::vector<std::string> resolve_notify_urls(const Config& config) {
    std::vector<std::string> urls = config.notify.urls;
    const std::string& path = config.notify.url_file;
    if (path.empty()) return urls;
    const std::string origin = config.origin("notify.url_file");
    const auto file = read_file(path, max_config_file_size);
    if (!file.ok()) {
        throw ConfigError(origin + ": cannot read the webhook URL file " + path + ": " +
                          read_failure_text(path, file.error, max_config_file_size));
    }
    std::istringstream lines(file.text);
    int number = 0;
    for (std::string line; std::getline(lines, line);) {
        ++number;
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
            line.pop_back();
        line.erase(0, line.find_first_not_of(" \t"));
        if (line.empty() || line.front() == '#') continue;
        if (!is_webhook_url(line)) {
            throw ConfigError(origin + ": " + path + ":" + std::to_string(number) +
                              ": not an http:// or https:// URL with a host");
        }
        urls.push_back(line);
    }
    return urls;
}

std::string effective_timezone(const Config& config, const Environment& env) {
    if (!config.schedule.timezone.empty()) return config.schedule.timezone;
    std::string tz = lookup(env, "TZ");
    if (!tz.empty() && tz[0] == ':') tz.erase(0, 1);
    return tz.empty() ? "UTC" : tz;
}

void apply_timezone(const Config& config, const Environment& env) {
    try {
        set_process_timezone(effective_timezone(config, env));
    } catch (const ConfigError& err) {
        const std::string where = config.schedule.timezone.empty()
                                      ? "environment variable TZ"
                                      : config.origin("schedule.timezone");
        throw ConfigError(where + ": " + err.what());
    }
}

std::string Config::origin(const std::string& key) const {
    const auto it = from_environment.find(key);
    return it != from_environment.end() ? "environment variable " + it->second
                                        : source + ": " + key;
}

}  // namespace pgtier
