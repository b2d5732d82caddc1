// `baims extract` database mode: generated Sentinel-2 L2A SAFE products (lossless JP2 written
// with GDAL, values from a formula), masks inserted as PostGIS raster WKB built here, the real
// binary run against a throwaway PostgreSQL (tests/scripts/pg_tmp.sh).
//
// Pixel values: band i (B02=1, B03=2, B04=3, B08=4, B05=5, B11=6) at image column c, row r:
// 1000 i + 7 c + 13 r + 1, except columns 40..43 at 10 m (20..21 at 20 m) = 0 (no data).
// SCL at 20 m: 3 + (3 c + r) % 6, 0 in columns 20..21.
// Expected statistics: a plain sort + two-pass mean/std in long double here, and for parcel 1,
// band B02 the numbers worked out by hand (values 1028 1035 1041 1042 1048 1055):
// mean 1041.5, std sqrt(449.5 / 6) = 8.655441, p25 1035 + 0.25 * 6 = 1036.5, p50 1041.5,
// p75 1042 + 0.75 * 6 = 1046.5.

#include "extract_fixture.hpp"

#include "baims/db/connection.hpp"
#include "baims/db/identifiers.hpp"
#include "baims/db/schema.hpp"
#include "baims/db/settings.hpp"

#include <catch2/catch.hpp>
#include <gdal.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <signal.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace baims;
using namespace baims::test;
using namespace baims::test::extract;

namespace {

const std::string REF = "S2A_MSIL2A_20210615T103021_N0300_R108_T32UNG_20210615T134511.SAFE";
const std::string GRANULE = "L2A_T32UNG_A031234_20210615T103023";
constexpr int W10 = 128, W20 = 64;

int band_index(const std::string& b) {
    static const std::map<std::string, int> m{{"B02", 1}, {"B03", 2}, {"B04", 3},
                                              {"B08", 4}, {"B05", 5}, {"B11", 6}};
    return m.at(b);
}

std::uint16_t value(const std::string& band, int res, int c, int r) {
    if (res == 10 ? (c >= 40 && c <= 43) : (c >= 20 && c <= 21)) {
        return 0;
    }
    return static_cast<std::uint16_t>(1000 * band_index(band) + 7 * c + 13 * r + 1);
}

std::uint8_t scl(int c, int r) {
    return (c >= 20 && c <= 21) ? 0 : static_cast<std::uint8_t>(3 + (3 * c + r) % 6);
}

fs::path img_dir(const fs::path& eodata, const std::string& collection, const std::string& ref,
                 int res) {
    return eodata / "Sentinel-2/MSI" / collection / "2021/06/15" / ref / "GRANULE" / GRANULE /
           "IMG_DATA" / ("R" + std::to_string(res) + "m");
}

void write_product(const fs::path& eodata, const std::string& collection = "L2A",
                   const std::string& ref = REF) {
    for (const char* b : {"B02", "B03", "B04", "B08"}) {
        std::vector<std::uint16_t> px(W10 * W10);
        for (int r = 0; r < W10; ++r) {
            for (int c = 0; c < W10; ++c) {
                px[r * W10 + c] = value(b, 10, c, r);
            }
        }
        write_jp2(img_dir(eodata, collection, ref, 10) /
                      (std::string("T32UNG_20210615T103021_") + b + "_10m.jp2"),
                  W10, 10, px, GDT_UInt16);
    }
    for (const char* b : {"B05", "B11", "SCL"}) {
        std::vector<std::uint16_t> px(W20 * W20);
        for (int r = 0; r < W20; ++r) {
            for (int c = 0; c < W20; ++c) {
                px[r * W20 + c] = std::string(b) == "SCL" ? scl(c, r) : value(b, 20, c, r);
            }
        }
        write_jp2(img_dir(eodata, collection, ref, 20) /
                      (std::string("T32UNG_20210615T103021_") + b + "_20m.jp2"),
                  W20, 20, px, std::string(b) == "SCL" ? GDT_Byte : GDT_UInt16);
    }
}

// A parcel mask on image pixels: a rectangle [c0, c0 + w) x [r0, r0 + h) minus `holes`.
struct TestMask {
    int pid;
    int c0, r0, w, h;
    std::vector<std::pair<int, int>> holes; // (col, row) within the window, unselected
    bool selected(int c, int r) const {
        if (c < c0 || c >= c0 + w || r < r0 || r >= r0 + h) {
            return false;
        }
        return std::find(holes.begin(), holes.end(), std::make_pair(c - c0, r - r0)) == holes.end();
    }
};

// PostGIS raster WKB (little endian, 1 band 8BUI, nodata 0) of a mask on the image grid, hex.
std::string raster_hex(const TestMask& m, int res) {
    std::vector<std::uint8_t> px;
    for (int r = 0; r < m.h; ++r) {
        for (int c = 0; c < m.w; ++c) {
            px.push_back(m.selected(m.c0 + c, m.r0 + r) ? 1 : 0);
        }
    }
    return raster_wkb_hex(m.w, m.h, res, ULX + m.c0 * res, ULY - m.r0 * res, 32632, 4, {0}, px);
}

// Statistics over (DN + off) of the selected pixels with DN != 0 (nodata excluded before the
// shift).
std::optional<Expected> expected(const TestMask& m, const std::string& band, int res, int size,
                                 double off = 0) {
    std::vector<double> v;
    for (int r = 0; r < size; ++r) {
        for (int c = 0; c < size; ++c) {
            if (m.selected(c, r) && value(band, res, c, r) != 0) {
                v.push_back(value(band, res, c, r) + off);
            }
        }
    }
    return expected_stats(std::move(v));
}

std::optional<std::string> expected_hist(const TestMask& m) {
    std::map<int, int> counts;
    for (int r = 0; r < W20; ++r) {
        for (int c = 0; c < W20; ++c) {
            if (m.selected(c, r)) {
                ++counts[scl(c, r)];
            }
        }
    }
    if (counts.empty() || (counts.size() == 1 && counts.begin()->first == 0)) {
        return std::nullopt;
    }
    std::string s = "{";
    for (auto [k, n] : counts) {
        s += (s.size() > 1 ? ", \"" : "\"") + std::to_string(k) + "\": " + std::to_string(n);
    }
    return s + "}";
}

// Masks at 10 m (image 128 x 128, blocks 32) and 20 m (64 x 64).
const std::vector<TestMask> MASKS10 = {
    {1, 2, 1, 3, 2, {}},
    {2, 28, 28, 9, 7, {{3, 3}, {4, 3}, {3, 4}}}, // a hole, crossing block borders
    {3, -4, 30, 8, 5, {}},                       // partly west of the image
    {4, 40, 5, 4, 6, {}},                        // only no data: no row
    {5, 36, 50, 12, 4, {}},                      // across the no-data strip
    {6, 200, 10, 5, 5, {}},                      // outside the image: no row
};
const std::vector<TestMask> MASKS20 = {
    {1, 1, 0, 2, 2, {}},   {2, 29, 29, 5, 4, {{2, 1}}},
    {4, 20, 2, 2, 3, {}}, // only class 0 / no data: no row
    {5, 18, 25, 6, 2, {}}, {6, 100, 5, 3, 3, {}},
};

struct Env : ExtractEnv {
    Env()
        : ExtractEnv("extract") {
        for (int res : {10, 20}) {
            const auto table = mask_table(res);
            schema.conn().exec("CREATE TABLE " + table.quoted() +
                               " (pid int primary key, rast raster)");
            for (const auto& m : res == 10 ? MASKS10 : MASKS20) {
                schema.conn().exec_params("INSERT INTO " + table.quoted() +
                                              " VALUES ($1, $2::raster)",
                                          m.pid, raster_hex(m, res));
            }
        }
    }

    void add_image(const std::string& ref, const std::string& status = "ingested") {
        schema.conn().exec_params("INSERT INTO " + names.catalog.quoted() +
                                      " (obstime, reference, sensor, card, status) VALUES"
                                      " ('2021-06-15 10:30:21', $1, '2A', 's2', $2)",
                                  ref, status);
    }

    // An image with its obstime and footprint (WKT in EPSG:4326; empty: NULL footprint).
    void add_image_at(const std::string& ref, const std::string& obstime,
                      const std::string& footprint_wkt) {
        schema.conn().exec_params(
            "INSERT INTO " + names.catalog.quoted() +
                " (obstime, reference, sensor, card, status, footprint) VALUES ($1::timestamp, $2,"
                " '2A', 's2', 'ingested', ST_GeomFromText(NULLIF($3, ''), 4326))",
            obstime, ref, footprint_wkt);
    }

    RunResult extract(std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"--passes", "scl,10,20", "--bands-20", "B05,B11"};
        args.insert(args.end(), extra.begin(), extra.end());
        return ExtractEnv::extract(args);
    }
};

void check_sigs(Env& e, std::int64_t obsid, double off = 0) {
    auto rows = e.schema.conn().exec_params(
        "SELECT pid, trim(band), count, mean, std, min, max, p25, p50, p75 FROM " +
            e.names.sigs.quoted() + " WHERE obsid = $1 ORDER BY pid, band",
        obsid);
    std::map<std::pair<int, std::string>, std::size_t> got;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        auto key = std::make_pair(int(rows.int64(i, 0)), rows.text(i, 1));
        REQUIRE(got.count(key) == 0); // no duplicate
        got[key] = i;
    }
    std::size_t n = 0;
    for (auto [masks, res, bands, size] :
         {std::make_tuple(&MASKS10, 10, std::vector<std::string>{"B02", "B03", "B04", "B08"}, W10),
          std::make_tuple(&MASKS20, 20, std::vector<std::string>{"B05", "B11"}, W20)}) {
        for (const auto& m : *masks) {
            for (const auto& b : bands) {
                auto want = expected(m, b, res, size, off);
                auto it = got.find({m.pid, b});
                INFO("pid " << m.pid << " band " << b);
                REQUIRE(want.has_value() == (it != got.end()));
                if (!want) {
                    continue;
                }
                ++n;
                const std::size_t i = it->second;
                CHECK(rows.real(i, 2) == double(want->count));
                int col = 3;
                for (double w : {want->mean, want->std, want->min, want->max, want->p25, want->p50,
                                 want->p75}) {
                    CHECK(rows.real(i, col++) == Approx(w).epsilon(0).margin(real_ulp(w)));
                }
            }
        }
    }
    CHECK(n == rows.size());
    CHECK(n > 20);
}

void check_hists(Env& e, std::int64_t obsid) {
    auto rows = e.schema.conn().exec_params(
        "SELECT pid, hist::text FROM " + e.names.hists.quoted() + " WHERE obsid = $1 ORDER BY pid",
        obsid);
    std::map<int, std::string> got;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        REQUIRE(got.count(int(rows.int64(i, 0))) == 0);
        got[int(rows.int64(i, 0))] = rows.text(i, 1);
    }
    std::map<int, std::string> want;
    for (const auto& m : MASKS20) {
        if (auto h = expected_hist(m)) {
            want[m.pid] = *h;
        }
    }
    CHECK(got == want);
    CHECK(got.at(1) == "{\"3\": 1, \"4\": 1, \"6\": 1, \"7\": 1}"); // by hand: (3c + r) % 6
    CHECK(got.at(5).rfind("{\"0\": 4, ", 0) == 0);                  // class 0 kept when mixed
}

} // namespace

TEST_CASE("extract: every statistic and hist of a generated S2 product, exactly once",
          "[db][extract]") {
    require_server();
    Env e;
    write_product(e.eodata);
    e.add_image(REF);
    auto r = e.extract();
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto id = e.id_of(REF);
    CHECK(e.status_of(REF) == "extracted");
    check_sigs(e, id);
    check_hists(e, id);
    auto b02 =
        e.schema.conn().exec_params("SELECT count, mean, std, min, max, p25, p50, p75 FROM " +
                                    e.names.sigs.quoted() + " WHERE pid = 1 AND band = 'B02'");
    REQUIRE(b02.size() == 1);
    CHECK(b02.real(0, 0) == 6);
    CHECK(b02.real(0, 1) == 1041.5);
    CHECK(b02.real(0, 2) == Approx(std::sqrt(449.5 / 6)).epsilon(0).margin(real_ulp(8.655441)));
    CHECK(b02.real(0, 3) == 1028);
    CHECK(b02.real(0, 4) == 1055);
    CHECK(b02.real(0, 5) == 1036.5);
    CHECK(b02.real(0, 6) == 1041.5);
    CHECK(b02.real(0, 7) == 1046.5);
    auto passes = e.schema.conn().exec("SELECT pass, status, rows FROM " +
                                       e.names.extraction.quoted() + " ORDER BY pass");
    REQUIRE(passes.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(passes.text(i, 1) == "extracted");
    }
    const auto before =
        e.schema.conn().exec("SELECT count(*) FROM " + e.names.sigs.quoted()).int64(0, 0);

    SECTION("nothing left: a second run claims nothing") {
        auto again = e.extract();
        CHECK(again.exit_code == 0);
        CHECK(e.schema.conn().exec("SELECT count(*) FROM " + e.names.sigs.quoted()).int64(0, 0) ==
              before);
    }
    SECTION("--rerun-status extracted replaces the rows, no duplicate") {
        auto again = e.extract({"--rerun-status", "extracted"});
        INFO(again.err);
        CHECK(again.exit_code == 0);
        CHECK(e.schema.conn().exec("SELECT count(*) FROM " + e.names.sigs.quoted()).int64(0, 0) ==
              before);
        check_sigs(e, id);
        check_hists(e, id);
    }
}

TEST_CASE("extract: each failure gets its status and message, the others are extracted",
          "[db][extract]") {
    require_server();
    Env e;
    // ok, in the reprocessed collection (L2A_N0500)
    const std::string n0500 = "S2B_MSIL2A_20210615T103021_N0500_R108_T32UNG_20230101T000000.SAFE";
    write_product(e.eodata, "L2A_N0500", n0500);
    e.add_image(n0500);
    // product folder missing
    const std::string gone = "S2A_MSIL2A_20210615T103021_N0300_R108_T32UNH_20210615T134512.SAFE";
    e.add_image(gone);
    // B08 missing
    const std::string nob08 = "S2A_MSIL2A_20210615T103021_N0300_R108_T32UNF_20210615T134513.SAFE";
    write_product(e.eodata, "L2A", nob08);
    fs::remove(img_dir(e.eodata, "L2A", nob08, 10) / "T32UNG_20210615T103021_B08_10m.jp2");
    e.add_image(nob08);
    // corrupt B03: truncated within the tiles the parcels need (only those are read: a file
    // cut after them would be read without error)
    const std::string bad = "S2A_MSIL2A_20210615T103021_N0300_R108_T32UNE_20210615T134514.SAFE";
    write_product(e.eodata, "L2A", bad);
    {
        auto p = img_dir(e.eodata, "L2A", bad, 10) / "T32UNG_20210615T103021_B03_10m.jp2";
        fs::resize_file(p, fs::file_size(p) / 5);
    }
    e.add_image(bad);
    // zone 33: no mask table
    const std::string z33 = "S2A_MSIL2A_20210615T103021_N0300_R108_T33UUQ_20210615T134515.SAFE";
    write_product(e.eodata, "L2A", z33);
    e.add_image(z33);

    auto r = e.extract();
    INFO(r.err);
    CHECK(r.exit_code == 8);
    CHECK(e.status_of(n0500) == "extracted");
    check_sigs(e, e.id_of(n0500));
    CHECK(e.status_of(gone) == "!S3 subdir");
    CHECK(e.status_of(nob08) == "!S3 .jp2");
    CHECK(e.status_of(bad) == "Rio error");
    CHECK(e.status_of(z33) == "Parcel SQL");
    auto msg = e.schema.conn().exec_params("SELECT message FROM " + e.names.extraction.quoted() +
                                               " WHERE obsid = $1 AND status = 'Parcel SQL'",
                                           e.id_of(z33));
    REQUIRE(msg.size() == 1);
    CHECK(msg.text(0, 0).find("parcels_32633_") != std::string::npos);
    // a failed image leaves no rows of its failed pass
    CHECK(e.schema.conn()
              .exec_params("SELECT count(*) FROM " + e.names.sigs.quoted() +
                               " WHERE obsid = $1 AND band IN ('B02','B03','B04','B08')",
                           e.id_of(bad))
              .int64(0, 0) == 0);
}

TEST_CASE("extract: kill -9 mid-run then two worker processes: every image exactly once",
          "[db][extract]") {
    require_server();
    Env e;
    std::vector<std::string> refs;
    for (int i = 0; i < 6; ++i) {
        std::string ref = "S2A_MSIL2A_20210615T103021_N0300_R108_T32UNG_2021061" +
                          std::to_string(i) + "T134511.SAFE";
        write_product(e.eodata, "L2A", ref);
        e.add_image(ref);
        refs.push_back(ref);
    }
    // A worker killed at once after its first claim: its image stays inprogress under a lease.
    {
        std::vector<std::string> argv{
            baims_binary(),    "--progress", "never",           "extract",  "--db-config",
            e.config.string(), "--eodata",   e.eodata.string(), "--passes", "scl,10,20",
            "--bands-20",      "B05,B11",    "--lease",         "3"};
        Child child(argv);
        for (int i = 0; i < 200; ++i) {
            auto n = e.schema.conn()
                         .exec("SELECT count(*) FROM " + e.names.catalog.quoted() +
                               " WHERE status <> 'ingested'")
                         .int64(0, 0);
            if (n > 0) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        child.kill(SIGKILL);
        child.wait();
        // killed mid-run: its image is left claimed (this is what the lease recovers)
        CHECK(e.schema.conn()
                  .exec("SELECT count(*) FROM " + e.names.catalog.quoted() +
                        " WHERE status = 'inprogress'")
                  .int64(0, 0) == 1);
    }
    std::this_thread::sleep_for(std::chrono::seconds(4)); // the lease of 3 s expires
    // Two workers in two processes finish the job.
    std::vector<std::string> argv{
        baims_binary(), "--progress",  "never",           "--threads", "1",
        "extract",      "--db-config", e.config.string(), "--eodata",  e.eodata.string(),
        "--passes",     "scl,10,20",   "--bands-20",      "B05,B11"};
    Child a(argv), b(argv);
    auto ra = a.wait();
    auto rb = b.wait();
    INFO(ra.err << rb.err);
    CHECK(ra.exit_code == 0);
    CHECK(rb.exit_code == 0);
    for (const auto& ref : refs) {
        CHECK(e.status_of(ref) == "extracted");
        check_sigs(e, e.id_of(ref));
        check_hists(e, e.id_of(ref));
    }
}

namespace {
// Footprints (EPSG:4326): inside / outside the AOI square 10..11 E, 45..46 N.
const std::string AOI_WKT = "POLYGON((10 45,11 45,11 46,10 46,10 45))";
const std::string IN_AOI = "POLYGON((10.5 45.5,11.5 45.5,11.5 46.5,10.5 46.5,10.5 45.5))";
const std::string OUT_AOI = "POLYGON((12 45,13 45,13 46,12 46,12 45))";

void add_aoi(Env& e) {
    e.schema.conn().exec_params("INSERT INTO " + e.names.aoi.quoted() +
                                    " (name, wkb_geometry) VALUES ('other', ST_GeomFromText($1,"
                                    " 4326)), ('aoi_a', ST_GeomFromText($2, 4326))",
                                OUT_AOI, AOI_WKT);
    e.set_args({{"aoi_field", "name"},
                {"name", "aoi_a"},
                {"startdate", "2021-06-01"},
                {"enddate", "2021-07-01"}});
}
} // namespace

TEST_CASE("extract: only images of the configured AOI and date range are claimed",
          "[db][extract]") {
    require_server();
    Env e;
    write_product(e.eodata);
    add_aoi(e);
    e.add_image_at(REF, "2021-06-15 10:30:21", IN_AOI);
    // None of these may be claimed (their files do not exist: a claim would fail them).
    const std::vector<std::string> others = {
        "S2A_MSIL2A_20210615T103021_N0300_R108_T32UNG_20210615T134512.SAFE", // outside the AOI
        "S2A_MSIL2A_20210615T103021_N0300_R108_T32UNG_20210615T134513.SAFE", // no footprint
        "S2A_MSIL2A_20210531T103021_N0300_R108_T32UNG_20210531T134511.SAFE", // before startdate
        "S2A_MSIL2A_20210701T000000_N0300_R108_T32UNG_20210701T134511.SAFE", // = enddate
    };
    e.add_image_at(others[0], "2021-06-15 10:30:21", OUT_AOI);
    e.add_image_at(others[1], "2021-06-15 10:30:21", "");
    e.add_image_at(others[2], "2021-05-31 23:59:59", IN_AOI);
    e.add_image_at(others[3], "2021-07-01 00:00:00", IN_AOI);
    auto r = e.extract();
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(e.status_of(REF) == "extracted");
    for (const auto& o : others) {
        INFO(o);
        CHECK(e.status_of(o) == "ingested");
    }
    const auto id = e.id_of(REF);
    check_sigs(e, id);
    check_hists(e, id);
    CHECK(e.count(e.names.sigs) == 22);      // pids 1 2 3 5 x 4 bands + pids 1 2 5 x 2 bands
    CHECK(e.count(e.names.hists) == 3);      // pids 1 2 5 at 20 m
    CHECK(e.count(e.names.extraction) == 3); // 3 passes of REF only
    CHECK(
        e.schema.conn()
            .exec("SELECT count(*) FROM " + e.names.catalog.quoted() + " WHERE status = 'ingested'")
            .int64(0, 0) == 4);

    SECTION("--rerun-status does not re-queue images outside the AOI or dates") {
        e.schema.conn().exec("UPDATE " + e.names.catalog.quoted() +
                             " SET status = 'Rio error' WHERE status = 'ingested'");
        auto again = e.extract({"--rerun-status", "Rio error"});
        INFO(again.err);
        CHECK(again.exit_code == 0);
        CHECK(e.schema.conn()
                  .exec("SELECT count(*) FROM " + e.names.catalog.quoted() +
                        " WHERE status = 'Rio error'")
                  .int64(0, 0) == 4);
        CHECK(e.count(e.names.extraction) == 3);
    }

    SECTION("--rerun-status with a typo is refused before anything changes") {
        // Before: 'Rio eror' re-queued nothing and the run ended with exit 0.
        e.schema.conn().exec("UPDATE " + e.names.catalog.quoted() +
                             " SET status = 'Rio error' WHERE status = 'ingested'");
        const std::string want =
            "baims extract: error: --rerun-status 'Rio eror': no image of card s2 has this "
            "status, and baims sets no such status. Did you mean 'Rio error'? The statuses in " +
            e.names.catalog.quoted() + ": 'Rio error', 'extracted'";
        for (const bool dry : {false, true}) {
            INFO("dry run " << dry);
            auto bad = dry ? e.extract({"--rerun-status", "extracted,Rio eror", "--dry-run"})
                           : e.extract({"--rerun-status", "extracted,Rio eror"});
            CHECK(bad.exit_code == 2);
            CHECK(bad.err.find(want) != std::string::npos);
            CHECK(e.status_of(REF) == "extracted"); // not re-queued either
            CHECK(e.schema.conn()
                      .exec("SELECT count(*) FROM " + e.names.catalog.quoted() +
                            " WHERE status = 'Rio error'")
                      .int64(0, 0) == 4);
        }
        // A status baims sets that no image has (nothing to do), and one another tool set: taken.
        e.schema.conn().exec("UPDATE " + e.names.catalog.quoted() +
                             " SET status = 'legacy check' WHERE status = 'Rio error'");
        auto ok = e.extract({"--rerun-status", "No extent,legacy check", "--dry-run"});
        INFO(ok.err);
        CHECK(ok.exit_code == 0);
    }
}

TEST_CASE("extract: an image of the AOI with no parcel in its extent gets 'No parcels'",
          "[db][extract]") {
    require_server();
    Env e;
    write_product(e.eodata);
    add_aoi(e);
    for (int res : {10, 20}) {
        e.schema.conn().exec(
            "DELETE FROM " +
            e.names.parcel.with_name("parcels_32632_" + std::to_string(res) + "_rast").quoted());
    }
    e.set_args({{"name", "aoi_a"}, {"startdate", "2021-06-15 10:30:21"}}); // inclusive
    e.add_image_at(REF, "2021-06-15 10:30:21", IN_AOI);
    auto r = e.extract();
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(e.status_of(REF) == "No parcels");
    CHECK(e.count(e.names.sigs) == 0);
    CHECK(e.count(e.names.hists) == 0);
}

TEST_CASE("extract: a band the 20 m folder does not have is refused before any claim",
          "[db][extract]") {
    // Before: every claimed image failed with '!S3 .jp2' (and needed --rerun-status).
    require_server();
    Env e;
    write_product(e.eodata);
    e.add_image(REF);
    auto r = e.extract({"--passes", "scl,10,20", "--bands-20", "B05,B8a"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("baims extract: error: --bands-20: 'B8a' is not a band of a Sentinel-2 L2A "
                     "product at 20 m. Did you mean 'B8A'? The 20 m bands: AOT, B01, B02, B03, "
                     "B04, B05, B06, B07, B8A, B11, B12, SCL, WVP") != std::string::npos);
    r = e.extract({"--passes", "20", "--bands-20", "B08"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--bands-20: 'B08' is not a band of a Sentinel-2 L2A product at 20 m. It is "
                     "a 10 m band.") != std::string::npos);
    CHECK(e.status_of(REF) == "ingested");
    CHECK(e.count(e.names.extraction) == 0);
}

TEST_CASE("extract: --obsid of an image the run will not take says so", "[db][extract]") {
    // Before: an id typed wrong, or an image already extracted, gave '0 images extracted', exit 0.
    require_server();
    Env e;
    write_product(e.eodata);
    e.add_image(REF);
    const auto id = e.id_of(REF);
    const std::string wrong = std::to_string(id + 1000);
    auto r = e.extract({"--obsid", wrong});
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("baims extract: error: --obsid " + wrong + ": no image has this id in " +
                     e.names.catalog.quoted() + ". Check the id") != std::string::npos);
    r = e.ExtractEnv::extract({"--obsid", std::to_string(id), "--card", "bs"});
    INFO(r.err);
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("--obsid " + std::to_string(id) +
                     ": the image is of card 's2', not 'bs'. Give --card s2") != std::string::npos);
    CHECK(e.status_of(REF) == "ingested");
    r = e.extract({"--obsid", std::to_string(id)});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(e.status_of(REF) == "extracted");
    r = e.extract({"--obsid", std::to_string(id)});
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("warning: extract: image " + std::to_string(id) +
                     " has status 'extracted': it is not claimed. Add --rerun-status 'extracted' "
                     "to redo it") != std::string::npos);
    r = e.extract({"--obsid", std::to_string(id), "--rerun-status", "extracted"});
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("it is not claimed") == std::string::npos);
    CHECK(r.err.find("1 images re-queued") != std::string::npos);
}

TEST_CASE("extract: a missing AOI is refused with a clear error", "[db][extract]") {
    require_server();
    Env e;
    e.add_image(REF);
    e.set_args({{"name", "nowhere"}});
    auto r = e.extract();
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("baims extract: error: AOI 'nowhere' not found in ") != std::string::npos);
    CHECK(e.status_of(REF) == "ingested");
}

namespace {
// A minimal MTD_MSIL2A.xml: the baseline and, for >= 04.00, the BOA offsets of all 13 bands.
void write_mtd(const fs::path& safe, const std::string& baseline, int offset) {
    std::ofstream f(safe / "MTD_MSIL2A.xml");
    f << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<n1:Level-2A_User_Product>\n"
         "<n1:General_Info><Product_Info><PROCESSING_BASELINE>"
      << baseline << "</PROCESSING_BASELINE></Product_Info>\n";
    if (offset != 0) {
        f << "<Product_Image_Characteristics><BOA_ADD_OFFSET_VALUES_LIST>\n";
        for (int b = 0; b < 13; ++b) {
            f << "<BOA_ADD_OFFSET band_id=\"" << b << "\">" << offset << "</BOA_ADD_OFFSET>\n";
        }
        f << "</BOA_ADD_OFFSET_VALUES_LIST></Product_Image_Characteristics>\n";
    }
    f << "</n1:General_Info>\n</n1:Level-2A_User_Product>\n";
}
} // namespace

TEST_CASE("extract: --values harmonized subtracts the BOA offset of baselines >= 04.00 only",
          "[db][extract]") {
    require_server();
    Env e;
    const std::string REF5 = "S2A_MSIL2A_20210615T103021_N0509_R108_T32UNG_20210615T134511.SAFE";
    write_product(e.eodata);
    write_product(e.eodata, "L2A", REF5);
    const auto dir = e.eodata / "Sentinel-2/MSI/L2A/2021/06/15";
    write_mtd(dir / REF, "03.00", 0);
    write_mtd(dir / REF5, "05.09", -1000);
    e.add_image(REF);
    e.add_image(REF5);
    SECTION("--values harmonized") {
        auto r = e.extract({"--values", "harmonized"});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        check_sigs(e, e.id_of(REF), 0);
        check_sigs(e, e.id_of(REF5), -1000);
        auto b02 = e.schema.conn().exec_params("SELECT count, mean, min, max, p50 FROM " +
                                                   e.names.sigs.quoted() +
                                                   " WHERE pid = 1 AND band = 'B02' AND obsid = $1",
                                               e.id_of(REF5));
        REQUIRE(b02.size() == 1);
        CHECK(b02.real(0, 0) == 6);
        CHECK(b02.real(0, 1) == 41.5); // 1041.5 - 1000
        CHECK(b02.real(0, 2) == 28);
        CHECK(b02.real(0, 3) == 55);
        CHECK(b02.real(0, 4) == 41.5);
    }
    SECTION("args.values: harmonized in the db_config") {
        e.set_args({{"values", "harmonized"}});
        auto r = e.extract();
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        check_sigs(e, e.id_of(REF5), -1000);
    }
    SECTION("dn (default) keeps the stored DN") {
        auto r = e.extract();
        REQUIRE(r.exit_code == 0);
        check_sigs(e, e.id_of(REF5), 0);
    }
}

TEST_CASE("extract: 4 concurrent worker processes over 8 images: every (image, pass) once",
          "[db][extract]") {
    require_server();
    Env e;
    std::vector<std::string> refs;
    for (int i = 0; i < 8; ++i) {
        std::string ref = "S2A_MSIL2A_20210615T103021_N0300_R108_T32UNG_2021061" +
                          std::to_string(i) + "T134511.SAFE";
        write_product(e.eodata, "L2A", ref);
        e.add_image(ref);
        refs.push_back(ref);
    }
    std::vector<std::string> argv{
        baims_binary(), "--progress",  "never",           "--threads", "1",
        "extract",      "--db-config", e.config.string(), "--eodata",  e.eodata.string(),
        "--passes",     "scl,10,20",   "--bands-20",      "B05,B11"};
    std::vector<std::unique_ptr<Child>> children;
    for (int i = 0; i < 4; ++i) {
        children.push_back(std::make_unique<Child>(argv));
    }
    std::size_t claims = 0;
    for (auto& c : children) {
        auto r = c->wait();
        INFO(r.err);
        CHECK(r.exit_code == 0);
        for (std::size_t at = r.err.find(" claimed"); at != std::string::npos;
             at = r.err.find(" claimed", at + 1)) {
            ++claims;
        }
    }
    CHECK(claims == 8); // each image claimed by exactly one process, once
    for (const auto& ref : refs) {
        CHECK(e.status_of(ref) == "extracted");
        check_sigs(e, e.id_of(ref));
        check_hists(e, e.id_of(ref));
    }
    CHECK(e.count(e.names.sigs) == 8 * 22);
    CHECK(e.count(e.names.hists) == 8 * 3);
    CHECK(e.schema.conn()
              .exec("SELECT count(*) FROM (SELECT DISTINCT pid, obsid, band FROM " +
                    e.names.sigs.quoted() + ") d")
              .int64(0, 0) == 8 * 22);
    CHECK(e.schema.conn()
              .exec("SELECT count(*), count(DISTINCT (obsid, pass)) FROM " +
                    e.names.extraction.quoted() + " WHERE status = 'extracted'")
              .int64(0, 1) == 8 * 3);
    CHECK(e.count(e.names.extraction) == 8 * 3);
}

TEST_CASE("extract: the worker's connections terminated mid-run: exit 6, nothing half-written, "
          "a rerun completes",
          "[db][extract]") {
    require_server();
    Env e;
    std::vector<std::string> refs;
    for (int i = 0; i < 8; ++i) {
        std::string ref = "S2A_MSIL2A_20210615T103021_N0300_R108_T32UNG_2021061" +
                          std::to_string(i) + "T134511.SAFE";
        write_product(e.eodata, "L2A", ref);
        e.add_image(ref);
        refs.push_back(ref);
    }
    const std::string app = "baims-extract-fault-" + e.schema.name();
    std::vector<std::string> argv{baims_binary(),
                                  "--progress",
                                  "never",
                                  "--threads",
                                  "1",
                                  "extract",
                                  "--db-config",
                                  e.config.string(),
                                  "--eodata",
                                  e.eodata.string(),
                                  "--passes",
                                  "scl,10,20",
                                  "--bands-20",
                                  "B05,B11",
                                  "--lease",
                                  "3"};
    Child child(argv, {{"PGAPPNAME", app}});
    for (int i = 0; i < 500; ++i) {
        if (e.schema.conn()
                .exec_params("SELECT count(*) FROM " + e.names.extraction.quoted() +
                             " WHERE status = 'extracted'")
                .int64(0, 0) > 0) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    e.schema.conn().exec_params("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                " WHERE application_name = $1",
                                app);
    auto r = child.wait();
    INFO(r.err);
    CHECK(r.exit_code == 6);
    // "baims extract: error: [<step>: ]lost the connection to …" or "…: terminating connection
    // due to administrator command (SQLSTATE 57P01)", depending on where the worker was.
    CHECK(r.err.find("baims extract: error: ") != std::string::npos);
    CHECK(r.err.find("Nothing of the unfinished transaction was kept; rerun is safe") !=
          std::string::npos);
    // All-or-nothing per (image, pass): 0 or all rows of each pass of each image.
    auto per = e.schema.conn().exec(
        "SELECT d.id, (SELECT count(*) FROM " + e.names.sigs.quoted() +
        " s WHERE s.obsid = d.id AND s.band IN ('B02','B03','B04','B08')), (SELECT count(*) FROM " +
        e.names.sigs.quoted() +
        " s WHERE s.obsid = d.id AND s.band IN ('B05','B11')),"
        " (SELECT count(*) FROM " +
        e.names.hists.quoted() + " h WHERE h.obsid = d.id) FROM " + e.names.catalog.quoted() +
        " d ORDER BY d.id");
    REQUIRE(per.size() == 8);
    std::int64_t done = 0;
    for (std::size_t i = 0; i < per.size(); ++i) {
        INFO("obsid " << per.int64(i, 0));
        CHECK((per.int64(i, 1) == 0 || per.int64(i, 1) == 16));
        CHECK((per.int64(i, 2) == 0 || per.int64(i, 2) == 6));
        CHECK((per.int64(i, 3) == 0 || per.int64(i, 3) == 3));
        done += per.int64(i, 1) / 16;
    }
    CHECK(done < 8);                                      // the run was interrupted
    std::this_thread::sleep_for(std::chrono::seconds(4)); // its leases (3 s) expire
    auto again = run(argv);
    INFO(again.err);
    CHECK(again.exit_code == 0);
    for (const auto& ref : refs) {
        CHECK(e.status_of(ref) == "extracted");
        check_sigs(e, e.id_of(ref));
        check_hists(e, e.id_of(ref));
    }
    CHECK(e.count(e.names.sigs) == 8 * 22);
    CHECK(e.count(e.names.hists) == 8 * 3);
    CHECK(e.count(e.names.extraction) == 8 * 3);
}

namespace {

// A role of the throwaway server for one test case, dropped (with its privileges) at the end.
struct TempRole {
    db::Connection& conn;
    std::string name;
    TempRole(db::Connection& c, const std::string& n, const std::string& schema_quoted)
        : conn(c)
        , name(n) {
        conn.exec("DROP ROLE IF EXISTS " + db::quote_ident(name));
        conn.exec("CREATE ROLE " + db::quote_ident(name) + " LOGIN");
        conn.exec("GRANT USAGE ON SCHEMA " + schema_quoted + " TO " + db::quote_ident(name));
        conn.exec("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema_quoted +
                  " TO " + db::quote_ident(name));
        conn.exec("GRANT USAGE ON ALL SEQUENCES IN SCHEMA " + schema_quoted + " TO " +
                  db::quote_ident(name));
    }
    ~TempRole() {
        try {
            conn.exec("DROP OWNED BY " + db::quote_ident(name));
            conn.exec("DROP ROLE " + db::quote_ident(name));
        } catch (...) {
        }
    }
};

// Waits (up to 60 s) until `sql` (a count, parameter $1 = the application name) is non-zero.
bool wait_for(db::Connection& conn, const std::string& sql, const std::string& app) {
    for (int i = 0; i < 1200; ++i) {
        if (conn.exec_params(sql, app).int64(0, 0) > 0) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

// Two worker processes whose interleaving the test controls, without sleeps: worker B (its own
// role) reads the catalogue only while the test lets it (a row-security policy of B's role waits
// on an advisory lock the test holds), worker A reads the parcel masks only while the test lets
// it, i.e. A waits right after its claim has committed.
struct Race {
    Env& e;
    std::string tag = std::to_string(::getpid());
    TempRole a{e.schema.conn(), "baims_race_a_" + tag, e.schema.quoted()};
    TempRole b{e.schema.conn(), "baims_race_b_" + tag, e.schema.quoted()};
    std::int64_t gate_a = 7001000 + ::getpid(), gate_b = 7002000 + ::getpid();
    db::Connection holder = connect();
    std::string app_a = "baims-race-a-" + tag, app_b = "baims-race-b-" + tag;

    explicit Race(Env& env)
        : e(env) {
        auto& c = e.schema.conn();
        const std::string gate = e.schema.table("gate");
        c.exec("CREATE FUNCTION " + gate +
               "(k bigint) RETURNS boolean LANGUAGE plpgsql VOLATILE AS"
               " $$ BEGIN PERFORM pg_advisory_xact_lock_shared(k); RETURN true; END $$");
        const std::string ra = db::quote_ident(a.name), rb = db::quote_ident(b.name);
        const std::string cat = e.names.catalog.quoted();
        c.exec("ALTER TABLE " + cat + " ENABLE ROW LEVEL SECURITY");
        c.exec("CREATE POLICY b_all ON " + cat + " FOR ALL TO " + rb + " USING (" + gate + "(" +
               std::to_string(gate_b) + ")) WITH CHECK (true)");
        c.exec("CREATE POLICY a_all ON " + cat + " FOR ALL TO " + ra +
               " USING (true) WITH CHECK (true)");
        for (int res : {10, 20}) {
            const auto masks =
                e.names.parcel.with_name("parcels_32632_" + std::to_string(res) + "_rast").quoted();
            c.exec("ALTER TABLE " + masks + " ENABLE ROW LEVEL SECURITY");
            c.exec("CREATE POLICY a_sel ON " + masks + " FOR SELECT TO " + ra + " USING (" + gate +
                   "(" + std::to_string(gate_a) + "))");
            c.exec("CREATE POLICY b_sel ON " + masks + " FOR SELECT TO " + rb + " USING (true)");
        }
        holder.exec("SELECT pg_advisory_lock(" + std::to_string(gate_a) + "), pg_advisory_lock(" +
                    std::to_string(gate_b) + ")");
    }

    std::vector<std::string> argv(std::vector<std::string> extra = {}) const {
        std::vector<std::string> v{
            baims_binary(), "--progress",  "never",           "--threads", "1",
            "extract",      "--db-config", e.config.string(), "--eodata",  e.eodata.string(),
            "--passes",     "scl,10,20",   "--bands-20",      "B05,B11"};
        v.insert(v.end(), extra.begin(), extra.end());
        return v;
    }
    std::map<std::string, std::string> env_a() const {
        return {{"PGUSER", a.name}, {"PGAPPNAME", app_a}};
    }
    std::map<std::string, std::string> env_b() const {
        return {{"PGUSER", b.name}, {"PGAPPNAME", app_b}};
    }
    // True once the worker with this application name waits at its gate.
    bool waiting(const std::string& app, const std::string& query_like = "%") {
        return wait_for(holder,
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND"
                        " wait_event_type = 'Lock' AND wait_event = 'advisory' AND query LIKE '" +
                            query_like + "'",
                        app);
    }
    void open_b() { holder.exec("SELECT pg_advisory_unlock(" + std::to_string(gate_b) + ")"); }
    void open_a() { holder.exec("SELECT pg_advisory_unlock(" + std::to_string(gate_a) + ")"); }
};

std::size_t claims_in(const std::string& err) {
    std::size_t n = 0;
    for (auto at = err.find(" claimed"); at != std::string::npos;
         at = err.find(" claimed", at + 1)) {
        ++n;
    }
    return n;
}

} // namespace

// The claim race the CI run of 2026-12-01 hit (9 claims for 8 images): worker B's claim statement
// takes its snapshot, worker A claims the same image and commits, then B locks the row. Under READ
// COMMITTED PostgreSQL re-checks the locked row's new version (`inprogress`), but the lease
// sub-query still reads B's old snapshot (no lease yet), so B claimed the image a second time.
TEST_CASE("extract: a claim that raced another worker's commit is let go, never taken twice",
          "[db][extract]") {
    require_server();
    Env e;
    write_product(e.eodata);
    e.add_image(REF);
    Race race(e);
    // B's claim statement has its snapshot and waits inside its scan of the catalogue
    Child b(race.argv(), race.env_b());
    REQUIRE(race.waiting(race.app_b, "%SKIP LOCKED%"));
    // A claims the image, commits, and waits before reading the masks (the image stays claimed)
    Child a(race.argv(), race.env_a());
    REQUIRE(race.waiting(race.app_a));
    race.open_b();
    auto rb = b.wait();
    INFO(rb.err);
    CHECK(rb.exit_code == 0);
    CHECK(claims_in(rb.err) == 0);
    race.open_a();
    auto ra = a.wait();
    INFO(ra.err);
    CHECK(ra.exit_code == 0);
    CHECK(claims_in(ra.err) == 1);
    CHECK(e.status_of(REF) == "extracted");
    check_sigs(e, e.id_of(REF));
    check_hists(e, e.id_of(REF));
    CHECK(e.count(e.names.extraction) == 3);
}

// The same race in the operator's re-queue: an image left `inprogress` by a dead worker (leases
// expired) is claimed again by worker A while `extract --rerun-status inprogress` runs; the
// re-queue must see A's new leases and leave the image alone, else both would extract it.
TEST_CASE("extract: --rerun-status inprogress does not re-queue an image a worker just claimed",
          "[db][extract]") {
    require_server();
    Env e;
    write_product(e.eodata);
    e.add_image(REF, "inprogress");
    const auto id = e.id_of(REF);
    for (const char* pass : {"scl", "10", "20"}) {
        e.schema.conn().exec_params(
            "INSERT INTO " + e.names.extraction.quoted() +
                " (obsid, pass, status, worker, lease_until, started) VALUES ($1, $2, 'inprogress',"
                " 'dead:1:0', now() - interval '1 hour', now() - interval '2 hours')",
            id, std::string(pass));
    }
    Race race(e);
    Child b(race.argv({"--rerun-status", "inprogress"}), race.env_b());
    REQUIRE(race.waiting(race.app_b));
    Child a(race.argv(), race.env_a());
    REQUIRE(race.waiting(race.app_a));
    race.open_b();
    auto rb = b.wait();
    INFO(rb.err);
    CHECK(rb.exit_code == 0);
    CHECK(rb.err.find(" 0 images re-queued") != std::string::npos);
    CHECK(claims_in(rb.err) == 0);
    race.open_a();
    auto ra = a.wait();
    INFO(ra.err);
    CHECK(ra.exit_code == 0);
    CHECK(claims_in(ra.err) == 1);
    CHECK(e.status_of(REF) == "extracted");
    check_sigs(e, id);
    check_hists(e, id);
    CHECK(e.count(e.names.extraction) == 3);
}

TEST_CASE("extract: --create-tables with --dry-run creates nothing; without, the missing tables",
          "[db][extract]") {
    require_server();
    Env e;
    e.schema.conn().exec("DROP TABLE " + e.names.sigs.quoted() + ", " + e.names.hists.quoted());
    auto exists = [&](const db::QualifiedName& t) {
        return !e.schema.conn()
                    .exec_params("SELECT to_regclass($1)::text", t.quoted())
                    .is_null(0, 0);
    };
    auto dry = run({baims_binary(), "--progress", "never", "--dry-run", "extract", "--db-config",
                    e.config.string(), "--create-tables"});
    INFO(dry.err);
    CHECK(dry.exit_code == 0);
    CHECK(dry.err.find("dry run: missing tables would be created") != std::string::npos);
    CHECK_FALSE(exists(e.names.sigs));
    CHECK_FALSE(exists(e.names.hists));
    auto real = run({baims_binary(), "--progress", "never", "extract", "--db-config",
                     e.config.string(), "--create-tables"});
    INFO(real.err);
    CHECK(real.exit_code == 0);
    CHECK(exists(e.names.sigs));
    CHECK(exists(e.names.hists));
}
