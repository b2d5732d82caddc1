#pragma once
// The catalogue tables: the AOI polygon, the upsert of SceneRecords into dias_catalogue and
// baims_catalogue_extra, and the JRC summary. Values go as parameters or COPY; names from the
// config are quoted (db::QualifiedName).

#include "baims/catalog/scene_record.hpp"
#include "baims/catalog/search.hpp"
#include "baims/db/connection.hpp"
#include "baims/db/settings.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace baims::catalog {

// The AOI polygon (union of the rows named `name`) as WKT in EPSG:4326. Throws InputError when
// no row has that name, DatabaseError when the table or column is missing.
std::string load_aoi_wkt(db::Connection& conn, const db::QualifiedName& aoi_table,
                         const std::string& aoi_field, const std::string& name);

// For each record: whether its footprint intersects the AOI (the union of the rows named `name`),
// as PostGIS ST_Intersects says.
std::vector<bool> intersects_aoi(db::Connection& conn, const db::QualifiedName& aoi_table,
                                 const std::string& aoi_field, const std::string& name,
                                 const std::vector<SceneRecord>& records);

struct InsertCounts {
    std::uint64_t inserted = 0; // new rows in dias_catalogue
    std::uint64_t existing = 0; // references that were already there (skipped)
};

// Inserts the records in one transaction: COPY into a temporary table, then
// INSERT … SELECT … ON CONFLICT (reference) DO NOTHING into the catalogue and the extra table.
// A rerun adds nothing. References must be unique within `records`.
InsertCounts insert_records(db::Connection& conn, const db::TableNames& tables,
                            const std::vector<SceneRecord>& records);

// Creates baims_catalogue_extra when it is missing (it is baims' own table; the catalogue table
// itself is only created with --create-tables). Returns true when it was created.
bool ensure_extra_table(db::Connection& conn, const db::TableNames& tables);

struct SummaryRow {
    std::string card;
    std::string sensor;
    std::int64_t count = 0;
    std::string min; // "YYYY-MM-DD HH:MM:SS"
    std::string max;
};

// card, sensor, count(*), min(obstime), max(obstime) over the catalogue rows whose footprint
// intersects the AOI and whose obstime is in [range.start, range.end), per card and sensor.
std::vector<SummaryRow> summarize(db::Connection& conn, const db::TableNames& tables,
                                  const std::string& aoi_field, const std::string& aoi,
                                  const TimeRange& range);

} // namespace baims::catalog
