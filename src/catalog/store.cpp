#include "baims/catalog/store.hpp"

#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/db/copy_writer.hpp"
#include "baims/db/identifiers.hpp"
#include "baims/db/schema.hpp"

#include <array>
#include <charconv>
#include <chrono>

namespace baims::catalog {

namespace {

const db::QualifiedName STAGE{"pg_temp", "baims_catalog_stage"};

std::string number_text(double v) {
    std::array<char, 32> buf{};
    auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return std::string(buf.data(), res.ptr);
}

// The AOI geometry (union of the rows with that name), as an SQL expression with $1 = name.
std::string aoi_geometry_sql(const db::TableNames& tables, const std::string& aoi_field) {
    return "(SELECT ST_Union(wkb_geometry) FROM " + tables.aoi.quoted() + " WHERE " +
           db::quote_ident(aoi_field) + " = $1)";
}

} // namespace

std::string load_aoi_wkt(db::Connection& conn, const db::QualifiedName& aoi_table,
                         const std::string& aoi_field, const std::string& name) {
    if (!db::table_exists(conn, aoi_table)) {
        throw DatabaseError("AOI table " + aoi_table.display() + " does not exist",
                            "Create it with --create-tables and load the AOI (e.g. "
                            "'baims ingest-vector … --aoi " +
                                name + "')");
    }
    db::Result r =
        conn.exec_params("SELECT count(*), ST_AsText(ST_Union(wkb_geometry)) FROM " +
                             aoi_table.quoted() + " WHERE " + db::quote_ident(aoi_field) + " = $1",
                         name);
    if (r.empty() || r.int64(0, 0) == 0 || r.is_null(0, 1)) {
        throw InputError("AOI '" + name + "' not found in " + aoi_table.display() + " (column " +
                             db::quote_ident(aoi_field) + ")",
                         "Load it with 'baims ingest-vector … --aoi " + name +
                             "' or check the aoi_field setting");
    }
    return r.text(0, 1);
}

std::vector<bool> intersects_aoi(db::Connection& conn, const db::QualifiedName& aoi_table,
                                 const std::string& aoi_field, const std::string& name,
                                 const std::vector<SceneRecord>& records) {
    std::vector<bool> out(records.size(), true);
    if (records.empty()) {
        return out;
    }
    std::string array = "{";
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (i) {
            array += ',';
        }
        array += to_ewkb_hex(records[i].footprint); // hex digits only: no quoting needed
    }
    array += '}';
    db::Result r = conn.exec_params(
        "SELECT f.i FROM unnest($2::text[]) WITH ORDINALITY AS f(hex, i) WHERE NOT "
        "ST_Intersects(ST_GeomFromEWKB(decode(f.hex, 'hex')), (SELECT ST_Union(wkb_geometry) "
        "FROM " +
            aoi_table.quoted() + " WHERE " + db::quote_ident(aoi_field) + " = $1))",
        name, array);
    for (std::size_t k = 0; k < r.size(); ++k) {
        out.at(static_cast<std::size_t>(r.int64(k, 0) - 1)) = false;
    }
    return out;
}

bool ensure_extra_table(db::Connection& conn, const db::TableNames& tables) {
    if (db::table_exists(conn, tables.catalogue_extra)) {
        return false;
    }
    // The DDL comes from the db module (single source of truth); only this table's statement.
    const std::string prefix =
        "CREATE TABLE IF NOT EXISTS " + tables.catalogue_extra.quoted() + " ";
    for (const auto& stmt : db::table_ddl(tables)) {
        if (stmt.compare(0, prefix.size(), prefix) == 0) {
            conn.exec(stmt);
            log::info("created table " + tables.catalogue_extra.display());
            return true;
        }
    }
    throw InternalError("no DDL for " + tables.catalogue_extra.display());
}

InsertCounts insert_records(db::Connection& conn, const db::TableNames& tables,
                            const std::vector<SceneRecord>& records) {
    InsertCounts counts;
    const auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&t0] {
        return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - t0)
                                  .count()) +
               " ms";
    };
    db::Transaction tx(conn, "catalog");
    tx.exec("CREATE TEMPORARY TABLE " + STAGE.quoted() +
            " (obstime timestamp, reference text, sensor text, card text, footprint geometry,"
            " product_identifier text, cloud_cover real, processing_baseline text) ON COMMIT DROP");
    {
        db::CopyWriter copy(tx, STAGE,
                            {"obstime", "reference", "sensor", "card", "footprint",
                             "product_identifier", "cloud_cover", "processing_baseline"});
        for (const auto& r : records) {
            copy.add_raw(format_sql_timestamp(r.obstime));
            copy.add(r.reference);
            copy.add(r.sensor);
            copy.add(r.card);
            copy.add_raw(to_ewkb_hex(r.footprint));
            if (r.product_identifier.empty()) {
                copy.add_null();
            } else {
                copy.add(r.product_identifier);
            }
            if (r.cloud_cover) {
                copy.add_raw(number_text(*r.cloud_cover));
            } else {
                copy.add_null();
            }
            if (r.processing_baseline.empty()) {
                copy.add_null();
            } else {
                copy.add(r.processing_baseline);
            }
            copy.end_row();
        }
        copy.complete();
    }
    log::debug("staged " + std::to_string(records.size()) + " records: " + elapsed());
    db::Result ins = tx.exec("INSERT INTO " + tables.catalog.quoted() +
                             " (obstime, reference, sensor, card, footprint)"
                             " SELECT obstime, reference, sensor, card, footprint FROM " +
                             STAGE.quoted() + " ORDER BY obstime, reference" +
                             " ON CONFLICT (reference) DO NOTHING");
    counts.inserted = static_cast<std::uint64_t>(ins.affected_rows());
    counts.existing = records.size() - counts.inserted;
    log::debug("catalogue insert: " + elapsed());
    tx.exec("INSERT INTO " + tables.catalogue_extra.quoted() +
            " (reference, product_identifier, cloud_cover, processing_baseline)"
            " SELECT reference, product_identifier, cloud_cover, processing_baseline FROM " +
            STAGE.quoted() + " ON CONFLICT (reference) DO NOTHING");
    log::debug("extra insert: " + elapsed());
    tx.commit();
    log::debug("committed: " + elapsed());
    return counts;
}

std::vector<SummaryRow> summarize(db::Connection& conn, const db::TableNames& tables,
                                  const std::string& aoi_field, const std::string& aoi,
                                  const TimeRange& range) {
    db::Result r =
        conn.exec_params("SELECT c.card, c.sensor, count(*),"
                         " to_char(min(c.obstime), 'YYYY-MM-DD HH24:MI:SS'),"
                         " to_char(max(c.obstime), 'YYYY-MM-DD HH24:MI:SS')"
                         " FROM " +
                             tables.catalog.quoted() +
                             " c"
                             " WHERE ST_Intersects(c.footprint, " +
                             aoi_geometry_sql(tables, aoi_field) +
                             ")"
                             " AND c.obstime >= $2::timestamp AND c.obstime < $3::timestamp"
                             " GROUP BY c.card, c.sensor ORDER BY c.card, c.sensor",
                         aoi, format_sql_timestamp(range.start), format_sql_timestamp(range.end));
    std::vector<SummaryRow> rows;
    for (size_t i = 0; i < r.size(); ++i) {
        rows.push_back({r.text(i, 0), r.text(i, 1), r.int64(i, 2), r.text(i, 3), r.text(i, 4)});
    }
    return rows;
}

} // namespace baims::catalog
