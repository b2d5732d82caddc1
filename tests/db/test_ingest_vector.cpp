// baims ingest-vector against the real server: the real binary, compared with ogr2ogr, hostile
// names, reruns, kills mid-COPY, and the exact error lines and exit codes.

#include "db_fixture.hpp"

#include "baims/db/connection.hpp"
#include "baims/db/identifiers.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>

using namespace baims;
using namespace baims::test;

namespace {

// Waits until a COPY from baims into the given schema is running on the server and returns its
// backend pid. Matching the schema keeps fault tests that run in parallel off each other's
// connections.
int wait_for_copy(db::Connection& c, Child& child, const std::string& schema) {
    for (int i = 0; i < 3000; ++i) {
        auto r =
            c.exec_params("SELECT pid FROM pg_stat_activity WHERE application_name = 'baims' AND "
                          "state = 'active' AND query LIKE 'COPY %' AND position($1 in query) > 0",
                          db::quote_ident(schema));
        if (!r.empty()) {
            return static_cast<int>(r.int64(0, 0));
        }
        int status;
        if (waitpid(child.pid(), &status, WNOHANG) == child.pid()) {
            FAIL("baims ended before its COPY was seen");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL("no COPY from baims seen within 30 s");
    return -1;
}

// A killed client's backend notices the closed socket at its next read; on a loaded machine
// (sanitizer builds, parallel tests) its rollback and exit can take many seconds.
void wait_backend_gone(db::Connection& c, int pid) {
    for (int i = 0; i < 6000; ++i) {
        if (c.exec_params("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)
                .int64(0, 0) == 0) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL("backend " << pid << " still there after 60 s");
}

// Freezes baims (SIGSTOP) in the COPY that wait_for_copy saw, so that the fault a test injects
// next lands mid-COPY on a machine of any speed: the server cannot end the COPY while baims sends
// nothing. With baims stopped, its input needs only to be long enough for the COPY to be seen
// (20 000 rows: at least ~0.1 s of COPY at -O2), not to outlast a sleep (300 000 rows before,
// ~55 s per test under ASan with the rerun). Checks that the COPY is still running.
void stop_mid_copy(db::Connection& c, Child& child, int backend) {
    child.kill(SIGSTOP);
    CHECK(c.exec_params("SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = "
                        "'active' AND query LIKE 'COPY %'",
                        backend)
              .int64(0, 0) == 1);
}

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

} // namespace

TEST_CASE("nc.gpkg to EPSG:4326 equals ogr2ogr's load feature by feature", "[db][ingest]") {
    TempSchema schema("nc");
    auto& c = schema.conn();
    std::string ours = db::QualifiedName{schema.name(), "nc"}.quoted();
    auto r = ingest(
        {nc_gpkg(), "--collection", ours, "--t-srs", "EPSG:4326", "--fid-column", "ogc_fid"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("100 features read, 100 written, 0 repaired, 0 skipped") != std::string::npos);

    // The reference: ogr2ogr into the same database (a plain schema, laundered lower-case names).
    c.exec("DROP SCHEMA IF EXISTS baims_ogr_ref CASCADE");
    c.exec("CREATE SCHEMA baims_ogr_ref");
    auto o = run({"ogr2ogr", "-f", "PostgreSQL", "PG:dbname=" + env("PGDATABASE"), nc_gpkg(),
                  "-nln", "baims_ogr_ref.nc", "-t_srs", "EPSG:4326", "-preserve_fid", "-lco",
                  "FID=ogc_fid", "-lco", "GEOMETRY_NAME=geom"});
    INFO(o.err);
    REQUIRE(o.exit_code == 0);

    CHECK(rows(c, ours) == 100);
    CHECK(rows(c, "baims_ogr_ref.nc") == 100);
    CHECK(c.exec("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '" +
                 ours + "'::regclass AND attname = 'geometry'")
              .text(0, 0) == "geometry(MultiPolygon,4326)");
    // Same features (joined on the source FID), every attribute equal.
    CHECK(rows(c, ours + " o JOIN baims_ogr_ref.nc t USING (ogc_fid)") == 100);
    const char* attrs[] = {"AREA",    "PERIMETER", "CNTY_",    "CNTY_ID", "NAME",
                           "FIPS",    "FIPSNO",    "CRESS_ID", "BIR74",   "SID74",
                           "NWBIR74", "BIR79",     "SID79",    "NWBIR79"};
    for (const char* a : attrs) {
        std::string lower = a;
        for (auto& ch : lower) {
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        }
        INFO(a);
        CHECK(rows(c, ours + " o JOIN baims_ogr_ref.nc t USING (ogc_fid) WHERE o." +
                          db::quote_ident(a) + " IS DISTINCT FROM t." + db::quote_ident(lower)) ==
              0);
        CHECK(rows(c, ours + " o WHERE o." + db::quote_ident(a) + " IS NULL") == 0);
    }
    // Areas equal to 1e-9 per feature; the geometries are valid and in EPSG:4326.
    auto worst = c.exec("SELECT max(abs(ST_Area(o.geometry) - ST_Area(t.geom))), "
                        "bool_and(ST_IsValid(o.geometry)), bool_and(ST_SRID(o.geometry) = 4326), "
                        "max(ST_HausdorffDistance(o.geometry, t.geom)) FROM " +
                        ours + " o JOIN baims_ogr_ref.nc t USING (ogc_fid)");
    CHECK(worst.real(0, 0) <= 1e-9);
    CHECK(worst.boolean(0, 1));
    CHECK(worst.boolean(0, 2));
    CHECK(worst.real(0, 3) <= 1e-9);
    // A spot value computed by hand from the source: Ashe county, FID 1.
    CHECK(c.exec("SELECT \"NAME\", \"AREA\", \"CRESS_ID\" FROM " + ours + " WHERE ogc_fid = 1")
              .text(0, 0) == "Ashe");
    // The gist index and the unique FID index exist.
    auto idx = c.exec_params("SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND "
                             "tablename = 'nc' AND (indexdef LIKE '%USING gist (geometry)%' OR "
                             "indexdef LIKE '%UNIQUE%ogc_fid%')",
                             schema.name());
    CHECK(idx.int64(0, 0) == 2);
    c.exec("DROP SCHEMA baims_ogr_ref CASCADE");
}

TEST_CASE("hostile names: schema and table \"Parcels \"\"2024\"\"\", column ndvi-mean",
          "[db][ingest]") {
    TempSchema schema("hostile");
    auto& c = schema.conn();
    // The schema of this case is `Parcels "2024" hostile`; the table is `Parcels "2024"`.
    std::string table = db::QualifiedName{schema.name(), "Parcels \"2024\""}.quoted();
    auto r = ingest({nc_gpkg(), "--collection", table, "--rename", "AREA=ndvi-mean", "--select",
                     "NAME,AREA", "--aoi", "nc \"2024\""});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(rows(c, table) == 100);
    auto v = c.exec("SELECT \"ndvi-mean\", \"NAME\" FROM " + table + " WHERE \"NAME\" = 'Ashe'");
    REQUIRE(v.size() == 1);
    CHECK(v.real(0, 0) == 0.114);
    auto cols = c.exec_params("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM "
                              "information_schema.columns WHERE table_schema = $1",
                              schema.name());
    CHECK(cols.text(0, 0) == "id,created_at,modified_at,geometry,NAME,ndvi-mean");
    // The aois row: the extent in EPSG:4326 of the NAD27 features.
    auto aoi =
        c.exec_params("SELECT ST_SRID(wkb_geometry), ST_XMin(wkb_geometry)::numeric(10,4), "
                      "ST_YMax(wkb_geometry)::numeric(10,4) FROM public.aois WHERE name = $1",
                      std::string("nc \"2024\""));
    REQUIRE(aoi.size() == 1);
    CHECK(aoi.int64(0, 0) == 4326);
    CHECK(aoi.text(0, 1) == "-84.3238");
    CHECK(aoi.text(0, 2) == "36.5897");
    c.exec_params("DELETE FROM public.aois WHERE name = $1", std::string("nc \"2024\""));
}

TEST_CASE("reruns: replace twice keeps 100 rows, append adds 100, create refuses", "[db][ingest]") {
    TempSchema schema("rerun");
    auto& c = schema.conn();
    std::string table = db::QualifiedName{schema.name(), "nc"}.quoted();
    for (int i = 0; i < 2; ++i) {
        auto r = ingest({nc_gpkg(), "--collection", table, "--mode", "replace", "--fid-column",
                         "ogc_fid", "--aoi", "rerun-aoi"});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        CHECK(rows(c, table) == 100);
        CHECK(c.exec_params("SELECT count(*) FROM public.aois WHERE name = $1",
                            std::string("rerun-aoi"))
                  .int64(0, 0) == 1);
    }
    // After the swap, the table's objects carry its own names and no staging table is left.
    auto objs = c.exec_params("SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class "
                              "WHERE relnamespace = to_regnamespace($1)",
                              db::quote_ident(schema.name()));
    CHECK(objs.text(0, 0) == "nc,nc_geometry_idx,nc_id_seq,nc_ogc_fid_key,nc_pkey");

    // Appending without the FID column the table requires is refused before any row is sent.
    auto a = ingest({nc_gpkg(), "--collection", table, "--mode", "append"});
    CHECK(a.exit_code == 5);
    CHECK(last_line(a.err) ==
          "baims ingest-vector: error: table " + table +
              " requires column(s) ogc_fid, which this load does not fill. Load with the same "
              "--fid-column/--select/--rename as the table was made with, or load into a new "
              "--collection (--mode replace would delete the rows the table has)");
    // Appending the same FIDs again violates the unique FID index: the whole load is refused.
    auto dup =
        ingest({nc_gpkg(), "--collection", table, "--mode", "append", "--fid-column", "ogc_fid"});
    CHECK(dup.exit_code == 6);
    CHECK(last_line(dup.err).find("duplicate key value violates unique constraint "
                                  "\"nc_ogc_fid_key\"") != std::string::npos);
    CHECK(rows(c, table) == 100);
    // ... a collection without --fid-column takes appends.
    std::string plain = db::QualifiedName{schema.name(), "plain"}.quoted();
    REQUIRE(ingest({nc_gpkg(), "--collection", plain, "--mode", "replace"}).exit_code == 0);
    REQUIRE(ingest({nc_gpkg(), "--collection", plain, "--mode", "replace"}).exit_code == 0);
    CHECK(rows(c, plain) == 100);
    auto appended = ingest({nc_gpkg(), "--collection", plain, "--mode", "append"});
    REQUIRE(appended.exit_code == 0);
    CHECK(appended.err.find("does not exist; it is created") == std::string::npos);
    CHECK(rows(c, plain) == 200);
    // --mode append with a typo in the collection makes a new table (documented) and says so,
    // with the table meant.
    std::string typo = db::QualifiedName{schema.name(), "plian"}.quoted();
    auto made = ingest({nc_gpkg(), "--collection", typo, "--mode", "append"});
    REQUIRE(made.exit_code == 0);
    CHECK(made.err.find("warning: ingest-vector: --mode append: table " + typo +
                        " does not exist; it is created (did you mean " + plain + "?)") !=
          std::string::npos);
    CHECK(rows(c, typo) == 100);
    c.exec("DROP TABLE " + typo);
    CHECK(c.exec("SELECT count(DISTINCT id) FROM " + plain).int64(0, 0) == 200);

    auto again = ingest({nc_gpkg(), "--collection", plain});
    CHECK(again.exit_code == 5);
    CHECK(last_line(again.err) == "baims ingest-vector: error: table " + plain +
                                      " already exists. Use --mode append to add the features "
                                      "or --mode replace to reload it");
    CHECK(rows(c, plain) == 200);
    c.exec_params("DELETE FROM public.aois WHERE name = $1", std::string("rerun-aoi"));
}

TEST_CASE("killing the connection mid-COPY leaves no table and a rerun completes",
          "[db][ingest][fault]") {
    TempSchema schema("kill");
    auto& c = schema.conn();
    auto dir = temp_dir();
    auto big = dir / "big.gpkg";
    make_polygon_gpkg(big, 20000);
    std::string table = db::QualifiedName{schema.name(), "big"}.quoted();

    Child child({baims_binary(), "--progress", "never", "ingest-vector", big.string(),
                 "--collection", table});
    int backend = wait_for_copy(c, child, schema.name());
    stop_mid_copy(c, child, backend);
    c.exec_params("SELECT pg_terminate_backend($1)", backend);
    wait_backend_gone(c, backend);
    // baims goes on with its COPY and meets the closed connection at its next write.
    child.kill(SIGCONT);
    auto r = child.wait();
    INFO(r.err);
    CHECK(r.exit_code == 6);
    CHECK(last_line(r.err).find("baims ingest-vector: error: ") == 0);
    CHECK(last_line(r.err).find("rerun is safe") != std::string::npos);
    CHECK_FALSE(exists(c, table));

    auto again = ingest({big.string(), "--collection", table});
    INFO(again.err);
    REQUIRE(again.exit_code == 0);
    CHECK(rows(c, table) == 20000);
    CHECK(c.exec("SELECT count(DISTINCT name) FROM " + table).int64(0, 0) == 20000);
}

TEST_CASE("kill -9 of baims mid-COPY during --mode replace leaves the old table unchanged",
          "[db][ingest][fault]") {
    TempSchema schema("kill9");
    auto& c = schema.conn();
    auto dir = temp_dir();
    auto big = dir / "big.gpkg";
    make_polygon_gpkg(big, 20000);
    std::string table = db::QualifiedName{schema.name(), "t"}.quoted();
    REQUIRE(ingest({nc_gpkg(), "--collection", table}).exit_code == 0);
    auto before = c.exec("SELECT md5(string_agg(id || ' ' || ST_AsText(geometry) || \"NAME\", ',' "
                         "ORDER BY id)) FROM " +
                         table)
                      .text(0, 0);

    Child child({baims_binary(), "--progress", "never", "ingest-vector", big.string(),
                 "--collection", table, "--mode", "replace"});
    int backend = wait_for_copy(c, child, schema.name());
    stop_mid_copy(c, child, backend);
    child.kill(SIGKILL);
    auto r = child.wait();
    CHECK(r.exit_code == 128 + SIGKILL);
    wait_backend_gone(c, backend);
    CHECK(rows(c, table) == 100);
    CHECK(c.exec("SELECT md5(string_agg(id || ' ' || ST_AsText(geometry) || \"NAME\", ',' "
                 "ORDER BY id)) FROM " +
                 table)
              .text(0, 0) == before);
    CHECK_FALSE(exists(c, db::QualifiedName{schema.name(), "t_baims_new"}.quoted()));

    auto again = ingest({big.string(), "--collection", table, "--mode", "replace"});
    INFO(again.err);
    REQUIRE(again.exit_code == 0);
    CHECK(rows(c, table) == 20000);
}

TEST_CASE("error lines and exit codes", "[db][ingest][errors]") {
    require_server();
    const std::string gpkg = nc_gpkg();
    SECTION("unreachable server: exit 6") {
        int port = unused_port();
        auto r = ingest({gpkg, "--collection", "x", "--db",
                         "host=127.0.0.1 port=" + std::to_string(port) + " dbname=baims_test"});
        CHECK(r.exit_code == 6);
        CHECK(last_line(r.err) ==
              "baims ingest-vector: error: cannot connect to 127.0.0.1:" + std::to_string(port) +
                  "/baims_test as " + env("PGUSER") +
                  ": connection refused. Check PGHOST/PGPORT/PGSERVICE or --db");
    }
    SECTION("wrong password from db_config.json: exit 6, the password nowhere") {
        std::string role = env("BAIMS_TEST_PW_ROLE");
        REQUIRE_FALSE(role.empty());
        const std::string secret = "Wr0ng-S3cret-\"pw\"";
        auto dir = temp_dir();
        auto cfg = dir / "db_config.json";
        std::ofstream(cfg) << R"({"database": {"connection": {"host": "127.0.0.1", "port": )" +
                                  env("PGPORT") + R"(, "dbname": "baims_test", "dbuser": ")" +
                                  role + R"(", "dbpasswd": "Wr0ng-S3cret-\"pw\""}}})";
        ::chmod(cfg.c_str(), 0644); // readable by others: warned about
        auto r = ingest({gpkg, "--collection", "x", "--db-config", cfg.string()});
        CHECK(r.exit_code == 6);
        CHECK(last_line(r.err) ==
              "baims ingest-vector: error: cannot connect to 127.0.0.1:" + env("PGPORT") +
                  "/baims_test as " + role + ": password authentication failed for user \"" + role +
                  "\". Check PGHOST/PGPORT/PGSERVICE or --db");
        CHECK(r.err.find("holds a password and is readable by group or others") !=
              std::string::npos);
        CHECK(r.err.find("S3cret") == std::string::npos);
        CHECK(r.out.find("S3cret") == std::string::npos);
        // --print-config shows the connection but not the password.
        auto p = run({baims_binary(), "--print-config", "ingest-vector", gpkg, "--collection", "x",
                      "--db-config", cfg.string()});
        CHECK(p.exit_code == 0);
        CHECK(p.out.find("as " + role) != std::string::npos);
        CHECK(p.out.find("S3cret") == std::string::npos);
        CHECK(p.err.find("S3cret") == std::string::npos);
        // The same wrong password through PGPASSWORD: same message shape.
        auto e = run({baims_binary(), "ingest-vector", gpkg, "--collection", "x"},
                     {{"PGUSER", role}, {"PGPASSWORD", secret}});
        CHECK(e.exit_code == 6);
        CHECK(e.err.find("S3cret") == std::string::npos);
    }
    SECTION("missing input file: exit 4") {
        auto r = ingest({"/nonexistent/parcels.gpkg", "--collection", "x"});
        CHECK(r.exit_code == 4);
        CHECK(last_line(r.err) == "baims ingest-vector: error: cannot open input "
                                  "'/nonexistent/parcels.gpkg': no such file or directory. Check "
                                  "the path (zipped shapefiles: /vsizip/path.zip)");
    }
    SECTION("a password in --db: exit 3, not echoed") {
        auto r = ingest({gpkg, "--collection", "x", "--db",
                         "host=127.0.0.1 dbname=baims_test password=Sup3rS3cret"});
        CHECK(r.exit_code == 3);
        CHECK(last_line(r.err) ==
              "baims ingest-vector: error: --db must not contain a password (it would be visible "
              "in the process list and shell history). Put it in ~/.pgpass or a file named by "
              "PGPASSFILE, or use PGSERVICE");
        CHECK(r.err.find("Sup3rS3cret") == std::string::npos);
    }
    SECTION("unknown field in --select: exit 2 with a suggestion") {
        auto r = ingest({gpkg, "--collection", "x", "--select", "NAM"});
        CHECK(r.exit_code == 2);
        CHECK(last_line(r.err).find("baims ingest-vector: error: --select: layer 'nc.gpkg' has "
                                    "no field 'NAM' (did you mean 'NAME'?).") == 0);
    }
}

TEST_CASE("invalid geometries: repair, skip, fail", "[db][ingest]") {
    TempSchema schema("invalid");
    auto& c = schema.conn();
    auto dir = temp_dir();
    auto src = dir / "bowtie.geojson";
    std::ofstream(src) << R"({"type": "FeatureCollection", "features": [
      {"type": "Feature", "properties": {"name": "ok"}, "geometry": {"type": "Polygon",
       "coordinates": [[[0,0],[1,0],[1,1],[0,1],[0,0]]]}},
      {"type": "Feature", "properties": {"name": "bowtie"}, "geometry": {"type": "Polygon",
       "coordinates": [[[0,0],[1,1],[1,0],[0,1],[0,0]]]}}]})";
    std::string rep = db::QualifiedName{schema.name(), "rep"}.quoted();
    auto r = ingest({src.string(), "--collection", rep, "--promote-to-multi"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("2 features read, 2 written, 1 repaired, 0 skipped") != std::string::npos);
    auto v = c.exec("SELECT bool_and(ST_IsValid(geometry)), sum(ST_Area(geometry)) FROM " + rep);
    CHECK(v.boolean(0, 0));
    CHECK(v.real(0, 1) == Approx(1.5).epsilon(0).margin(1e-12)); // square + two bowtie triangles

    std::string skip = db::QualifiedName{schema.name(), "skip"}.quoted();
    r = ingest({src.string(), "--collection", skip, "--invalid", "skip"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("2 features read, 1 written, 0 repaired, 1 skipped") != std::string::npos);
    CHECK(rows(c, skip) == 1);

    std::string fail = db::QualifiedName{schema.name(), "fail"}.quoted();
    r = ingest({src.string(), "--collection", fail, "--invalid", "fail"});
    CHECK(r.exit_code == 4);
    CHECK(last_line(r.err) == "baims ingest-vector: error: feature 1 of layer 'bowtie' has an "
                              "invalid geometry. Use --invalid repair or --invalid skip");
    CHECK_FALSE(exists(c, fail));

    // Without --promote-to-multi the repaired bowtie keeps its largest part (issue 7 #7; it was
    // refused before: see test_ingest_reruns.cpp).
}

TEST_CASE("dry run checks everything and writes nothing", "[db][ingest]") {
    TempSchema schema("dry");
    auto& c = schema.conn();
    std::string table = db::QualifiedName{schema.name(), "nc"}.quoted();
    auto r = run({baims_binary(), "--dry-run", "ingest-vector", nc_gpkg(), "--collection", table});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK_FALSE(exists(c, table));
}

TEST_CASE("an --aoi name that is not UTF-8 is refused before the database is touched",
          "[db][ingest]") {
    TempSchema schema("latin1");
    auto& c = schema.conn();
    std::string table = db::QualifiedName{schema.name(), "nc"}.quoted();
    // "Tägl" typed in a Latin-1 terminal; it reached the server as "invalid byte sequence for
    // encoding UTF8" (exit 6).
    auto r = ingest({nc_gpkg(), "--collection", table, "--aoi", std::string("T\xe4") + "gl"});
    CHECK(r.exit_code == 2);
    CHECK(r.err == "baims ingest-vector: error: --aoi 'T\xc3\xa4"
                   "gl': not UTF-8 text (the database's encoding). Give the AOI name in UTF-8\n");
    CHECK_FALSE(exists(c, table));
}

TEST_CASE("four first ingest-vector --aoi runs at once all make their aoi row", "[db][ingest]") {
    // The aoi table does not exist yet: each run creates it inside its own transaction. Without
    // a lock, two of them ran CREATE TABLE at once and one failed with "duplicate key value
    // violates unique constraint pg_type_typname_nsp_index" (exit 6; seen in CI when two tests
    // made public.aois at the same moment).
    TempSchema schema("aoirace");
    auto& c = schema.conn();
    const std::string aois = schema.table("aois");
    const auto dir = temp_dir();
    const auto cfg = dir / "db_config.json";
    std::ofstream(cfg) << nlohmann::json{{"database",
                                          {{"connection", nlohmann::json::object()},
                                           {"tables", {{"aoi_table", aois}}}}}}
                              .dump();
    std::vector<std::unique_ptr<Child>> runs;
    for (int i = 0; i < 4; ++i) {
        runs.push_back(std::make_unique<Child>(std::vector<std::string>{
            baims_binary(), "--progress", "never", "ingest-vector", nc_gpkg(), "--collection",
            schema.table("nc" + std::to_string(i)), "--aoi", "aoi" + std::to_string(i),
            "--db-config", cfg.string()}));
    }
    for (auto& r : runs) {
        const auto res = r->wait();
        INFO(res.err);
        CHECK(res.exit_code == 0);
    }
    CHECK(rows(c, aois) == 4);
}
