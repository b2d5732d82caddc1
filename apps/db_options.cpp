#include "db_options.hpp"

namespace baims::app {

void add_db_options(CLI::App& app, DbOptions& options) {
    auto* db = app.add_option("--db", options.db,
                              "PostgreSQL connection string without a password, e.g. "
                              "\"host=db1 port=5432 dbname=cbm user=me\" (default: the libpq "
                              "environment PGHOST, PGPORT, PGUSER, PGDATABASE, PGSERVICE; "
                              "passwords from ~/.pgpass or PGPASSFILE)")
                   ->group("Database");
    auto* cfg = app.add_option("--db-config", options.db_config,
                               "JRC db_config.json (connection, table names, args); keep it "
                               "chmod 600 when it holds a password")
                    ->group("Database");
    db->excludes(cfg);
    app.add_flag("--create-tables", options.create_tables,
                 "Create the missing standard tables (aois, dias_catalogue, sigs, hists, "
                 "baims_extraction, baims_catalogue_extra); existing tables are used as they are")
        ->group("Database");
}

db::ConnectionSettings db_settings(const DbOptions& options) {
    if (!options.db_config.empty()) {
        return db::ConnectionSettings::from_db_config(options.db_config);
    }
    if (!options.db.empty()) {
        return db::ConnectionSettings::from_dsn(options.db);
    }
    return db::ConnectionSettings::from_environment();
}

} // namespace baims::app
