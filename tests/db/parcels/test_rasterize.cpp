// `baims rasterize` (the real binary) against a real PostGIS: masks checked pixel by pixel
// against GDAL's rasterisation (GDALRasterizeGeometries on the mask's own grid, parcels
// reprojected by PostGIS ST_Transform) and against PostGIS itself (ST_Value at pixel centres vs
// ST_Intersects of the centre with the parcel); atomic rebuild, --only-new, errors, hostile names.
#include "db_fixture.hpp"

#include "baims/db/connection.hpp"
#include "baims/db/identifiers.hpp"
#include "baims/parcels/rasterize.hpp"

#include <catch2/catch.hpp>
#include <cpl_string.h>
#include <gdal.h>
#include <gdal_alg.h>
#include <nlohmann/json.hpp>
#include <ogr_api.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <random>
#include <signal.h>
#include <sstream>
#include <thread>

using namespace baims;
using namespace baims::test;

namespace {

// Parcels near Stuttgart (UTM 32N), made in EPSG:32632 by PostGIS and stored in EPSG:4326, or in
// EPSG:3035 (a second SRID, per row). ogc_fid: 1..n.
// Each test case has its own schema: ctest runs the cases of this file in parallel.
struct Fixture {
    TempSchema schema;
    std::string parcels_sql; // quoted schema.table
    std::string parcels_arg; // --parcel-table value
    std::string mask_sql(int epsg, int res) const {
        return schema.quoted() + "." +
               db::quote_ident("Parcels \"2024\"_" + std::to_string(epsg) + "_" +
                               std::to_string(res) + "_rast");
    }
    explicit Fixture(const std::string& tag)
        : schema("rast " + tag) {
        parcels_sql = schema.table("Parcels \"2024\"");
        parcels_arg = parcels_sql;
        auto& c = schema.conn();
        c.exec("CREATE TABLE " + parcels_sql +
               " (ogc_fid integer PRIMARY KEY, name text, wkb_geometry geometry)");
    }
    // A polygon given in UTM 32N coordinates, stored in srid.
    void add(int fid, const std::string& utm_wkt, int srid = 4326) {
        schema.conn().exec_params("INSERT INTO " + parcels_sql +
                                      " VALUES ($1, 'p', ST_Transform(ST_GeomFromText($2, "
                                      "32632), $3::integer))",
                                  fid, utm_wkt, srid);
    }
    void add_raw(int fid, const std::string& ewkt) {
        schema.conn().exec_params(
            "INSERT INTO " + parcels_sql + " VALUES ($1, 'p', ST_GeomFromEWKT($2))", fid, ewkt);
    }
    RunResult rasterize(std::vector<std::string> extra) {
        std::vector<std::string> argv{baims_binary(),   "--progress", "never",
                                      "rasterize",      "any",        "--all-parcels",
                                      "--parcel-table", parcels_arg};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return run(argv);
    }
};

// A random simple star-shaped parcel around (cx, cy): n vertices at jittered, increasing angles
// (consecutive angles less than pi apart, so the ring never crosses itself), radius r * 0.4..1.
std::string random_parcel(std::mt19937& rng, double cx, double cy, double r) {
    std::uniform_real_distribution<double> u(0, 1);
    const int n = 4 + static_cast<int>(u(rng) * 10);
    std::ostringstream s;
    s.precision(17);
    s << "POLYGON((";
    std::string first;
    for (int i = 0; i < n; ++i) {
        const double a = (i + 0.8 * u(rng)) * 2 * M_PI / n;
        const double rad = r * (0.4 + 0.6 * u(rng));
        std::ostringstream v;
        v.precision(17);
        v << cx + rad * std::cos(a) << " " << cy + rad * std::sin(a);
        if (i == 0)
            first = v.str();
        s << (i ? "," : "") << v.str();
    }
    s << "," << first << "))";
    return s.str();
}

std::vector<int> parse_values(const std::string& arr) { // "{{1,0},{0,1}}" -> 1 0 0 1
    std::vector<int> v;
    int cur = -1;
    for (char ch : arr) {
        if (ch >= '0' && ch <= '9')
            cur = (cur < 0 ? 0 : cur * 10) + (ch - '0');
        else if (cur >= 0) {
            v.push_back(cur);
            cur = -1;
        } else if (ch == 'N') // NULL
            v.push_back(-1);
    }
    return v;
}

struct Check {
    std::int64_t rows = 0, pixels = 0, gdal_mismatch = 0, bad_meta = 0;
};

// Every mask of the table against GDAL on the mask's own grid (with a 2-pixel margin).
Check compare_with_gdal(db::Connection& c, const Fixture& f, int epsg, int res, bool at) {
    Check k;
    auto r = c.exec("SELECT m.pid, ST_UpperLeftX(rast), ST_UpperLeftY(rast), ST_ScaleX(rast), "
                    "ST_ScaleY(rast), ST_SkewX(rast), ST_SkewY(rast), ST_Width(rast), "
                    "ST_Height(rast), ST_SRID(rast), ST_BandPixelType(rast, 1), "
                    "ST_BandNoDataValue(rast, 1), ST_DumpValues(rast, 1, false)::text, "
                    "encode(ST_AsBinary(ST_Transform(p.wkb_geometry, " +
                    std::to_string(epsg) + ")), 'hex') FROM " + f.mask_sql(epsg, res) + " m JOIN " +
                    f.parcels_sql + " p ON p.ogc_fid = m.pid ORDER BY 1");
    GDALAllRegister();
    for (std::size_t i = 0; i < r.size(); ++i) {
        ++k.rows;
        const double ulx = r.real(i, 1), uly = r.real(i, 2);
        const int w = static_cast<int>(r.int64(i, 7)), h = static_cast<int>(r.int64(i, 8));
        const bool meta_ok = r.real(i, 3) == res && r.real(i, 4) == -res && r.real(i, 5) == 0 &&
                             r.real(i, 6) == 0 && std::fmod(ulx, res) == 0 &&
                             std::fmod(uly, res) == 0 && r.int64(i, 9) == epsg &&
                             r.text(i, 10) == "8BUI" && r.real(i, 11) == 0;
        k.bad_meta += !meta_ok;
        const std::vector<int> vals = parse_values(r.text(i, 12));
        REQUIRE(vals.size() == static_cast<std::size_t>(w * h));
        // GDAL on the window grown by 2 pixels each side
        const int W = w + 4, H = h + 4;
        GDALDatasetH ds = GDALCreate(GDALGetDriverByName("MEM"), "", W, H, 1, GDT_Byte, nullptr);
        double gt[6] = {ulx - 2 * res,
                        static_cast<double>(res),
                        0,
                        uly + 2 * res,
                        0,
                        -static_cast<double>(res)};
        GDALSetGeoTransform(ds, gt);
        const std::string& hex = r.text(i, 13);
        std::vector<unsigned char> wkb(hex.size() / 2);
        for (std::size_t b = 0; b < wkb.size(); ++b)
            wkb[b] = static_cast<unsigned char>(std::stoi(hex.substr(2 * b, 2), nullptr, 16));
        OGRGeometryH g = nullptr;
        REQUIRE(OGR_G_CreateFromWkb(wkb.data(), nullptr, &g, static_cast<int>(wkb.size())) ==
                OGRERR_NONE);
        if (!OGR_G_IsValid(g)) {
            OGRGeometryH v = OGR_G_MakeValid(g);
            OGR_G_DestroyGeometry(g);
            g = v;
        }
        int band = 1;
        double burn = 1;
        char** opts = at ? CSLSetNameValue(nullptr, "ALL_TOUCHED", "TRUE") : nullptr;
        REQUIRE(GDALRasterizeGeometries(ds, 1, &band, 1, &g, nullptr, nullptr, &burn, opts, nullptr,
                                        nullptr) == CE_None);
        CSLDestroy(opts);
        OGR_G_DestroyGeometry(g);
        std::vector<unsigned char> ref(static_cast<std::size_t>(W * H));
        REQUIRE(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, W, H, ref.data(), W, H,
                             GDT_Byte, 0, 0) == CE_None);
        GDALClose(ds);
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x) {
                const int ours = (x >= 2 && x < w + 2 && y >= 2 && y < h + 2)
                                     ? vals[static_cast<std::size_t>((y - 2) * w + (x - 2))]
                                     : 0;
                if (ours != ref[static_cast<std::size_t>(y * W + x)]) {
                    ++k.gdal_mismatch;
                    UNSCOPED_INFO("GDAL differs: pid " << r.text(i, 0) << " pixel " << x - 2 << ","
                                                       << y - 2 << " ours " << ours);
                }
                k.pixels += ours == 1;
            }
    }
    return k;
}

// PostGIS's own reading: ST_Value at every pixel centre of the window vs ST_Intersects(centre,
// parcel reprojected by PostGIS). Returns the number of disagreeing pixels.
std::int64_t postgis_disagreements(db::Connection& c, const Fixture& f, int epsg, int res) {
    auto r =
        c.exec("SELECT count(*), string_agg(m.pid || ':' || cx || ',' || cy || '=' || "
               "coalesce(ST_Value(m.rast, 1, q.pt, false), 0), ' ') FROM " +
               f.mask_sql(epsg, res) + " m JOIN " + f.parcels_sql +
               " p ON p.ogc_fid = m.pid, LATERAL generate_series(0, ST_Width(m.rast) - 1) cx, "
               "LATERAL generate_series(0, ST_Height(m.rast) - 1) cy, LATERAL (SELECT "
               "ST_SetSRID(ST_MakePoint(ST_UpperLeftX(m.rast) + (cx + 0.5) * ST_ScaleX(m.rast), "
               "ST_UpperLeftY(m.rast) + (cy + 0.5) * ST_ScaleY(m.rast)), " +
               std::to_string(epsg) +
               ") AS pt) q WHERE coalesce(ST_Value(m.rast, 1, q.pt, false), 0) <> CASE WHEN "
               "ST_Intersects(ST_MakeValid(ST_Transform(p.wkb_geometry, " +
               std::to_string(epsg) + ")), q.pt) THEN 1 ELSE 0 END");
    if (r.int64(0, 0) != 0)
        UNSCOPED_INFO("PostGIS disagrees at pid:col,row=ours " << r.text(0, 1));
    return r.int64(0, 0);
}

std::int64_t count_rows(db::Connection& c, const std::string& table) {
    return c.exec("SELECT count(*) FROM " + table).int64(0, 0);
}

} // namespace

TEST_CASE("tile ids give UTM zones", "[rasterize]") {
    CHECK(parcels::utm_epsg_of_tile("T32UNG") == 32632);
    CHECK(parcels::utm_epsg_of_tile("33TWN") == 32633);
    CHECK(parcels::utm_epsg_of_tile("T01CDH") == 32701); // band C: south
    CHECK(parcels::utm_epsg_of_tile("T56MKU") == 32756); // band M: south
    CHECK(parcels::utm_epsg_of_tile("T56NKU") == 32656); // band N: north
    CHECK_FALSE(parcels::utm_epsg_of_tile("T61UNG"));
    CHECK_FALSE(parcels::utm_epsg_of_tile("N0500"));
    CHECK_FALSE(parcels::utm_epsg_of_tile(""));
}

TEST_CASE("masks equal GDAL's rasterisation and PostGIS reads them at the right place",
          "[rasterize]") {
    require_server();
    Fixture f{"gdal"};
    std::mt19937 rng(3);
    int fid = 0;
    for (int i = 0; i < 150; ++i) // 4326 parcels, about 10 x 10 to 40 x 40 pixels at 10 m
        f.add(++fid, random_parcel(rng, 500000 + 450 * (i % 15), 5400000 + 450 * (i / 15),
                                   60 + 150 * (i % 3)));
    for (int i = 0; i < 50; ++i) // the same in EPSG:3035
        f.add(++fid, random_parcel(rng, 510000 + 450 * (i % 10), 5400000 + 450 * (i / 10), 120),
              3035);
    // with a hole
    f.add(++fid, "POLYGON((520003 5410003,520403 5410003,520403 5410397,520003 5410397,"
                 "520003 5410003),(520103 5410103,520303 5410103,520303 5410303,520103 5410303,"
                 "520103 5410103))");
    // a MultiPolygon of two parts
    f.add(++fid, "MULTIPOLYGON(((521003 5410003,521103 5410003,521103 5410097,521003 5410003)),"
                 "((521203 5410203,521303 5410203,521303 5410297,521203 5410203)))");
    const int good = fid; // 202 parcels with pixels at 10 and 20 m
    // sub-pixel: 4 m x 4 m between pixel centres (no centre inside at 10 or 20 m)
    f.add(++fid, "POLYGON((530001 5410001,530004 5410001,530004 5410004,530001 5410004,"
                 "530001 5410001))");
    // empty geometry and NULL geometry
    f.add_raw(++fid, "SRID=4326;POLYGON EMPTY");
    f.schema.conn().exec("INSERT INTO " + f.parcels_sql + " VALUES (" + std::to_string(++fid) +
                         ", 'null', NULL)");
    // invalid: a bow-tie (repaired by MakeValid into two triangles)
    f.add(++fid, "POLYGON((540003 5410000,540203 5410200,540203 5410000,540003 5410200,"
                 "540003 5410000))");

    auto out = f.rasterize({"--epsg", "32632", "--res", "10", "20", "--create-tables"});
    INFO(out.err);
    REQUIRE(out.exit_code == 0);
    CHECK(out.err.find("rasterize: done: " + std::to_string(fid) + " parcels, 2 tables, " +
                       std::to_string(2 * (good + 1)) +
                       " masks; 1 invalid (repaired), 2 empty, 2 smaller than a pixel, 0 failed") !=
          std::string::npos);
    auto& c = f.schema.conn();
    for (int res : {10, 20}) {
        CHECK(count_rows(c, f.mask_sql(32632, res)) == good + 1); // + the repaired bow-tie
        const Check k = compare_with_gdal(c, f, 32632, res, false);
        CHECK(k.rows == good + 1);
        CHECK(k.bad_meta == 0);
        CHECK(k.gdal_mismatch == 0);
        CHECK(k.pixels > (res == 10 ? 30000 : 7000));
        CHECK(postgis_disagreements(c, f, 32632, res) == 0);
    }
    // the primary key is on pid
    auto pk = c.exec_params("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
                            "$1::regclass AND contype = 'p'",
                            f.mask_sql(32632, 10));
    REQUIRE(pk.size() == 1);
    CHECK(pk.text(0, 0) == "PRIMARY KEY (pid)");

    SECTION("all touched equals GDAL ALL_TOUCHED") {
        auto at = f.rasterize({"--epsg", "32632", "--res", "20", "--all-touched"});
        REQUIRE(at.exit_code == 0);
        const Check k = compare_with_gdal(c, f, 32632, 20, true);
        CHECK(k.rows == good + 2); // the sub-pixel parcel now touches one pixel
        CHECK(k.gdal_mismatch == 0);
    }
}

TEST_CASE("rebuild is atomic, --only-new adds only missing masks", "[rasterize]") {
    require_server();
    Fixture f{"rebuild"};
    std::mt19937 rng(5);
    for (int i = 1; i <= 30; ++i)
        f.add(i, random_parcel(rng, 600000 + 400 * i, 5300000, 150));
    REQUIRE(f.rasterize({"--epsg", "32632", "--res", "10", "--create-tables"}).exit_code == 0);
    auto& c = f.schema.conn();
    const std::string t = f.mask_sql(32632, 10);
    REQUIRE(count_rows(c, t) == 30);
    const std::string before =
        c.exec("SELECT md5(string_agg(rast::text, ',' ORDER BY pid)) FROM " + t).text(0, 0);

    SECTION("an error mid-build (duplicate pid) leaves the old table intact") {
        c.exec("ALTER TABLE " + f.parcels_sql + " DROP CONSTRAINT " +
               db::quote_ident("Parcels \"2024\"_pkey"));
        f.add(7, random_parcel(rng, 700000, 5300000, 150)); // a second parcel 7
        auto out = f.rasterize({"--epsg", "32632", "--res", "10"});
        CHECK(out.exit_code == 6);
        CHECK(last_line(out.err).rfind("baims rasterize: error: ", 0) == 0);
        CHECK(count_rows(c, t) == 30);
        CHECK(c.exec("SELECT md5(string_agg(rast::text, ',' ORDER BY pid)) FROM " + t).text(0, 0) ==
              before);
        CHECK_FALSE(db::table_exists(
            c, db::QualifiedName{f.schema.name(), "Parcels \"2024\"_32632_10_rast_baims_new"}));
    }
    SECTION("kill -9 during the COPY leaves the old table intact") {
        std::string fids = "{", wkts = "{";
        for (int i = 31; i <= 6000; ++i) {
            fids += (i > 31 ? "," : "") + std::to_string(i);
            wkts += (i > 31 ? ",\"" : "\"") +
                    random_parcel(rng, 600000 + 40 * (i % 1000), 5310000 + 400 * (i / 1000), 150) +
                    "\"";
        }
        c.exec_params("INSERT INTO " + f.parcels_sql +
                          " SELECT v.f, 'p', ST_Transform(ST_GeomFromText(v.w, 32632), 4326) "
                          "FROM unnest($1::integer[], $2::text[]) AS v(f, w)",
                      fids + "}", wkts + "}");
        Child child({baims_binary(), "--progress", "never", "rasterize", "any", "--all-parcels",
                     "--parcel-table", f.parcels_arg, "--epsg", "32632", "--res", "10"});
        bool seen = false;
        for (int k = 0; k < 600 && !seen; ++k) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            seen = c.exec("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %' AND "
                          "pid <> pg_backend_pid()")
                       .int64(0, 0) > 0;
        }
        child.kill(SIGKILL);
        auto res = child.wait();
        CHECK(res.exit_code == 128 + SIGKILL);
        CHECK(seen);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        CHECK(count_rows(c, t) == 30);
        CHECK(c.exec("SELECT md5(string_agg(rast::text, ',' ORDER BY pid)) FROM " + t).text(0, 0) ==
              before);
        // and a rerun finishes the job
        REQUIRE(f.rasterize({"--epsg", "32632", "--res", "10"}).exit_code == 0);
        CHECK(count_rows(c, t) == 6000);
    }
    SECTION("--only-new") {
        c.exec("DELETE FROM " + t + " WHERE pid IN (3, 4)");
        f.add(31, random_parcel(rng, 700000, 5300000, 150));
        // mark an existing mask: --only-new must not rewrite it
        c.exec("UPDATE " + t + " SET rast = ST_SetValue(rast, 1, 1, 1, 7) WHERE pid = 1");
        auto out = f.rasterize({"--epsg", "32632", "--res", "10", "--only-new"});
        INFO(out.err);
        REQUIRE(out.exit_code == 0);
        CHECK(out.err.find("3 masks written, 28 kept") != std::string::npos);
        CHECK(count_rows(c, t) == 31);
        CHECK(c.exec("SELECT ST_Value(rast, 1, 1, 1) FROM " + t + " WHERE pid = 1").int64(0, 0) ==
              7);
        const Check k = compare_with_gdal(c, f, 32632, 10, false);
        CHECK(k.gdal_mismatch == 1); // only the marked pixel of pid 1 (7, GDAL 0 or 1)
    }
}

TEST_CASE("zones from the catalogue, and errors", "[rasterize]") {
    require_server();
    Fixture f{"zones"};
    auto& c = f.schema.conn();
    std::mt19937 rng(9);
    f.add(1, random_parcel(rng, 500000, 5400000, 150));
    const std::string aois = f.schema.table("aois"), cat = f.schema.table("dias_catalogue");
    c.exec("CREATE TABLE " + aois + " (name text, wkb_geometry geometry(Polygon, 4326))");
    c.exec("INSERT INTO " + aois + " VALUES ('bw', ST_MakeEnvelope(8.5, 48.5, 9.5, 49, 4326))");
    c.exec("CREATE TABLE " + cat +
           " (id serial primary key, obstime timestamp not null, "
           "reference varchar(120) not null unique, sensor char(2), card "
           "char(2), status varchar(24), footprint geometry(Polygon,4326))");
    c.exec("INSERT INTO " + cat +
           " (obstime, reference, footprint) VALUES "
           "('2024-05-01', 'S2A_MSIL2A_20240501T102021_N0510_R065_T32UNA_20240501T165101', "
           "ST_MakeEnvelope(8, 48, 9.2, 49, 4326)), "
           "('2024-05-01', 'S2A_MSIL2A_20240501T102021_N0510_R065_T33UUP_20240501T165101', "
           "ST_MakeEnvelope(9, 48, 10, 49, 4326)), "
           "('2024-05-01', 'S2A_MSIL2A_20240501T102021_N0510_R065_T34UUP_20240501T165101', "
           "ST_MakeEnvelope(20, 48, 21, 49, 4326))");
    // db_config.json naming the hostile tables
    const auto dir = temp_dir();
    const auto cfg = dir / "db_config.json";
    {
        std::ofstream o(cfg);
        nlohmann::json j;
        j["database"]["connection"] = nlohmann::json::object();
        j["database"]["tables"]["aoi_table"] = aois;
        j["database"]["tables"]["catalog_table"] = cat;
        j["database"]["tables"]["parcel_table"] = f.parcels_sql;
        o << j.dump();
    }
    auto out = run({baims_binary(), "--progress", "never", "rasterize", "bw", "--db-config",
                    cfg.string(), "--res", "20"});
    INFO(out.err);
    REQUIRE(out.exit_code == 0);
    CHECK(out.err.find("UTM zones of AOI 'bw' from the catalogue: EPSG:32632, EPSG:32633") !=
          std::string::npos);
    CHECK(count_rows(c, f.mask_sql(32632, 20)) == 1);
    CHECK(count_rows(c, f.mask_sql(32633, 20)) == 1);
    CHECK_FALSE(
        db::table_exists(c, db::QualifiedName{f.schema.name(), "Parcels \"2024\"_32634_20_rast"}));

    SECTION("a parcel with an unknown SRID fails alone: exit 8, the others are written") {
        f.add_raw(2, "SRID=990000;POLYGON((0 0,100 0,100 100,0 100,0 0))");
        f.add(3, random_parcel(rng, 501000, 5400000, 150));
        auto e = f.rasterize({"--epsg", "32632", "--res", "10"});
        INFO(e.err);
        CHECK(e.exit_code == 8);
        CHECK(e.err.find("rasterize: parcel 2: parcel SRID 990000 is not an EPSG code; no mask") !=
              std::string::npos);
        CHECK(e.err.find("rasterize: done: 3 parcels, 1 tables, 2 masks; 0 invalid (repaired), 0 "
                         "empty, 0 smaller than a pixel, 1 failed") != std::string::npos);
        CHECK(count_rows(c, f.mask_sql(32632, 10)) == 2);
    }
    SECTION("unknown AOI") {
        auto e = run({baims_binary(), "rasterize", "nowhere", "--db-config", cfg.string()});
        CHECK(e.exit_code == 4);
        CHECK(last_line(e.err) == "baims rasterize: error: AOI 'nowhere' is not in " + aois +
                                      ". Check the name, or give the UTM zones with --epsg");
    }
    SECTION("missing parcel table") {
        auto e = run({baims_binary(), "rasterize", "bw", "--epsg", "32632", "--parcel-table",
                      f.schema.table("nope")});
        CHECK(e.exit_code == 6);
        CHECK(last_line(e.err).rfind("baims rasterize: error: parcel table " +
                                         f.schema.table("nope") + " does not exist on ",
                                     0) == 0);
        CHECK(last_line(e.err).find(". Load the parcels first (baims ingest-vector) or fix "
                                    "parcel_table") != std::string::npos);
    }
    SECTION("missing pid column") {
        auto e = f.rasterize({"--epsg", "32632", "--pid-column", "fid"});
        CHECK(e.exit_code == 6);
        CHECK(last_line(e.err) == "baims rasterize: error: parcel table " + f.parcels_sql +
                                      " has no column \"fid\". Give the parcel id column with "
                                      "--pid-column");
    }
}

namespace {
// A 4326 AOI whose extent in UTM 32N is the rectangle [x0, x1] x [y0, y1] (densified before the
// reprojection, so the round trip moves its bounding box by millimetres only).
void add_utm_aoi(Fixture& f, const std::string& aois, const std::string& name, double x0, double y0,
                 double x1, double y1) {
    f.schema.conn().exec_params(
        "INSERT INTO " + aois +
            " VALUES ($1, ST_Transform(ST_Segmentize(ST_MakeEnvelope($2, $3, $4, $5, 32632), 50),"
            " 4326))",
        name, x0, y0, x1, y1);
}

std::string table_text(db::Connection& c, const std::string& table) { // rows in storage order
    return c
        .exec("SELECT count(*) || ' ' || md5(string_agg(pid || ':' || rast::text, ',' ORDER BY "
              "ctid)) FROM " +
              table)
        .text(0, 0);
}
} // namespace

TEST_CASE("rasterize: only parcels in the AOI's extent get masks, with --all-parcels all",
          "[rasterize]") {
    require_server();
    Fixture f{"aoi"};
    auto& c = f.schema.conn();
    const std::string aois = f.schema.table("aois");
    c.exec("CREATE TABLE " + aois + " (name text, wkb_geometry geometry(Polygon, 4326))");
    // AOI: x 500950..502650, y 5400950..5402650 (UTM 32N)
    add_utm_aoi(f, aois, "box", 500950, 5400950, 502650, 5402650);
    add_utm_aoi(f, aois, "far", 600000, 5400000, 601000, 5401000);
    // 12 x 12 squares of 100 m every 400 m from (500000, 5400000): columns and rows 3..6 meet the
    // AOI (the nearest outside squares are 50 m and 150 m away): 16 inside, 128 outside
    int fid = 0;
    for (int j = 0; j < 12; ++j)
        for (int i = 0; i < 12; ++i) {
            const double x = 500000 + 400 * i + 3, y = 5400000 + 400 * j + 3;
            std::ostringstream w;
            w.precision(17);
            w << "POLYGON((" << x << " " << y << "," << x + 100 << " " << y << "," << x + 100 << " "
              << y + 100 << "," << x << " " << y + 100 << "," << x << " " << y << "))";
            f.add(++fid, w.str(), j % 2 ? 4326 : 3035);
        }
    // one across the AOI's west edge, in EPSG:3035
    f.add(++fid,
          "POLYGON((500903 5401503,501003 5401503,501003 5401603,500903 5401603,500903 5401503))",
          3035);
    const std::string t10 = f.mask_sql(32632, 10);
    const std::string cfg_dir = temp_dir();
    const std::string cfg = cfg_dir + "/db_config.json";
    {
        nlohmann::json j;
        j["database"]["connection"] = nlohmann::json::object();
        j["database"]["tables"]["aoi_table"] = aois;
        j["database"]["tables"]["parcel_table"] = f.parcels_sql;
        std::ofstream(cfg) << j.dump();
    }
    auto out = run({baims_binary(), "--progress", "never", "rasterize", "box", "--db-config", cfg,
                    "--epsg", "32632", "--res", "10"});
    INFO(out.err);
    REQUIRE(out.exit_code == 0);
    CHECK(out.err.find("rasterize: done: 145 parcels, 1 tables, 17 masks; 0 invalid (repaired), 0 "
                       "empty, 0 smaller than a pixel, 0 failed, 128 outside the AOI") !=
          std::string::npos);
    CHECK(count_rows(c, t10) == 17);
    // exactly the squares of columns and rows 3..6, and the one across the edge
    CHECK(c.exec("SELECT string_agg(pid::text, ',' ORDER BY pid) FROM " + t10).text(0, 0) ==
          "40,41,42,43,52,53,54,55,64,65,66,67,76,77,78,79,145");
    const std::string in_aoi =
        c.exec("SELECT md5(string_agg(rast::text, ',' ORDER BY pid)) FROM " + t10).text(0, 0);

    SECTION("--all-parcels: every parcel, the same masks for those in the AOI") {
        auto all = run({baims_binary(), "--progress", "never", "rasterize", "box", "--db-config",
                        cfg, "--epsg", "32632", "--res", "10", "--all-parcels"});
        INFO(all.err);
        REQUIRE(all.exit_code == 0);
        CHECK(all.err.find("rasterize: done: 145 parcels, 1 tables, 145 masks; 0 invalid "
                           "(repaired), 0 empty, 0 smaller than a pixel, 0 failed\n") !=
              std::string::npos);
        CHECK(count_rows(c, t10) == 145);
        CHECK(c.exec("SELECT md5(string_agg(rast::text, ',' ORDER BY pid)) FROM " + t10 +
                     " WHERE pid IN (40,41,42,43,52,53,54,55,64,65,66,67,76,77,78,79,145)")
                  .text(0, 0) == in_aoi);
    }
    SECTION("an AOI far from every parcel: no mask") {
        auto far = run({baims_binary(), "--progress", "never", "rasterize", "far", "--db-config",
                        cfg, "--epsg", "32632", "--res", "10"});
        INFO(far.err);
        REQUIRE(far.exit_code == 0);
        CHECK(far.err.find(", 0 masks; ") != std::string::npos);
        CHECK(far.err.find("145 outside the AOI") != std::string::npos);
        CHECK(count_rows(c, t10) == 0);
    }
    SECTION("a zone far from the parcels, a CRS or resolution that is not a Sentinel-2 grid: "
            "refused before anything is written") {
        // Before: --epsg 32635 rasterised the parcels 20 degrees from the zone (huge masks, slow),
        // --epsg 4326 and --res 30 made tables no image uses; all with exit 0.
        const std::string dsn = "--db-config";
        auto far = run({baims_binary(), "--progress", "never", "rasterize", "box", dsn, cfg,
                        "--epsg", "32635", "--res", "10"});
        CHECK(far.exit_code == 2);
        // (the parcels meeting the AOI's extent taken in that zone: more than the 17 of zone 32,
        // the extent being distorted there)
        CHECK(last_line(far.err).starts_with("baims rasterize: error: --epsg 32635: none of the "));
        CHECK(last_line(far.err).ends_with(
            " parcels lies within the Sentinel-2 tiles of UTM zone 35N (EPSG:32635, longitude "
            "24..30). Give the zone of the parcels: AOI 'box' lies in zone 32N, --epsg 32632"));
        auto geo = run({baims_binary(), "rasterize", "box", dsn, cfg, "--epsg", "4326"});
        CHECK(geo.exit_code == 2);
        CHECK(last_line(geo.err) ==
              "baims rasterize: error: --epsg 4326 is not a WGS 84 UTM zone. Sentinel-2 tiles are "
              "on EPSG:32601-32660 (north) and EPSG:32701-32760 (south), e.g. --epsg 32632");
        auto res =
            run({baims_binary(), "rasterize", "box", dsn, cfg, "--epsg", "32632", "--res", "30"});
        CHECK(res.exit_code == 2);
        CHECK(last_line(res.err) == "baims rasterize: error: --res 30 is not a resolution of the "
                                    "Sentinel-2 grids. Use --res 10, 20 or 60 (metres)");
        for (const auto& t : {f.mask_sql(32635, 10), f.mask_sql(4326, 10), f.mask_sql(32632, 30)})
            CHECK(c.exec_params("SELECT to_regclass($1) IS NULL", t).text(0, 0) == "t");
        CHECK(count_rows(c, t10) == 17);
    }
    SECTION("an unknown AOI with --epsg: exit 4") {
        auto e =
            run({baims_binary(), "rasterize", "nowhere", "--db-config", cfg, "--epsg", "32632"});
        CHECK(e.exit_code == 4);
        CHECK(last_line(e.err) == "baims rasterize: error: AOI 'nowhere' is not in " + aois +
                                      ". Check the name, or rasterize every parcel with "
                                      "--all-parcels");
        CHECK(count_rows(c, t10) == 17);
    }
}

TEST_CASE("rasterize: 1 and 3 threads write identical tables over several batches", "[rasterize]") {
    require_server();
    Fixture f{"threads"};
    auto& c = f.schema.conn();
    std::mt19937 rng(21);
    std::string fids = "{", wkts = "{";
    for (int i = 1; i <= 4500; ++i) { // more than two batches of 2048
        fids += (i > 1 ? "," : "") + std::to_string(i);
        wkts += (i > 1 ? ",\"" : "\"") +
                random_parcel(rng, 600000 + 300 * (i % 100), 5300000 + 300 * (i / 100),
                              30 + (i % 7) * 18) +
                "\"";
    }
    // a few empty and sub-pixel parcels in between
    fids += ",4501,4502";
    wkts += ",\"POLYGON EMPTY\",\"POLYGON((610001 5310001,610004 5310001,610004 5310004,"
            "610001 5310001))\"";
    c.exec_params("INSERT INTO " + f.parcels_sql +
                      " SELECT v.f, 'p', ST_Transform(ST_GeomFromText(v.w, 32632), 4326) "
                      "FROM unnest($1::integer[], $2::text[]) AS v(f, w)",
                  fids + "}", wkts + "}");
    std::string tables[2], done[2];
    for (int k = 0; k < 2; ++k) {
        const std::string threads = k == 0 ? "1" : "3";
        auto out = run({baims_binary(), "--progress", "never", "--threads", threads, "rasterize",
                        "any", "--all-parcels", "--parcel-table", f.parcels_arg, "--epsg", "32632",
                        "--res", "10", "20"});
        INFO(out.err);
        REQUIRE(out.exit_code == 0);
        CHECK(out.err.find(", every parcel, " + threads + " threads") != std::string::npos);
        const auto at = out.err.find("rasterize: done: 4502 parcels, 2 tables, ");
        REQUIRE(at != std::string::npos);
        done[k] = out.err.substr(at, out.err.find('\n', at) - at);
        tables[k] =
            table_text(c, f.mask_sql(32632, 10)) + " / " + table_text(c, f.mask_sql(32632, 20));
    }
    CHECK(done[0] == done[1]);
    CHECK(done[0].find("0 invalid (repaired), 1 empty, ") != std::string::npos);
    CHECK(tables[0] == tables[1]);
    CHECK(count_rows(c, f.mask_sql(32632, 10)) == 4500); // the sub-pixel one has none
    const Check k10 = compare_with_gdal(c, f, 32632, 10, false);
    CHECK(k10.rows == 4500);
    CHECK(k10.gdal_mismatch == 0);
}
