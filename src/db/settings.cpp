#include "baims/db/settings.hpp"

#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/core/text.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <libpq-fe.h>
#include <memory>
#include <sstream>
#include <sys/stat.h>

namespace baims::db {
namespace {

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
}

// The value of keyword in a pg_service.conf section, or "" (libpq's format: INI, key=value).
std::string service_value(const std::string& service, const std::string& keyword) {
    std::vector<std::string> files;
    if (const char* f = env("PGSERVICEFILE")) {
        files.emplace_back(f);
    } else if (const char* home = env("HOME")) {
        files.push_back(std::string(home) + "/.pg_service.conf");
    }
    if (const char* d = env("PGSYSCONFDIR")) {
        files.push_back(std::string(d) + "/pg_service.conf");
    } else {
        files.emplace_back("/etc/postgresql-common/pg_service.conf");
    }
    for (const auto& file : files) {
        std::ifstream in(file);
        if (!in) {
            continue;
        }
        std::string line;
        bool in_section = false;
        bool found_section = false;
        while (std::getline(in, line)) {
            std::string t = text::trim(line);
            if (t.empty() || t[0] == '#') {
                continue;
            }
            if (t.front() == '[' && t.back() == ']') {
                in_section = t.substr(1, t.size() - 2) == service;
                found_section = found_section || in_section;
                continue;
            }
            auto eq = t.find('=');
            if (in_section && eq != std::string::npos && text::trim(t.substr(0, eq)) == keyword) {
                return text::trim(t.substr(eq + 1));
            }
        }
        if (found_section) {
            return {}; // libpq uses the first file that has the service
        }
    }
    return {};
}

// Frees a libpq option array however the scope is left (an exception from a copy, too).
struct ConninfoFree {
    void operator()(PQconninfoOption* opts) const { PQconninfoFree(opts); }
};
using ConninfoPtr = std::unique_ptr<PQconninfoOption, ConninfoFree>;

// libpq's defaults for keyword (environment variables, then compiled-in defaults).
std::string libpq_default(const std::string& keyword) {
    std::string out;
    ConninfoPtr opts(PQconndefaults());
    if (!opts) {
        return out;
    }
    for (PQconninfoOption* o = opts.get(); o->keyword; ++o) {
        if (keyword == o->keyword && o->val) {
            out = o->val;
        }
    }
    return out;
}

std::string json_scalar(const nlohmann::json& v) {
    if (v.is_string()) {
        return v.get<std::string>();
    }
    if (v.is_null()) {
        return {};
    }
    return v.dump();
}

} // namespace

ConnectionSettings ConnectionSettings::from_dsn(const std::string& dsn) {
    ConnectionSettings s;
    s.m_origin = "--db";
    char* err = nullptr;
    ConninfoPtr opts(PQconninfoParse(dsn.c_str(), &err));
    if (!opts) {
        std::string why = err ? text::trim(err) : "out of memory";
        if (err) {
            PQfreemem(err);
        }
        throw ConfigError("--db: invalid connection string: " + log::redact(why),
                          "Use libpq syntax, e.g. --db \"host=db1 port=5432 dbname=cbm user=me\"");
    }
    bool has_password = false;
    for (PQconninfoOption* o = opts.get(); o->keyword; ++o) {
        if (!o->val) {
            continue;
        }
        if (std::string(o->keyword) == "password") {
            has_password = true;
            continue;
        }
        s.m_params.emplace_back(o->keyword, o->val);
    }
    opts.reset();
    if (has_password) {
        throw ConfigError("--db must not contain a password (it would be visible in the process "
                          "list and shell history)",
                          "Put it in ~/.pgpass or a file named by PGPASSFILE, or use PGSERVICE");
    }
    return s;
}

ConnectionSettings ConnectionSettings::from_db_config(const std::filesystem::path& file) {
    ConnectionSettings s;
    s.m_origin = file.string();
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        throw ConfigError("cannot read db config '" + file.string() + "'",
                          "Check the path given to --db-config");
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(buffer.str());
    } catch (const nlohmann::json::exception& e) {
        // The parser's message names the byte offset, never the content.
        throw ConfigError(file.string() + ": not valid JSON: " + e.what(),
                          "The JRC format is {\"database\": {\"connection\": {...}}}");
    }
    auto bad = [&](const std::string& path, const std::string& why) {
        return ConfigError(file.string() + ": " + path + ": " + why,
                           "See SPEC 6.1 for the db_config.json format");
    };
    if (!j.is_object() || !j.contains("database") || !j["database"].is_object()) {
        throw bad("database", "missing (expected an object)");
    }
    const auto& db = j["database"];
    static const std::map<std::string, std::string> keymap = {{"host", "host"},
                                                              {"port", "port"},
                                                              {"dbname", "dbname"},
                                                              {"dbuser", "user"},
                                                              {"sslmode", "sslmode"}};
    if (db.contains("connection")) {
        const auto& c = db["connection"];
        if (!c.is_object()) {
            throw bad("database.connection", "expected an object");
        }
        for (const auto& [key, value] : c.items()) {
            if (key == "dbpasswd") {
                if (!value.is_string() && !value.is_null()) {
                    throw bad("database.connection.dbpasswd", "expected a string");
                }
                s.m_password = value.is_string() ? value.get<std::string>() : std::string();
                continue;
            }
            auto it = keymap.find(key);
            if (it == keymap.end()) {
                std::vector<std::string> names{"host",   "port",     "dbname",
                                               "dbuser", "dbpasswd", "sslmode"};
                std::string suggestion = text::did_you_mean(key, names);
                throw ConfigError(
                    file.string() + ": database.connection." + key + ": unknown key" +
                        (suggestion.empty() ? "" : " (did you mean '" + suggestion + "'?)"),
                    "Known keys: host, port, dbname, dbuser, dbpasswd, sslmode");
            }
            if (!value.is_string() && !value.is_number_integer()) {
                throw bad("database.connection." + key, "expected a string or an integer");
            }
            std::string v = json_scalar(value);
            if (!v.empty()) {
                s.m_params.emplace_back(it->second, v);
            }
        }
    }
    if (db.contains("tables")) {
        const auto& t = db["tables"];
        if (!t.is_object()) {
            throw bad("database.tables", "expected an object");
        }
        static const std::map<std::string, QualifiedName TableNames::*> tmap = {
            {"aoi_table", &TableNames::aoi},
            {"parcel_table", &TableNames::parcel},
            {"catalog_table", &TableNames::catalog},
            {"sigs_table", &TableNames::sigs},
            {"hists_table", &TableNames::hists},
            {"extraction_table", &TableNames::extraction},
            {"catalogue_extra_table", &TableNames::catalogue_extra}};
        for (const auto& [key, value] : t.items()) {
            auto it = tmap.find(key);
            if (it == tmap.end()) {
                // Other JRC keys (e.g. per-tool tables) are kept as args, not refused.
                s.args["tables." + key] = json_scalar(value);
                continue;
            }
            if (!value.is_string()) {
                throw bad("database.tables." + key, "expected a string");
            }
            s.tables.*(it->second) = QualifiedName::parse(
                value.get<std::string>(), file.string() + ": database.tables." + key);
        }
    }
    if (db.contains("args")) {
        const auto& a = db["args"];
        if (!a.is_object()) {
            throw bad("database.args", "expected an object");
        }
        for (const auto& [key, value] : a.items()) {
            s.args[key] = json_scalar(value);
        }
    }
    if (s.has_password()) {
        struct stat st {};
        if (::stat(file.c_str(), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
            log::warn("db config '" + file.string() +
                      "' holds a password and is readable by group or others; run 'chmod 600 " +
                      file.string() + "' or move the password to ~/.pgpass");
        }
    }
    return s;
}

std::string ConnectionSettings::resolved(const std::string& keyword) const {
    std::string service;
    for (const auto& [k, v] : m_params) {
        if (k == keyword) {
            return v;
        }
        if (k == "service") {
            service = v;
        }
    }
    if (service.empty() && env("PGSERVICE")) {
        service = env("PGSERVICE");
    }
    if (!service.empty()) {
        std::string v = service_value(service, keyword);
        if (!v.empty()) {
            return v;
        }
    }
    return libpq_default(keyword);
}

std::string ConnectionSettings::host() const {
    std::string h = resolved("host");
    if (h.empty()) {
        h = resolved("hostaddr");
    }
    return h.empty() ? std::string("/var/run/postgresql") : h;
}

std::string ConnectionSettings::port() const {
    std::string p = resolved("port");
    return p.empty() ? std::string("5432") : p;
}

std::string ConnectionSettings::user() const {
    return resolved("user");
}

std::string ConnectionSettings::dbname() const {
    std::string d = resolved("dbname");
    return d.empty() ? user() : d;
}

std::string ConnectionSettings::describe() const {
    return host() + ":" + port() + "/" + dbname() + " as " + user();
}

} // namespace baims::db
