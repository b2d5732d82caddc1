#pragma once
// Where to connect and which tables to use: libpq environment/service/.pgpass (default), --db
// without a password, or the JRC db_config.json (SPEC 6.1). The password (only ever from
// db_config.json) is kept private: there is no accessor, describe() never shows it, and only
// Connection reads it.

#include "baims/db/identifiers.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace baims::db {

// The tables of SPEC 6.2 plus baims' bookkeeping tables. Defaults are the JRC names.
struct TableNames {
    QualifiedName aoi{"public", "aois"};
    QualifiedName parcel{}; // db_config "parcel_table"; empty when not given
    QualifiedName catalog{"public", "dias_catalogue"};
    QualifiedName sigs{"public", "sigs"};
    QualifiedName hists{"public", "hists"};
    QualifiedName extraction{"public", "baims_extraction"};
    QualifiedName catalogue_extra{"public", "baims_catalogue_extra"};
};

class ConnectionSettings {
public:
    // libpq defaults: PGHOST, PGPORT, PGUSER, PGDATABASE, PGSERVICE, PGPASSFILE/~/.pgpass, ...
    ConnectionSettings() = default;
    static ConnectionSettings from_environment() { return {}; }

    // A libpq conninfo string ("host=db1 dbname=cbm") or URI (postgresql://db1/cbm). Refuses a
    // password in it with ConfigError (hint: PGPASSFILE, ~/.pgpass or PGSERVICE); the message
    // never repeats the string.
    static ConnectionSettings from_dsn(const std::string& dsn);

    // The JRC db_config.json: database.connection.{host,port,dbname,dbuser,dbpasswd},
    // database.tables.{aoi_table,parcel_table,catalog_table,sigs_table,hists_table},
    // database.args.* (kept as strings). Missing connection keys fall back to libpq defaults.
    // Warns (log::warn) when the file holds a password and is readable by group or others.
    // Throws ConfigError naming the file and the key path.
    static ConnectionSettings from_db_config(const std::filesystem::path& file);

    // "host:port/dbname as user", resolved like libpq does (explicit > service file >
    // environment > defaults). Never contains a password.
    std::string describe() const;
    std::string host() const;
    std::string port() const;
    std::string dbname() const;
    std::string user() const;

    // Where the settings came from: "libpq environment", "--db", or the db_config.json path.
    const std::string& origin() const { return m_origin; }
    bool has_password() const { return !m_password.empty(); }

    // The explicit connection parameters (keyword, value), never including a password.
    const std::vector<std::pair<std::string, std::string>>& parameters() const { return m_params; }

    TableNames tables;
    std::map<std::string, std::string> args; // db_config "args" (aoi_field, name, startdate, ...)

private:
    friend class Connection;
    std::string resolved(const std::string& keyword) const;

    std::vector<std::pair<std::string, std::string>> m_params;
    std::string m_password; // from db_config.json only; see Connection for how it is passed
    std::string m_origin = "libpq environment";
};

} // namespace baims::db
