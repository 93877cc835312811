#include "pgtier/pg/database.hpp"

#include <libpq-fe.h>

#include "pgtier/core/errors.hpp"
#include "pgtier/sys/log.hpp"

namespace pgtier {

namespace {
// libpq's message on one line (it ends in a newline and may hold a tab-indented hint line),
// so that each log record stays one line.
std::string trimmed(const char* text) {
    std::string s = text != nullptr ? text : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    std::string out;
    for (char ch : s) {
        if (ch == '\n' || ch == '\t') {
            if (!out.empty() && out.back() != ' ') out.push_back(' ');
        } else {
            out.push_back(ch);
        }
    }
    return out;
}
}  // namespace

const std::string& QueryResult::at(std::size_t row, std::size_t column) const {
    static const std::string empty;
    const auto& value = rows.at(row).at(column);
    return value ? *value : empty;
}

std::string describe_target(const ConnectionSettings& settings) {
    std::string host = settings.host.empty() ? "(libpq default socket)" : settings.host;
    return "host=" + host + " port=" + std::to_string(settings.port) + " user=" + settings.user;
}

Connection::Connection(const ConnectionSettings& settings, const std::string& database)
    : database_(database) {
    const std::string port = std::to_string(settings.port);
    std::vector<const char*> keys, values;
    auto add = [&](const char* key, const std::string& value) {
        keys.push_back(key);
        values.push_back(value.c_str());
    };
    if (!settings.host.empty()) add("host", settings.host);
    add("port", port);
    add("user", settings.user);
    add("dbname", database);
    if (settings.password) add("password", *settings.password);
    static const std::string app = "pgtier";
    static const std::string timeout = "10";
    add("application_name", app);
    add("connect_timeout", timeout);
    keys.push_back(nullptr);
    values.push_back(nullptr);
    // expand_dbname = 0: a database name is only ever a name, whatever characters it holds.
    conn_ = PQconnectdbParams(keys.data(), values.data(), 0);
    if (conn_ != nullptr) {
        // libpq prints server notices (a WARNING of pg_terminate_backend, say) on stderr by
        // default, outside the log; pgtier keeps them as debug records.
        PQsetNoticeProcessor(
            conn_,
            [](void*, const char* message) { spdlog::debug("server: {}", trimmed(message)); },
            nullptr);
    }
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
        std::string why = conn_ != nullptr ? trimmed(PQerrorMessage(conn_)) : "out of memory";
        PQfinish(conn_);
        throw Error("cannot connect to PostgreSQL (" + describe_target(settings) +
                    " dbname=" + database + "): " + why);
    }
}

Connection::~Connection() {
    PQfinish(conn_);
}

int Connection::server_version_num() const {
    return PQserverVersion(conn_);
}

QueryResult Connection::run(const char* sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    PGresult* res = PQexecParams(conn_, sql, static_cast<int>(values.size()), nullptr,
                                 values.data(), nullptr, nullptr, 0);
    const auto status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        std::string why = trimmed(PQresultErrorMessage(res));
        if (why.empty()) why = trimmed(PQerrorMessage(conn_));
        PQclear(res);
        throw Error("query failed in database " + database_ + ": " + why);
    }
    QueryResult result;
    const int rows = PQntuples(res), columns = PQnfields(res);
    result.rows.reserve(static_cast<std::size_t>(rows));
    for (int r = 0; r < rows; ++r) {
        QueryResult::Row row;
        for (int c = 0; c < columns; ++c) {
            if (PQgetisnull(res, r, c)) {
                row.emplace_back(std::nullopt);
            } else {
                row.emplace_back(std::string(PQgetvalue(res, r, c),
                                             static_cast<std::size_t>(PQgetlength(res, r, c))));
            }
        }
        result.rows.push_back(std::move(row));
    }
    PQclear(res);
    return result;
}

}  // namespace pgtier
