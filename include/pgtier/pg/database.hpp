#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pgtier/sys/config.hpp"

struct pg_conn;
struct pg_result;

namespace pgtier {

// Rows of text values from one query (NULL is std::nullopt).
class QueryResult {
  public:
    using Row = std::vector<std::optional<std::string>>;
    std::vector<Row> rows;
    const std::string& at(std::size_t row, std::size_t column) const;
};

// One libpq connection (RAII). Only the queries module runs SQL through it.
class Connection {
  public:
    Connection(const ConnectionSettings& settings, const std::string& database);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    QueryResult run(const char* sql, const std::vector<std::string>& params = {});
    int server_version_num() const;
    const std::string& database() const { return database_; }

  private:
    pg_conn* conn_;
    std::string database_;
};

// "host=… port=… user=…" for messages (never the password).
std::string describe_target(const ConnectionSettings& settings);

}  // namespace pgtier
