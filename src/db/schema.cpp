#include "baims/db/schema.hpp"

#include "baims/core/log.hpp"

namespace baims::db {
namespace {

struct TableDdl {
    const QualifiedName* table;
    std::vector<std::string> statements;
};

std::string index(const QualifiedName& t, const std::string& column, const std::string& method) {
    return "CREATE INDEX IF NOT EXISTS " +
           quote_ident(derived_name(t.name, "_" + column + "_idx")) + " ON " + t.quoted() +
           " USING " + method + " (" + quote_ident(column) + ")";
}

std::vector<TableDdl> all_ddl(const TableNames& n) {
    std::vector<TableDdl> out;
    // SPEC 6.2, verbatim apart from the quoted, configurable names.
    out.push_back({&n.aoi,
                   {"CREATE TABLE IF NOT EXISTS " + n.aoi.quoted() +
                    " (name text, wkb_geometry geometry(Polygon,4326))"}});
    out.push_back({&n.catalog,
                   {"CREATE TABLE IF NOT EXISTS " + n.catalog.quoted() +
                        " (id serial primary key, obstime timestamp not null,"
                        " reference varchar(120) not null unique, sensor char(2) not null,"
                        " card char(2) not null, status varchar(24) not null default 'ingested',"
                        " footprint geometry(Polygon,4326))",
                    index(n.catalog, "footprint", "gist")}});
    out.push_back({&n.sigs,
                   {"CREATE TABLE IF NOT EXISTS " + n.sigs.quoted() +
                        " (pid int, obsid int, band char(3), count real, mean real, std real,"
                        " min real, max real, p25 real, p50 real, p75 real)",
                    index(n.sigs, "pid", "btree"), index(n.sigs, "obsid", "btree"),
                    index(n.sigs, "band", "btree")}});
    out.push_back(
        {&n.hists,
         {"CREATE TABLE IF NOT EXISTS " + n.hists.quoted() + " (pid int, obsid int, hist json)",
          index(n.hists, "pid", "btree"), index(n.hists, "obsid", "btree")}});
    // baims' bookkeeping: one row per image and pass (SPEC 6.2).
    out.push_back({&n.extraction,
                   {"CREATE TABLE IF NOT EXISTS " + n.extraction.quoted() +
                        " (obsid int not null, pass text not null, status text not null,"
                        " worker text, lease_until timestamptz, started timestamptz,"
                        " finished timestamptz, rows bigint, message text,"
                        " primary key (obsid, pass))",
                    index(n.extraction, "status", "btree")}});
    out.push_back({&n.catalogue_extra,
                   {"CREATE TABLE IF NOT EXISTS " + n.catalogue_extra.quoted() +
                    " (reference varchar(120) primary key, product_identifier text,"
                    " cloud_cover real, processing_baseline text)"}});
    return out;
}

} // namespace

std::vector<std::string> table_ddl(const TableNames& tables) {
    std::vector<std::string> out;
    for (const auto& t : all_ddl(tables)) {
        out.insert(out.end(), t.statements.begin(), t.statements.end());
    }
    return out;
}

std::vector<std::string> create_tables(Connection& conn, const TableNames& tables) {
    std::vector<std::string> created;
    Transaction tx(conn, "create_tables");
    // Two processes creating the tables at once would otherwise race between the existence
    // check and CREATE TABLE.
    tx.exec("SELECT pg_advisory_xact_lock(hashtext('baims.create_tables'))");
    for (const auto& t : all_ddl(tables)) {
        if (table_exists(tx, *t.table)) {
            continue; // used as it is
        }
        for (const auto& sql : t.statements) {
            tx.exec(sql);
        }
        created.push_back(t.table->display());
    }
    tx.commit();
    if (!created.empty()) {
        log::info("created tables " + [&] {
            std::string s;
            for (const auto& c : created) {
                s += (s.empty() ? "" : ", ") + c;
            }
            return s;
        }());
    }
    return created;
}

bool create_aoi_table_if_missing(Transaction& tx, const QualifiedName& aoi_table) {
    if (table_exists(tx, aoi_table)) {
        return false;
    }
    // Two processes making the table at once (two first ingest-vector --aoi runs) would both
    // run CREATE TABLE: one failed with "duplicate key value violates unique constraint
    // pg_type_typname_nsp_index" (seen in CI with two tests at once). create_tables' lock, then
    // a second look (READ COMMITTED: the other's table, once committed, is seen).
    tx.exec("SELECT pg_advisory_xact_lock(hashtext('baims.create_tables'))");
    if (table_exists(tx, aoi_table)) {
        return false;
    }
    TableNames n;
    n.aoi = aoi_table;
    tx.exec(all_ddl(n).front().statements.front());
    log::info("created table " + aoi_table.display());
    return true;
}

} // namespace baims::db
