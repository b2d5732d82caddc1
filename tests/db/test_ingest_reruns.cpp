// ingest-vector, issue 7 ("Reruns that destroy data"): each case ran to exit 0 with lost or
// wrong data (or failed where it should work) before the fix. The real binary against the real
// server; sources are nc.gpkg (tests/data/sf, see its COPYRIGHT) or built here with ogr2ogr.

#include "db_fixture.hpp"

#include "baims/core/error.hpp"
#include "baims/db/connection.hpp"
#include "baims/db/identifiers.hpp"

#include <catch2/catch.hpp>
#include <gdal_priv.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

using namespace baims;
using namespace baims::test;

namespace {

std::string digest(db::Connection& c, const std::string& table) {
    return c
        .exec("SELECT md5(string_agg(id || ' ' || ST_AsText(geometry) || \"NAME\", ',' ORDER BY "
              "id)) FROM " +
              table)
        .text(0, 0);
}

std::string column_type(db::Connection& c, const std::string& table, const std::string& col) {
    return c
        .exec_params("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                     "to_regclass($1) AND attname = $2",
                     table, col)
        .text(0, 0);
}

} // namespace

TEST_CASE("issue 7 #1: a bad --where fails the load in every mode and leaves the table as it was",
          "[db][ingest][issue7]") {
    TempSchema schema("where");
    auto& c = schema.conn();
    std::string table = db::QualifiedName{schema.name(), "nc"}.quoted();
    REQUIRE(ingest({nc_gpkg(), "--collection", table}).exit_code == 0);
    const std::string before = digest(c, table);

    const std::string syntax =
        "baims ingest-vector: error: --where 'NAME = 'Ashe': unrecognized token: \"'Ashe\". Use "
        "an OGR attribute filter, e.g. --where \"NAME = 'Ashe'\"";
    const std::string column =
        "baims ingest-vector: error: --where 'NAMEX = 'Ashe'': no such column: NAMEX. Use an OGR "
        "attribute filter, e.g. --where \"NAME = 'Ashe'\"";
    for (const char* mode : {"replace", "append"}) {
        INFO(mode);
        auto r =
            ingest({nc_gpkg(), "--collection", table, "--mode", mode, "--where", "NAME = 'Ashe"});
        CHECK(r.exit_code == 2);
        CHECK(last_line(r.err) == syntax);
        // GDAL's own "ERROR 1:" lines do not reach stderr beside baims's error line.
        CHECK(r.err.find("ERROR 1") == std::string::npos);
        auto u =
            ingest({nc_gpkg(), "--collection", table, "--mode", mode, "--where", "NAMEX = 'Ashe'"});
        CHECK(u.exit_code == 2);
        CHECK(last_line(u.err) == column);
        CHECK(rows(c, table) == 100);
        CHECK(digest(c, table) == before);
    }
    std::string fresh = db::QualifiedName{schema.name(), "fresh"}.quoted();
    auto r = ingest({nc_gpkg(), "--collection", fresh, "--where", "NAMEX = 'Ashe'"});
    CHECK(r.exit_code == 2);
    CHECK(last_line(r.err) == column);
    CHECK_FALSE(exists(c, fresh));
    // A shapefile (OGR's own SQL): refused too.
    auto dir = temp_dir();
    REQUIRE(run({"ogr2ogr", (dir / "nc.shp").string(), nc_gpkg()}).exit_code == 0);
    auto s = ingest({(dir / "nc.shp").string(), "--collection", fresh, "--where", "NAMEX = 1"});
    CHECK(s.exit_code == 2);
    CHECK(last_line(s.err) ==
          "baims ingest-vector: error: --where 'NAMEX = 1': \"NAMEX\" not recognised as an "
          "available field. Use an OGR attribute filter, e.g. --where \"NAME = 'Ashe'\"");
    CHECK_FALSE(exists(c, fresh));
}

TEST_CASE("issue 7 #1: an OGR error in the middle of reading fails the load, nothing written",
          "[db][ingest][issue7]") {
    TempSchema schema("midread");
    auto& c = schema.conn();
    // Three points; the third's geometry blob is cut to its GeoPackage header, so GDAL reports
    // "Unable to read geometry" (CE_Failure) while reading it and returns it without geometry.
    auto path = temp_dir() / "corrupt.gpkg";
    {
        GDALDatasetUniquePtr ds(
            gdal_driver("GPKG")->Create(path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
        REQUIRE(ds);
        OGRSpatialReference srs;
        srs.importFromEPSG(4326);
        auto* layer = ds->CreateLayer("pts", &srs, wkbPoint, nullptr);
        for (int i = 0; i < 3; ++i) {
            OGRFeature f(layer->GetLayerDefn());
            OGRPoint p(i, i);
            f.SetGeometry(&p);
            REQUIRE(layer->CreateFeature(&f) == OGRERR_NONE);
        }
        ds->ExecuteSQL("UPDATE pts SET geom = X'47500003' WHERE fid = 3", nullptr, nullptr);
    }
    const std::string line = "baims ingest-vector: error: reading layer 'pts' of '" +
                             path.string() +
                             "' failed after 2 features: Unable to read geometry. Nothing was "
                             "written; check the input file";
    std::string table = db::QualifiedName{schema.name(), "pts"}.quoted();
    auto r = ingest({path.string(), "--collection", table});
    CHECK(r.exit_code == 4);
    CHECK(last_line(r.err) == line);
    CHECK(r.err.find("ERROR 1") == std::string::npos);
    CHECK_FALSE(exists(c, table));
    // replace: the table loaded from nc stays as it was.
    REQUIRE(ingest({nc_gpkg(), "--collection", table}).exit_code == 0);
    const std::string before = digest(c, table);
    r = ingest({path.string(), "--collection", table, "--mode", "replace"});
    CHECK(r.exit_code == 4);
    CHECK(last_line(r.err) == line);
    CHECK(digest(c, table) == before);
}

TEST_CASE("issue 7 #1: replace that would empty a table with rows needs --allow-empty",
          "[db][ingest][issue7]") {
    TempSchema schema("empty");
    auto& c = schema.conn();
    std::string table = db::QualifiedName{schema.name(), "nc"}.quoted();
    REQUIRE(ingest({nc_gpkg(), "--collection", table}).exit_code == 0);
    const std::string before = digest(c, table);
    auto r = ingest(
        {nc_gpkg(), "--collection", table, "--mode", "replace", "--where", "NAME = 'Nowhere'"});
    CHECK(r.exit_code == 5);
    CHECK(last_line(r.err) ==
          "baims ingest-vector: error: --mode replace would leave table " + table +
              " empty: the source gave 0 features with this --where; the table was not changed. "
              "Check the source and --where; pass --allow-empty to empty the table on purpose");
    CHECK(digest(c, table) == before);
    CHECK_FALSE(exists(c, db::QualifiedName{schema.name(), "nc_baims_new"}.quoted()));

    // A matching --where replaces as asked: 1 row, Ashe.
    auto one =
        ingest({nc_gpkg(), "--collection", table, "--mode", "replace", "--where", "NAME = 'Ashe'"});
    INFO(one.err);
    REQUIRE(one.exit_code == 0);
    CHECK(c.exec("SELECT string_agg(\"NAME\", ',') FROM " + table).text(0, 0) == "Ashe");

    auto ok = ingest({nc_gpkg(), "--collection", table, "--mode", "replace", "--where",
                      "NAME = 'Nowhere'", "--allow-empty"});
    CHECK(ok.exit_code == 0);
    CHECK(rows(c, table) == 0);
    // An empty table may be replaced by an empty load without the flag (nothing is lost).
    auto again = ingest(
        {nc_gpkg(), "--collection", table, "--mode", "replace", "--where", "NAME = 'Nowhere'"});
    CHECK(again.exit_code == 0);
    // create with a --where that matches nothing: an empty table, said so.
    std::string fresh = db::QualifiedName{schema.name(), "fresh"}.quoted();
    auto created = ingest({nc_gpkg(), "--collection", fresh, "--where", "NAME = 'Nowhere'"});
    CHECK(created.exit_code == 0);
    CHECK(created.err.find("warning: ingest-vector: layer 'nc.gpkg' gave 0 features with --where "
                           "'NAME = 'Nowhere''; the new table " +
                           fresh + " is empty") != std::string::npos);
}

TEST_CASE("issue 7 #3: integer lists are stored as integer[] with their values",
          "[db][ingest][issue7]") {
    TempSchema schema("lists");
    auto& c = schema.conn();
    auto dir = temp_dir();
    auto src = dir / "lists.geojson";
    std::ofstream(src) << R"({"type": "FeatureCollection", "features": [
      {"type": "Feature", "properties": {"il": [1, 2, 3], "bl": [1, 30000000000],
       "rl": [1.5, -2.25], "sl": ["a", "b\"c"]},
       "geometry": {"type": "Point", "coordinates": [1, 2]}},
      {"type": "Feature", "properties": {"il": [-7], "bl": [2], "rl": [0.5], "sl": ["x"]},
       "geometry": {"type": "Point", "coordinates": [3, 4]}}]})";
    std::string table = db::QualifiedName{schema.name(), "lists"}.quoted();
    auto r = ingest({src.string(), "--collection", table});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(column_type(c, table, "il") == "integer[]");
    CHECK(column_type(c, table, "bl") == "bigint[]");
    CHECK(column_type(c, table, "rl") == "double precision[]");
    CHECK(column_type(c, table, "sl") == "text[]");
    auto v = c.exec("SELECT il::text, bl::text, rl::text, sl::text, il[3] FROM " + table +
                    " ORDER BY id");
    REQUIRE(v.size() == 2);
    CHECK(v.text(0, 0) == "{1,2,3}");
    CHECK(v.text(0, 1) == "{1,30000000000}");
    CHECK(v.text(0, 2) == "{1.5,-2.25}");
    CHECK(v.text(0, 3) == "{a,\"b\\\"c\"}");
    CHECK(v.int64(0, 4) == 3);
    CHECK(v.text(1, 0) == "{-7}");
}

TEST_CASE("issue 7 #7: --invalid repair keeps the parts of the column's dimension",
          "[db][ingest][issue7]") {
    TempSchema schema("repair");
    auto& c = schema.conn();
    auto dir = temp_dir();
    auto bowtie = dir / "bowtie.geojson";
    std::ofstream(bowtie) << R"({"type": "FeatureCollection", "features": [
      {"type": "Feature", "properties": {"name": "ok"}, "geometry": {"type": "Polygon",
       "coordinates": [[[0,0],[1,0],[1,1],[0,1],[0,0]]]}},
      {"type": "Feature", "properties": {"name": "bowtie"}, "geometry": {"type": "Polygon",
       "coordinates": [[[0,0],[1,1],[1,0],[0,1],[0,0]]]}},
      {"type": "Feature", "properties": {"name": "flat hole"}, "geometry": {"type": "Polygon",
       "coordinates": [[[0,0],[1,0],[1,1],[0,1],[0,0]], [[0.2,0.2],[0.4,0.2],[0.2,0.2]]]}}]})";
    SECTION("a Polygon column keeps the largest part of a multi-part repair, with a warning") {
        std::string single = db::QualifiedName{schema.name(), "single"}.quoted();
        auto r = ingest({bowtie.string(), "--collection", single});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        CHECK(r.err.find("3 features read, 3 written, 2 repaired, 0 skipped") != std::string::npos);
        CHECK(r.err.find("warning: feature 1 of layer 'bowtie': the repaired geometry has 2 parts; "
                         "the Polygon column keeps the largest (50.0 %). Use --promote-to-multi "
                         "to keep all parts") != std::string::npos);
        CHECK(column_type(c, single, "geometry") == "geometry(Polygon,4326)");
        auto v = c.exec("SELECT name, ST_Area(geometry), ST_IsValid(geometry) FROM " + single +
                        " ORDER BY id");
        // The bowtie's two triangles have area 0.25 each; the first is kept.
        CHECK(v.text(1, 0) == "bowtie");
        CHECK(v.real(1, 1) == Approx(0.25).epsilon(0).margin(1e-12));
        CHECK(v.boolean(1, 2));
        // The collapsed hole becomes a line: dropped, the square stays whole.
        CHECK(v.real(2, 1) == Approx(1.0).epsilon(0).margin(1e-12));
        CHECK(v.boolean(2, 2));
    }
    SECTION("--promote-to-multi keeps both triangles") {
        std::string multi = db::QualifiedName{schema.name(), "multi"}.quoted();
        auto r = ingest({bowtie.string(), "--collection", multi, "--promote-to-multi"});
        REQUIRE(r.exit_code == 0);
        CHECK(c.exec("SELECT ST_Area(geometry), ST_NumGeometries(geometry) FROM " + multi +
                     " WHERE name = 'bowtie'")
                  .real(0, 0) == Approx(0.5).epsilon(0).margin(1e-12));
    }
    SECTION("a ring collapsed to a line is skipped, with and without --promote-to-multi") {
        auto flat = dir / "flat.geojson";
        std::ofstream(flat) << R"({"type": "FeatureCollection", "features": [
          {"type": "Feature", "properties": {"name": "ok"}, "geometry": {"type": "Polygon",
           "coordinates": [[[0,0],[1,0],[1,1],[0,1],[0,0]]]}},
          {"type": "Feature", "properties": {"name": "flat"}, "geometry": {"type": "Polygon",
           "coordinates": [[[0,0],[2,0],[1,0],[3,0],[0,0]]]}}]})";
        for (bool promote : {false, true}) {
            std::string t =
                db::QualifiedName{schema.name(), promote ? "flat_multi" : "flat"}.quoted();
            std::vector<std::string> args{flat.string(), "--collection", t};
            if (promote) {
                args.emplace_back("--promote-to-multi");
            }
            auto r = ingest(args);
            INFO(r.err);
            REQUIRE(r.exit_code == 0);
            CHECK(r.err.find("2 features read, 1 written, 0 repaired, 1 skipped") !=
                  std::string::npos);
            CHECK(rows(c, t) == 1);
        }
    }
}

TEST_CASE("issue 7 #9: --mode replace works for table names of 50 to 63 bytes",
          "[db][ingest][issue7]") {
    TempSchema schema("long");
    auto& c = schema.conn();
    for (std::size_t n : {49u, 50u, 51u, 55u, 58u, 63u}) {
        std::string name(n, 'p');
        for (std::size_t i = 0; i < n; i += 10) {
            name[i] = static_cast<char>('a' + i / 10); // not one repeated letter
        }
        INFO(name);
        std::string table = db::QualifiedName{schema.name(), name}.quoted();
        for (int i = 0; i < 3; ++i) {
            auto r = ingest(
                {nc_gpkg(), "--collection", table, "--mode", "replace", "--fid-column", "ogc_fid"});
            INFO(r.err);
            REQUIRE(r.exit_code == 0);
        }
        CHECK(rows(c, table) == 100);
        // The live objects carry the live names (PostgreSQL's 63-byte limit applied).
        auto objs = c.exec_params(
            "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = "
            "to_regnamespace($1) AND relname LIKE $2",
            db::quote_ident(schema.name()), name.substr(0, 20) + "%");
        std::vector<std::string> want = {
            db::derived_name(name, ""), db::derived_name(name, "_geometry_idx"),
            db::derived_name(name, "_id_seq"), db::derived_name(name, "_ogc_fid_key"),
            db::derived_name(name, "_pkey")};
        std::sort(want.begin(), want.end());
        std::string joined;
        for (const auto& w : want) {
            CHECK(w.size() <= 63);
            joined += (joined.empty() ? "" : ",") + w;
        }
        CHECK(objs.text(0, 0) == joined);
        c.exec("DROP TABLE " + table);
    }
    // A FID column name longer than 20 bytes: the index is <table>_fid_key (the table part is
    // not pushed out of the name), staging and live names still differ.
    std::string name(63, 'q');
    std::string fid(30, 'f');
    std::string table = db::QualifiedName{schema.name(), name}.quoted();
    for (int i = 0; i < 2; ++i) {
        auto r =
            ingest({nc_gpkg(), "--collection", table, "--mode", "replace", "--fid-column", fid});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
    }
    CHECK(c.exec_params("SELECT count(*) FROM pg_class WHERE relnamespace = to_regnamespace($1) "
                        "AND relname = $2",
                        db::quote_ident(schema.name()), name.substr(0, 55) + "_fid_key")
              .int64(0, 0) == 1);
}

TEST_CASE("issue 7 #10: a shapefile without .dbf or .prj is an error unless --s-srs says",
          "[db][ingest][issue7]") {
    TempSchema schema("sidecars");
    auto& c = schema.conn();
    auto dir = temp_dir();
    REQUIRE(run({"ogr2ogr", (dir / "nc.shp").string(), nc_gpkg()}).exit_code == 0);
    namespace fs = std::filesystem;
    fs::create_directories(dir / "nodbf");
    fs::create_directories(dir / "noprj");
    for (const char* ext : {".shp", ".shx", ".prj"}) {
        fs::copy_file(dir / (std::string("nc") + ext), dir / "nodbf" / (std::string("nc") + ext));
    }
    for (const char* ext : {".shp", ".shx", ".dbf"}) {
        fs::copy_file(dir / (std::string("nc") + ext), dir / "noprj" / (std::string("nc") + ext));
    }
    std::string table = db::QualifiedName{schema.name(), "nc"}.quoted();
    auto nodbf = (dir / "nodbf" / "nc.shp").string();
    auto r = ingest({nodbf, "--collection", table});
    CHECK(r.exit_code == 4);
    CHECK(last_line(r.err) == "baims ingest-vector: error: shapefile layer 'nc' of '" + nodbf +
                                  "' has no .dbf file, so its attributes are missing. Put nc.dbf "
                                  "(and .prj) next to the .shp; they must have the same name");
    // --s-srs does not stand in for attributes.
    CHECK(ingest({nodbf, "--collection", table, "--s-srs", "EPSG:4267"}).exit_code == 4);
    CHECK_FALSE(exists(c, table));

    auto noprj = (dir / "noprj" / "nc.shp").string();
    r = ingest({noprj, "--collection", table});
    CHECK(r.exit_code == 4);
    CHECK(last_line(r.err) ==
          "baims ingest-vector: error: layer 'nc' of '" + noprj +
              "' has no CRS (the .prj file is missing). Say what the coordinates are with --s-srs "
              "EPSG:<code>");
    CHECK_FALSE(exists(c, table));
    // --t-srs alone cannot help either (from what?).
    CHECK(ingest({noprj, "--collection", table, "--t-srs", "EPSG:4326"}).exit_code == 4);
    r = ingest({noprj, "--collection", table, "--s-srs", "EPSG:4267", "--t-srs", "EPSG:4326"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(column_type(c, table, "geometry") == "geometry(MultiPolygon,4326)");
    // Same coordinates as the complete shapefile reprojected by ogr2ogr's path (nc.gpkg, NAD27).
    std::string ref = db::QualifiedName{schema.name(), "ref"}.quoted();
    REQUIRE(ingest({nc_gpkg(), "--collection", ref, "--t-srs", "EPSG:4326"}).exit_code == 0);
    CHECK(c.exec("SELECT max(ST_HausdorffDistance(a.geometry, b.geometry)) FROM " + table +
                 " a JOIN " + ref + " b USING (\"NAME\", \"FIPS\")")
              .real(0, 0) <= 1e-9);
}

TEST_CASE("issue 7 messages: SQL errors carry the SQLSTATE and the server's hint",
          "[db][ingest][issue7]") {
    auto c = connect();
    try {
        c.exec("SELECT baims_no_such_function(1)");
        FAIL("no error");
    } catch (const DatabaseError& e) {
        CHECK(std::string(e.what()) ==
              "function baims_no_such_function(integer) does not exist (SQLSTATE 42883)");
        CHECK(e.hint() == "No function matches the given name and argument types. You might need "
                          "to add explicit type casts");
        CHECK(e.sqlstate() == "42883");
    }
    // Through the binary: a duplicate FID on append (exit 6) names the SQLSTATE.
    TempSchema schema("sqlstate");
    std::string table = db::QualifiedName{schema.name(), "nc"}.quoted();
    REQUIRE(ingest({nc_gpkg(), "--collection", table, "--fid-column", "ogc_fid"}).exit_code == 0);
    auto dup =
        ingest({nc_gpkg(), "--collection", table, "--mode", "append", "--fid-column", "ogc_fid"});
    CHECK(dup.exit_code == 6);
    CHECK(last_line(dup.err).find("duplicate key value violates unique constraint "
                                  "\"nc_ogc_fid_key\" (SQLSTATE 23505)") != std::string::npos);
}

TEST_CASE("issue 7 messages: an append mismatch suggests a new collection, not a blind replace",
          "[db][ingest][issue7]") {
    TempSchema schema("mismatch");
    std::string table = db::QualifiedName{schema.name(), "nc"}.quoted();
    REQUIRE(ingest({nc_gpkg(), "--collection", table, "--select", "NAME"}).exit_code == 0);
    auto r = ingest({nc_gpkg(), "--collection", table, "--mode", "append", "--select", "FIPS"});
    CHECK(r.exit_code == 5);
    CHECK(last_line(r.err) ==
          "baims ingest-vector: error: table " + table +
              " has no column(s) FIPS for --mode append. Use --select/--rename to match its "
              "columns, or load into a new --collection (--mode replace would delete the rows the "
              "table has)");
}
