#pragma once
// A PostgreSQL connection (pimpl over pqxx::connection), transactions and small results.
// libpqxx exceptions are converted here, at the module boundary, into DatabaseError:
//   broken connection at connect time -> "cannot connect to host:port/db as user: <reason>"
//   broken connection later           -> "lost the connection to host:port/db: <reason>"
//   SQL error                         -> the server's message, with sqlstate()
//   commit state unknown              -> "commit state unknown; rerun is safe"
// No pqxx types appear here beyond forward declarations (raw() is for module internals).

#include "baims/db/settings.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace pqxx {
class connection_base;
class transaction_base;
} // namespace pqxx

namespace baims::db {

// One statement parameter as text (PostgreSQL converts it to the parameter's type), or NULL.
class Param {
public:
    Param(std::nullopt_t) {}
    Param(std::nullptr_t) {}
    Param(const char* s);
    Param(std::string s)
        : m_value(std::move(s)) {}
    Param(std::string_view s)
        : m_value(std::string(s)) {}
    Param(bool b)
        : m_value(b ? "true" : "false") {}
    template <typename T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) Param(T v)
        : m_value(std::to_string(v)) {}
    Param(double v); // shortest text that round-trips; NaN, Infinity, -Infinity
    Param(float v)
        : Param(static_cast<double>(v)) {}
    template <typename T>
    Param(const std::optional<T>& v)
        : Param(v ? Param(*v) : Param(std::nullopt)) {}

    const std::optional<std::string>& value() const { return m_value; }

private:
    std::optional<std::string> m_value;
};

// A fully read query result (text values). Meant for small results; bulk data goes through
// CopyWriter.
class Result {
public:
    std::size_t size() const { return m_rows; }
    bool empty() const { return m_rows == 0; }
    std::size_t columns() const { return m_names.size(); }
    const std::vector<std::string>& column_names() const { return m_names; }
    // Index of a column by name; throws InternalError if absent.
    std::size_t column(std::string_view name) const;
    // Rows changed by INSERT/UPDATE/DELETE (0 for other statements).
    std::int64_t affected_rows() const { return m_affected; }

    bool is_null(std::size_t row, std::size_t col) const;
    const std::optional<std::string>& value(std::size_t row, std::size_t col) const;
    // The value as text/number; throws DatabaseError for NULL or unparsable values.
    const std::string& text(std::size_t row, std::size_t col) const;
    std::int64_t int64(std::size_t row, std::size_t col) const;
    double real(std::size_t row, std::size_t col) const;
    bool boolean(std::size_t row, std::size_t col) const;

    // For the implementation.
    Result(std::vector<std::string> names, std::vector<std::optional<std::string>> cells,
           std::size_t rows, std::int64_t affected);
    Result() = default;

private:
    std::vector<std::string> m_names;
    std::vector<std::optional<std::string>> m_cells; // row-major
    std::size_t m_rows = 0;
    std::int64_t m_affected = 0;
};

class Connection {
public:
    // Connects (UTF-8 client encoding, application_name "baims" unless set). Throws
    // DatabaseError("cannot connect to host:port/db as user: reason", hint).
    explicit Connection(const ConnectionSettings& settings);
    ~Connection();
    Connection(Connection&&) noexcept;
    Connection& operator=(Connection&&) noexcept;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Autocommit execution (no Transaction may be open on this connection).
    Result exec(const std::string& sql);
    template <typename... Args> Result exec_params(const std::string& sql, const Args&... args) {
        return exec_params_list(sql, {Param(args)...});
    }
    Result exec_params_list(const std::string& sql, const std::vector<Param>& params);

    const ConnectionSettings& settings() const;
    std::string describe() const; // "host:port/db as user", as connected
    int backend_pid() const;
    int server_version() const; // e.g. 150020

    // For db module internals (and other modules' src/ files that need libpqxx directly).
    pqxx::connection_base& raw();

    // Call inside a catch block: converts the in-flight exception (pqxx or std) into the
    // matching baims error, with "context: " in front of the message, and throws it.
    // baims::Error passes through (with the context added).
    [[noreturn]] void rethrow_current(const std::string& context = {}) const;

private:
    friend class Transaction;
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// A read-committed transaction. Rolled back on destruction unless commit() succeeded.
class Transaction {
public:
    explicit Transaction(Connection& connection, const std::string& name = "baims");
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    Result exec(const std::string& sql);
    template <typename... Args> Result exec_params(const std::string& sql, const Args&... args) {
        return exec_params_list(sql, {Param(args)...});
    }
    Result exec_params_list(const std::string& sql, const std::vector<Param>& params);

    // Commits. A lost connection during COMMIT is reported as "commit state unknown; rerun is
    // safe" (DatabaseError).
    void commit();
    // Rolls back now (also done by the destructor).
    void abort();

    Connection& connection() { return m_connection; }
    pqxx::transaction_base& raw();

private:
    Connection& m_connection;
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// True when the table (or view) exists; uses to_regclass, so a missing schema is just "no".
bool table_exists(Transaction& tx, const QualifiedName& table);
bool table_exists(Connection& conn, const QualifiedName& table);

// "libpq 15.20, libpqxx 6.4.5" for --version.
std::string library_versions();

} // namespace baims::db
