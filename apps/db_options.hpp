#pragma once
// The database options every database command shares (--db, --db-config, --create-tables), with
// the same spelling and help everywhere.

#include "baims/db/settings.hpp"

#include <CLI/CLI.hpp>

#include <string>

namespace baims::app {

struct DbOptions {
    std::string db;        // libpq conninfo without a password
    std::string db_config; // JRC db_config.json
    bool create_tables = false;
};

void add_db_options(CLI::App& app, DbOptions& options);

// The settings the options select: --db-config, else --db, else the libpq environment.
// Throws ConfigError (password in --db, unreadable/malformed db_config.json).
db::ConnectionSettings db_settings(const DbOptions& options);

} // namespace baims::app
