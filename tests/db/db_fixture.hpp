#pragma once
// Shared helpers for the db tests: the server check, a per-case schema with a hostile name, and
// running the real baims binary (run, Child, temp_dir and last_line come from tests/support).

#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include "baims/db/connection.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

class GDALDriver;

namespace baims::test {

// FAILs the test (never skips) when PGHOST is not set, naming the command to use.
void require_server();

// Connection from the libpq environment set by pg_tmp.sh.
db::Connection connect();

// A schema named `Parcels "2024" <tag>` created for one test case and dropped (CASCADE) after.
class TempSchema {
public:
    explicit TempSchema(const std::string& tag);
    ~TempSchema();
    TempSchema(const TempSchema&) = delete;
    TempSchema& operator=(const TempSchema&) = delete;
    const std::string& name() const { return m_name; }
    std::string quoted() const;                    // "Parcels ""2024"" tag"
    std::string table(const std::string& t) const; // quoted schema.table for SQL
    db::Connection& conn() { return m_conn; }

private:
    db::Connection m_conn;
    std::string m_name;
};

std::string baims_binary();
std::string nc_gpkg();
// Runs `baims --progress never ingest-vector <args>`.
RunResult ingest(std::vector<std::string> args);
// SELECT count(*) FROM <from> (a quoted table, or a FROM clause).
std::int64_t rows(db::Connection& c, const std::string& from);
// Whether the quoted table exists (to_regclass: a missing schema is just "no").
bool exists(db::Connection& c, const std::string& quoted_table);
// The GDAL driver of that name (GDAL registered on first use).
GDALDriver* gdal_driver(const char* name);
// Writes a GeoPackage layer "polys" of n small polygons (EPSG:4326; fields name, value).
void make_polygon_gpkg(const std::filesystem::path& path, int n);
// A TCP port on 127.0.0.1 with nothing listening.
int unused_port();

} // namespace baims::test
