// `baims extract` database mode cross-checked against PostGIS itself: parcels in a PostGIS table,
// masks made by the real `baims rasterize`, a generated Sentinel-2 L2A product (lossless JP2,
// random DN with no-data pixels), statistics by the real `baims extract`; then the same image
// bands loaded into PostGIS as rasters and summarised there with ST_SummaryStats / ST_Quantile.
//
// Which pixels PostGIS summarises, two ways:
//  A. ST_Clip(image, ST_Polygon(mask)): the baims mask (loaded by rasterize as a raster) turned
//     into its pixel-edge outline; ST_Clip selects pixels by centre, and every centre is half a
//     pixel from that outline, so these are exactly the mask's pixels. This checks the statistics
//     over the very pixels baims selected.
//  B. ST_Clip(image, parcel geometry): PostGIS' own selection (GDAL rasterisation, pixel centre in
//     polygon, ST_Clip's default touched = false), the rule baims uses without --all-touched.
//     This checks the whole chain, rasterize included. No vertex or edge of the parcels below
//     passes through a pixel centre, so the rule has no tie to break.
// Both exclude no-data pixels (DN 0, the band's nodata in PostGIS; exclude_nodata_value = true),
// as baims does per pixel. ST_SummaryStats' stddev is the population one (sample = false), and
// ST_Quantile interpolates linearly between order statistics (numpy "linear"), as SPEC 10 asks.
// The SCL histogram is checked against PostGIS' ST_Value at the centroid of every mask pixel.
//
// Margins: sigs stores real (float4). count, min, max and the quantiles are integers or
// quarter-integers below 2^16 here, exact in float: compared with ==. mean and std are rounded to
// float from a double: half an ulp of float at the value, and PostGIS' double differs from baims'
// only by summation order (~1e-16 relative); the margin is one float ulp at the value.

#include "extract_fixture.hpp"

#include "baims/db/connection.hpp"
#include "baims/db/identifiers.hpp"
#include "baims/db/schema.hpp"
#include "baims/db/settings.hpp"

#include <catch2/catch.hpp>
#include <gdal.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace baims;
using namespace baims::test;
using namespace baims::test::extract;

namespace {

const std::string REF = "S2B_MSIL2A_20210620T103029_N0300_R108_T32UNG_20210620T134633.SAFE";
const std::string GRANULE = "L2A_T32UNG_A022341_20210620T103031";
constexpr int W10 = 96, W20 = 48;
const std::vector<std::string> BANDS10 = {"B02", "B03", "B04", "B08"};
const std::vector<std::string> BANDS20 = {"B05", "B11"};

// Random DN in 1..12000, about 6 % no data (0) and a no-data column strip.
std::vector<std::uint16_t> make_band(unsigned seed, int size, bool scl) {
    std::mt19937 rng(seed);
    std::vector<std::uint16_t> px(static_cast<std::size_t>(size) * size);
    for (int r = 0; r < size; ++r) {
        for (int c = 0; c < size; ++c) {
            std::uint16_t v = scl ? static_cast<std::uint16_t>(rng() % 12)
                                  : static_cast<std::uint16_t>(1 + rng() % 12000);
            if (!scl && (rng() % 16 == 0 || c == size / 2)) {
                v = 0;
            }
            px[static_cast<std::size_t>(r) * size + c] = v;
        }
    }
    return px;
}

// PostGIS raster WKB (little endian, one 16BUI band with nodata 0) of a whole image, hex.
std::string raster_hex(const std::vector<std::uint16_t>& px, int size, int res) {
    std::vector<std::uint8_t> bytes(px.size() * 2);
    std::memcpy(bytes.data(), px.data(), bytes.size()); // little endian, as the WKB header says
    return raster_wkb_hex(size, size, res, ULX, ULY, 32632, 6, {0, 0}, bytes);
}

// Parcels in UTM 32N metres (stored in EPSG:4326 by PostGIS, reprojected back by rasterize).
// Vertices are 3 m off the 10 m grid lines: no pixel centre on an edge.
const std::vector<std::pair<int, std::string>> PARCELS = {
    {1, "POLYGON((600103 4999683,600303 4999683,600303 4999853,600103 4999853,600103 4999683))"},
    // a triangle across the no-data column (48 at 10 m, 24 at 20 m) and the 32-pixel tile edges
    {2, "POLYGON((600283 4999423,600643 4999483,600403 4999763,600283 4999423))"},
    // with a hole
    {3, "POLYGON((600013 4999203,600253 4999203,600253 4999403,600013 4999403,600013 4999203),"
        "(600073 4999263,600153 4999263,600153 4999333,600073 4999333,600073 4999263))"},
    // a MultiPolygon of two parts
    {4, "MULTIPOLYGON(((600703 4999903,600803 4999903,600803 4999983,600703 4999903)),"
        "((600763 4999203,600913 4999203,600913 4999353,600763 4999353,600763 4999203)))"},
    // partly west of the image
    {5, "POLYGON((599893 4999503,600093 4999503,600093 4999603,599893 4999603,599893 4999503))"},
    // outside the image: no row anywhere
    {6, "POLYGON((610003 4999503,610203 4999503,610203 4999603,610003 4999603,610003 4999503))"},
};

struct Env : ExtractEnv {
    std::string images; // quoted table of the image bands as PostGIS rasters

    Env()
        : ExtractEnv("xcheck") {
        images = db::QualifiedName{schema.name(), "images"}.quoted();
        auto& c = schema.conn();
        c.exec("CREATE TABLE " + names.parcel.quoted() +
               " (ogc_fid integer PRIMARY KEY, wkb_geometry geometry)");
        for (const auto& [fid, wkt] : PARCELS) {
            c.exec_params("INSERT INTO " + names.parcel.quoted() +
                              " VALUES ($1, ST_Transform(ST_GeomFromText($2, 32632), 4326))",
                          fid, wkt);
        }
        c.exec("CREATE TABLE " + images + " (band text PRIMARY KEY, res int, rast raster)");
        const fs::path granule =
            eodata / "Sentinel-2/MSI/L2A/2021/06/20" / REF / "GRANULE" / GRANULE / "IMG_DATA";
        unsigned seed = 11;
        for (int res : {10, 20}) {
            const int size = res == 10 ? W10 : W20;
            std::vector<std::string> bands = res == 10 ? BANDS10 : BANDS20;
            if (res == 20) {
                bands.push_back("SCL");
            }
            for (const auto& b : bands) {
                const auto px = make_band(seed++, size, b == "SCL");
                write_jp2(granule / ("R" + std::to_string(res) + "m") /
                              ("T32UNG_20210620T103029_" + b + "_" + std::to_string(res) + "m.jp2"),
                          size, res, px, b == "SCL" ? GDT_Byte : GDT_UInt16);
                c.exec_params("INSERT INTO " + images + " VALUES ($1, $2, $3::raster)", b, res,
                              raster_hex(px, size, res));
            }
        }
        c.exec("UPDATE " + images +
               " SET rast = ST_SetBandNoDataValue(rast, 1, NULL) WHERE band "
               "= 'SCL'"); // SCL 0 is a class, not no data
        c.exec_params("INSERT INTO " + names.catalog.quoted() +
                          " (obstime, reference, sensor, card) VALUES ('2021-06-20 10:30:29', $1,"
                          " '2B', 's2')",
                      REF);
    }
};

struct Stats {
    double count = 0, mean = 0, std = 0, min = 0, max = 0, p25 = 0, p50 = 0, p75 = 0;
};

// PostGIS' statistics of band `band` over the pixels `selector` (SQL of a geometry in EPSG:32632
// using m.rast, the mask, and p.wkb_geometry, the parcel) of parcel pid. count 0: no pixel.
Stats postgis_stats(Env& e, int res, const std::string& band, int pid,
                    const std::string& selector) {
    const std::string clip = "(SELECT ST_Clip(i.rast, 1, " + selector + ", true) FROM " + e.images +
                             " i, " + e.mask_table(res).quoted() + " m JOIN " +
                             e.names.parcel.quoted() +
                             " p ON p.ogc_fid = m.pid WHERE i.band = $1 AND m.pid = $2)";
    auto s = e.schema.conn().exec_params(
        "SELECT coalesce((s).count, 0), (s).mean, (s).stddev, (s).min, (s).max FROM (SELECT "
        "ST_SummaryStats(" +
            clip + ", 1, true) AS s) x",
        band, pid);
    Stats out;
    out.count = s.real(0, 0);
    if (out.count == 0) {
        return out;
    }
    out.mean = s.real(0, 1);
    out.std = s.real(0, 2);
    out.min = s.real(0, 3);
    out.max = s.real(0, 4);
    auto q = e.schema.conn().exec_params(
        "SELECT value FROM ST_Quantile(" + clip +
            ", 1, true, ARRAY[0.25, 0.5, 0.75]::double precision[]) ORDER BY quantile",
        band, pid);
    REQUIRE(q.size() == 3);
    out.p25 = q.real(0, 0);
    out.p50 = q.real(1, 0);
    out.p75 = q.real(2, 0);
    return out;
}

} // namespace

TEST_CASE("extract: statistics and hists equal PostGIS's ST_SummaryStats, ST_Quantile and "
          "ST_Value over the same pixels",
          "[db][extract][postgis]") {
    require_server();
    Env e;
    auto ras = run({baims_binary(), "--progress", "never", "rasterize", "any", "--all-parcels",
                    "--db-config", e.config.string(), "--epsg", "32632", "--res", "10", "20"});
    INFO(ras.err);
    REQUIRE(ras.exit_code == 0);
    auto ext = e.extract({"--passes", "scl,10,20", "--bands-20", "B05,B11"});
    INFO(ext.err);
    REQUIRE(ext.exit_code == 0);
    auto& c = e.schema.conn();
    REQUIRE(c.exec("SELECT status FROM " + e.names.catalog.quoted()).text(0, 0) == "extracted");

    auto rows = c.exec("SELECT pid, trim(band), count, mean, std, min, max, p25, p50, p75 FROM " +
                       e.names.sigs.quoted() + " ORDER BY pid, band");
    std::map<std::pair<int, std::string>, Stats> ours;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto key = std::make_pair(int(rows.int64(i, 0)), rows.text(i, 1));
        REQUIRE(ours.count(key) == 0);
        ours[key] = Stats{rows.real(i, 2), rows.real(i, 3), rows.real(i, 4), rows.real(i, 5),
                          rows.real(i, 6), rows.real(i, 7), rows.real(i, 8), rows.real(i, 9)};
    }
    // pids 1..5 at both resolutions, pid 6 outside: 5 x (4 + 2) rows
    CHECK(ours.size() == 30);

    const std::map<std::string, std::string> selectors = {
        {"A (mask outline)", "ST_Polygon(m.rast)"},
        {"B (parcel geometry)", "ST_Transform(p.wkb_geometry, 32632)"}};
    std::size_t compared = 0;
    for (const auto& [route, selector] : selectors) {
        for (int res : {10, 20}) {
            for (const auto& band : res == 10 ? BANDS10 : BANDS20) {
                for (const auto& [pid, wkt] : PARCELS) {
                    INFO("route " << route << ", pid " << pid << ", band " << band);
                    const Stats pg = postgis_stats(e, res, band, pid, selector);
                    const auto it = ours.find({pid, band});
                    REQUIRE((pg.count > 0) == (it != ours.end()));
                    if (pg.count == 0) {
                        continue;
                    }
                    const Stats& b = it->second;
                    ++compared;
                    CHECK(b.count == pg.count);
                    CHECK(b.mean == Approx(pg.mean).epsilon(0).margin(real_ulp(pg.mean)));
                    CHECK(b.std == Approx(pg.std).epsilon(0).margin(real_ulp(pg.std)));
                    CHECK(b.min == pg.min);
                    CHECK(b.max == pg.max);
                    CHECK(b.p25 == pg.p25);
                    CHECK(b.p50 == pg.p50);
                    CHECK(b.p75 == pg.p75);
                }
            }
        }
    }
    CHECK(compared == 2 * 30);

    // hists: PostGIS' SCL value at the centroid of every selected mask pixel inside the image,
    // counted per class, as the byte-exact text baims writes.
    auto want = c.exec(
        "SELECT pid, '{' || string_agg(format('\"%s\": %s', v, n), ', ' ORDER BY v) || '}' FROM ("
        "SELECT m.pid, ST_Value(i.rast, 1, px.geom, false)::int AS v, count(*) AS n FROM " +
        e.mask_table(20).quoted() +
        " m CROSS JOIN LATERAL ST_PixelAsCentroids(m.rast, 1, true) px, " + e.images +
        " i WHERE i.band = 'SCL' AND ST_Intersects(i.rast::geometry, px.geom) AND px.val = 1"
        " GROUP BY 1, 2) x WHERE v IS NOT NULL GROUP BY pid ORDER BY pid");
    auto got = c.exec("SELECT pid, hist::text FROM " + e.names.hists.quoted() + " ORDER BY pid");
    REQUIRE(want.size() == 5);
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got.int64(i, 0) == want.int64(i, 0));
        CHECK(got.text(i, 1) == want.text(i, 1));
    }
}
