#include "baims/db/connection.hpp"

#include "pq_error.hpp"

#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/core/text.hpp"

#include <pqxx/pqxx>
#include <pqxx/version>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <libpq-fe.h>

namespace baims::db {
namespace detail {

std::string clean_message(const std::string& message) {
    std::string m = message;
    // libpq (PG >= 14): 'connection to server at "h" (1.2.3.4), port 5432 failed: FATAL:  ...'
    for (const char* marker : {"failed: "}) {
        auto pos = m.find(marker);
        if (pos != std::string::npos && text::starts_with(m, "connection to server")) {
            m = m.substr(pos + std::strlen(marker));
        }
    }
    for (const char* prefix : {"ERROR:", "FATAL:", "PANIC:"}) {
        if (text::starts_with(m, prefix)) {
            m = m.substr(std::strlen(prefix));
        }
    }
    // Keep the first line only (the rest is LINE 1: <query>, HINT:, or libpq's advice).
    auto nl = m.find('\n');
    if (nl != std::string::npos) {
        m = m.substr(0, nl);
    }
    m = text::trim(m);
    if (m.size() >= 2 && std::isupper(static_cast<unsigned char>(m[0])) &&
        std::islower(static_cast<unsigned char>(m[1]))) {
        m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
    }
    while (!m.empty() && (m.back() == '.' || m.back() == ' ')) {
        m.pop_back();
    }
    return log::redact(m);
}

std::string server_hint_of(const std::string& message) {
    auto pos = message.find("\nHINT:");
    if (pos == std::string::npos) {
        return {};
    }
    std::string h = message.substr(pos + 6);
    auto nl = h.find('\n');
    if (nl != std::string::npos) {
        h = h.substr(0, nl);
    }
    h = text::trim(h);
    while (!h.empty() && (h.back() == '.' || h.back() == ' ')) {
        h.pop_back();
    }
    return log::redact(h);
}

void rethrow_current(const std::string& where, const std::string& context, bool connection_open) {
    auto with = [&](const std::string& what) {
        return context.empty() ? what : context + ": " + what;
    };
    try {
        throw;
    } catch (const Error& e) {
        if (context.empty()) {
            throw;
        }
        e.rethrow_with_context(context);
    } catch (const pqxx::in_doubt_error& e) {
        throw DatabaseError(with("commit state unknown on " + where + ": " +
                                 clean_message(e.what()) + "; rerun is safe"),
                            "Each unit of work is one transaction; running the command again "
                            "completes it without duplicates");
    } catch (const pqxx::broken_connection& e) {
        throw DatabaseError(
            with("lost the connection to " + where + ": " + clean_message(e.what())),
            "Nothing of the unfinished transaction was kept; rerun is safe");
    } catch (const pqxx::sql_error& e) {
        std::string hint;
        const std::string& state = e.sqlstate();
        if (state == "42P01") {
            hint = "Create the tables with --create-tables, or check the table names";
        } else if (state == "42501") {
            hint = "The database user lacks a privilege for this";
        } else if (state == "22021") {
            hint = "The data hold text that is not UTF-8 (the database's encoding); give it in "
                   "UTF-8";
        } else if (state.rfind("08", 0) == 0 || state == "57P01") {
            hint = "Nothing of the unfinished transaction was kept; rerun is safe";
        }
        // The server's own hint (HINT: line of the message) comes first when there is one.
        std::string server_hint = server_hint_of(e.what());
        if (!server_hint.empty()) {
            hint = hint.empty() ? server_hint : server_hint + ". " + hint;
        }
        std::string what = clean_message(e.what());
        if (!state.empty()) {
            what += " (SQLSTATE " + state + ")";
        }
        throw DatabaseError(with(what), hint, state);
    } catch (const pqxx::usage_error& e) {
        throw InternalError(with(std::string("database API misuse: ") + e.what()));
    } catch (const pqxx::failure& e) {
        // A write into a COPY on a dead connection surfaces as a plain failure.
        if (!connection_open) {
            throw DatabaseError(
                with("lost the connection to " + where + ": " + clean_message(e.what())),
                "Nothing of the unfinished transaction was kept; rerun is safe");
        }
        throw DatabaseError(with(clean_message(e.what())));
    } catch (const pqxx::conversion_error& e) {
        throw DatabaseError(with(std::string("unexpected value from the database: ") + e.what()));
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception& e) {
        throw InternalError(with(e.what()));
    }
    throw InternalError(with("unknown error")); // not reached: every handler throws
}

} // namespace detail

// ---------------------------------------------------------------------------------------------
Param::Param(const char* s) {
    if (s) {
        m_value = s;
    }
}

Param::Param(double v) {
    if (std::isnan(v)) {
        m_value = "NaN";
    } else if (std::isinf(v)) {
        m_value = v > 0 ? "Infinity" : "-Infinity";
    } else {
        char buf[64];
        auto r = std::to_chars(buf, buf + sizeof buf, v);
        m_value = std::string(buf, r.ptr);
    }
}

// ---------------------------------------------------------------------------------------------
Result::Result(std::vector<std::string> names, std::vector<std::optional<std::string>> cells,
               std::size_t rows, std::int64_t affected)
    : m_names(std::move(names))
    , m_cells(std::move(cells))
    , m_rows(rows)
    , m_affected(affected) {}

std::size_t Result::column(std::string_view name) const {
    for (std::size_t i = 0; i < m_names.size(); ++i) {
        if (m_names[i] == name) {
            return i;
        }
    }
    throw InternalError("query result has no column '" + std::string(name) + "'");
}

const std::optional<std::string>& Result::value(std::size_t row, std::size_t col) const {
    if (row >= m_rows || col >= m_names.size()) {
        throw InternalError("query result index out of range");
    }
    return m_cells[row * m_names.size() + col];
}

bool Result::is_null(std::size_t row, std::size_t col) const {
    return !value(row, col).has_value();
}

const std::string& Result::text(std::size_t row, std::size_t col) const {
    const auto& v = value(row, col);
    if (!v) {
        throw DatabaseError("unexpected NULL in column '" + m_names[col] + "'");
    }
    return *v;
}

std::int64_t Result::int64(std::size_t row, std::size_t col) const {
    const std::string& s = text(row, col);
    std::int64_t out = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) {
        throw DatabaseError("column '" + m_names[col] + "': '" + s + "' is not an integer");
    }
    return out;
}

double Result::real(std::size_t row, std::size_t col) const {
    const std::string& s = text(row, col);
    if (s == "NaN") {
        return std::nan("");
    }
    if (s == "Infinity" || s == "-Infinity") {
        return s[0] == '-' ? -HUGE_VAL : HUGE_VAL;
    }
    double out = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) {
        throw DatabaseError("column '" + m_names[col] + "': '" + s + "' is not a number");
    }
    return out;
}

bool Result::boolean(std::size_t row, std::size_t col) const {
    const std::string& s = text(row, col);
    return s == "t" || s == "true";
}

namespace {

Result convert(const pqxx::result& r) {
    std::vector<std::string> names;
    auto ncols = static_cast<std::size_t>(r.columns());
    names.reserve(ncols);
    for (pqxx::row::size_type c = 0; c < r.columns(); ++c) {
        names.emplace_back(r.column_name(c));
    }
    std::vector<std::optional<std::string>> cells;
    cells.reserve(r.size() * ncols);
    for (const auto& row : r) {
        for (const auto& field : row) {
            if (field.is_null()) {
                cells.emplace_back();
            } else {
                cells.emplace_back(std::string(field.c_str(), field.size()));
            }
        }
    }
    return Result(std::move(names), std::move(cells), r.size(), r.affected_rows());
}

// The parameters' text; a value that is not UTF-8 (a name typed in a Latin-1 terminal, e.g. --aoi)
// is refused here with the value shown as its characters, not sent for the server's "invalid
// byte sequence for encoding UTF8".
std::vector<std::optional<std::string>> to_values(const std::vector<Param>& params) {
    std::vector<std::optional<std::string>> values;
    values.reserve(params.size());
    for (const auto& p : params) {
        if (p.value() && !text::is_utf8(*p.value())) {
            throw ConfigError("the value '" + text::valid_utf8(*p.value()) +
                                  "' is not UTF-8 text (the database's encoding)",
                              "Give names and values in UTF-8");
        }
        values.push_back(p.value());
    }
    return values;
}

// Appends keyword='value' with libpq's quoting (backslash and single quote escaped).
void append_param(std::string& conninfo, const std::string& keyword, const std::string& value) {
    if (!conninfo.empty()) {
        conninfo += ' ';
    }
    conninfo += keyword;
    conninfo += "='";
    for (char c : value) {
        if (c == '\\' || c == '\'') {
            conninfo += '\\';
        }
        conninfo += c;
    }
    conninfo += '\'';
}

// Overwrites a string holding a secret before its memory is released.
void wipe(std::string& s) {
    volatile char* p = s.data();
    for (std::size_t i = 0; i < s.size(); ++i) {
        p[i] = '\0';
    }
    s.clear();
}

} // namespace

// ---------------------------------------------------------------------------------------------
struct Connection::Impl {
    ConnectionSettings settings;
    std::unique_ptr<pqxx::connection> conn;
    std::string where; // host:port/db for messages
};

Connection::Connection(const ConnectionSettings& settings)
    : m_impl(std::make_unique<Impl>()) {
    m_impl->settings = settings;
    m_impl->where = settings.host() + ":" + settings.port() + "/" + settings.dbname();
    // The conninfo string is built here, in memory, and never logged or stored by us.
    //
    // Why not PGPASSWORD in the environment: setenv/unsetenv race with getenv() calls on other
    // threads (GDAL reads configuration from the environment from worker threads), and the
    // variable would be inherited by any child process started meanwhile. The password is only
    // ever in this local string (wiped after use), in the settings object it came from, and
    // inside libpq/libpqxx's own connection state (which needs it to authenticate); it is never
    // in argv, a log line or an error message (errors are built from describe(), not from this).
    std::string conninfo;
    append_param(conninfo, "fallback_application_name", "baims");
    append_param(conninfo, "client_encoding", "UTF8");
    for (const auto& [k, v] : settings.parameters()) {
        append_param(conninfo, k, v);
    }
    if (settings.has_password()) {
        append_param(conninfo, "password", settings.m_password);
    }
    try {
        m_impl->conn = std::make_unique<pqxx::connection>(conninfo);
        wipe(conninfo);
        // A lost connection must surface as an error, not be reopened silently behind a
        // transaction's back.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        m_impl->conn->inhibit_reactivation(true); // deprecated in 6.4, still effective
#pragma GCC diagnostic pop
    } catch (const pqxx::broken_connection& e) {
        wipe(conninfo);
        throw DatabaseError("cannot connect to " + settings.describe() + ": " +
                                detail::clean_message(e.what()),
                            "Check PGHOST/PGPORT/PGSERVICE or --db");
    } catch (...) {
        wipe(conninfo);
        detail::rethrow_current(m_impl->where, "connecting to " + settings.describe(), false);
    }
    log::debug("connected to " + describe() + " (server " +
               std::to_string(m_impl->conn->server_version()) + ")");
}

Connection::~Connection() = default;
Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&&) noexcept = default;

Result Connection::exec(const std::string& sql) {
    try {
        pqxx::nontransaction tx(*m_impl->conn);
        return convert(tx.exec(sql));
    } catch (...) {
        rethrow_current();
    }
}

Result Connection::exec_params_list(const std::string& sql, const std::vector<Param>& params) {
    try {
        pqxx::nontransaction tx(*m_impl->conn);
        auto values = to_values(params);
        return convert(tx.exec_params(sql, pqxx::prepare::make_dynamic_params(values)));
    } catch (...) {
        rethrow_current();
    }
}

const ConnectionSettings& Connection::settings() const {
    return m_impl->settings;
}

std::string Connection::describe() const {
    auto& c = *m_impl->conn;
    auto s = [](const char* v) { return v ? std::string(v) : std::string(); };
    std::string host = s(c.hostname());
    if (host.empty()) {
        host = m_impl->settings.host();
    }
    return host + ":" + s(c.port()) + "/" + s(c.dbname()) + " as " + s(c.username());
}

int Connection::backend_pid() const {
    return m_impl->conn->backendpid();
}

int Connection::server_version() const {
    return m_impl->conn->server_version();
}

pqxx::connection_base& Connection::raw() {
    return *m_impl->conn;
}

void Connection::rethrow_current(const std::string& context) const {
    bool open = m_impl->conn && m_impl->conn->is_open();
    detail::rethrow_current(m_impl->where, context, open);
}

// ---------------------------------------------------------------------------------------------
struct Transaction::Impl {
    std::unique_ptr<pqxx::work> work;
    bool done = false;
};

Transaction::Transaction(Connection& connection, const std::string& name)
    : m_connection(connection)
    , m_impl(std::make_unique<Impl>()) {
    try {
        m_impl->work = std::make_unique<pqxx::work>(connection.raw(), name);
    } catch (...) {
        connection.rethrow_current("starting a transaction");
    }
}

Transaction::~Transaction() {
    if (!m_impl->done) {
        try {
            m_impl->work->abort();
        } catch (...) {
            // The connection is gone: the server rolls back on its own.
        }
    }
}

Result Transaction::exec(const std::string& sql) {
    try {
        return convert(m_impl->work->exec(sql));
    } catch (...) {
        m_connection.rethrow_current();
    }
}

Result Transaction::exec_params_list(const std::string& sql, const std::vector<Param>& params) {
    try {
        auto values = to_values(params);
        return convert(m_impl->work->exec_params(sql, pqxx::prepare::make_dynamic_params(values)));
    } catch (...) {
        m_connection.rethrow_current();
    }
}

void Transaction::commit() {
    try {
        m_impl->work->commit();
        m_impl->done = true;
    } catch (const pqxx::broken_connection&) {
        // pqxx reports a connection lost during COMMIT as in_doubt_error; any other broken
        // connection here means the commit was not sent.
        m_impl->done = true;
        m_connection.rethrow_current("committing");
    } catch (...) {
        m_impl->done = true;
        m_connection.rethrow_current("committing");
    }
}

void Transaction::abort() {
    if (m_impl->done) {
        return;
    }
    m_impl->done = true;
    try {
        m_impl->work->abort();
    } catch (...) {
        m_connection.rethrow_current("rolling back");
    }
}

pqxx::transaction_base& Transaction::raw() {
    return *m_impl->work;
}

// ---------------------------------------------------------------------------------------------
bool table_exists(Transaction& tx, const QualifiedName& table) {
    auto r = tx.exec_params("SELECT to_regclass($1) IS NOT NULL", table.quoted());
    return r.boolean(0, 0);
}

bool table_exists(Connection& conn, const QualifiedName& table) {
    auto r = conn.exec_params("SELECT to_regclass($1) IS NOT NULL", table.quoted());
    return r.boolean(0, 0);
}

std::string library_versions() {
    int v = PQlibVersion();
    return "libpq " + std::to_string(v / 10000) + "." + std::to_string(v % 10000) +
           ", libpqxx " PQXX_VERSION;
}

} // namespace baims::db
