// `baims extract --selection jrc` against a real PostGIS: masks made exactly as the JRC how-to
// makes them (CREATE TABLE … AS SELECT ogc_fid pid, ST_AsRaster(ST_Transform(wkb_geometry,
// 32632), 10.0, 10.0, '8BUI') rast FROM parcels), so the south-up envelope rasters are PostGIS's
// own, not built here.
//
// Image (T32UNG name, EPSG:32632): UL (600000, 5000040), 128 x 128 px at 10 m, 64 x 64 at 20 m.
// Band i (B02=1, B03=2, B04=3, B08=4, B05=5, B11=6) at image column c, row r: 1000 i + 7 c + 13 r +
// 1, 0 in columns 40..43 at 10 m and 20..21 at 20 m. SCL: 3 + (3 c + r) % 6, 0 in columns 20..21.
// AOI (EPSG:4326, made from the EPSG:32632 box): x 600015.5 .. 600995.5, y 4999500.5 .. 4999994.5,
// so the stats window starts at image pixel (col 1, row 4) at 10 m, (0, 2) at 20 m, but the masks
// are mapped against (600015.5, 4999994.5).
//
// Worked out by hand (golden numbers below from numpy over the listed pixels):
// A = box 600053..600083 x 4999983..5000003 (3 x 2 px). PostGIS: 3 x 2 at ipX 600053, ipY
//   4999983 (south edge), all 1; JRC reads 0 1 1 / 1 1 1. drow = floor(11.5 / 10) = 1, dcol =
//   floor(37.5 / 10) = 3 → window (1,4) (1,5) (0,3) (0,4) (0,5) → image (row, col) (5,5) (5,6)
//   (4,4) (4,5) (4,6); the true pixels are rows 4..5 x cols 5..7. B02: 1101 1108 1081 1088 1095.
//   20 m: 2 x 1, JRC reads 0 1 → image (2, 2): B05 5041. SCL (against the image corner): drow
//   floor(57 / 20) = 2, dcol floor(53 / 20) = 2 → (2, 3): class 8.
// B = box 600020..600070 x 4999940..4999980 (5 x 4 px on the grid). JRC reads 0 1 1 1 1 / 1 1 1
//   1 1 / … → drow 5, dcol 0 → image row 9 cols 2..5, rows 8, 7, 6 cols 1..5 (19 px; the true
//   pixels are rows 6..9 x cols 2..6). 20 m: 3 x 2, → (4,1) (4,2) (3,0) (3,1) (3,2).
//   SCL: drow 5, dcol 1 → (5,2) (5,3) (4,1) (4,2) (4,3): classes 8 5 4 7 4.
// C = box 600405..600435 x 4999905..4999925 on the 0 columns: band 1 has 0s → no sigs row at
//   10 m or 20 m; its SCL pixel (6, 21) is class 0 only → no hists row.

#include "extract_fixture.hpp"

#include "baims/db/connection.hpp"
#include "baims/db/identifiers.hpp"
#include "baims/db/schema.hpp"
#include "baims/db/settings.hpp"

#include <catch2/catch.hpp>
#include <gdal.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace baims;
using namespace baims::test;
using namespace baims::test::extract;

namespace {

const std::string REF = "S2A_MSIL2A_20210615T103021_N0300_R108_T32UNG_20210615T134511.SAFE";
const std::string GRANULE = "L2A_T32UNG_A031234_20210615T103023";

std::uint16_t value(int i, int res, int c, int r) {
    if (res == 10 ? (c >= 40 && c <= 43) : (c >= 20 && c <= 21)) {
        return 0;
    }
    return static_cast<std::uint16_t>(1000 * i + 7 * c + 13 * r + 1);
}

void write_product(const fs::path& eodata) {
    for (int res : {10, 20}) {
        const int n = res == 10 ? 128 : 64;
        const fs::path dir = eodata / "Sentinel-2/MSI/L2A/2021/06/15" / REF / "GRANULE" / GRANULE /
                             "IMG_DATA" / ("R" + std::to_string(res) + "m");
        const std::map<std::string, int> bands =
            res == 10 ? std::map<std::string, int>{{"B02", 1}, {"B03", 2}, {"B04", 3}, {"B08", 4}}
                      : std::map<std::string, int>{{"B05", 5}, {"B11", 6}, {"SCL", 0}};
        for (const auto& [b, i] : bands) {
            std::vector<std::uint16_t> px(n * n);
            for (int r = 0; r < n; ++r) {
                for (int c = 0; c < n; ++c) {
                    px[r * n + c] =
                        i ? value(i, res, c, r)
                          : std::uint16_t((c >= 20 && c <= 21) ? 0 : 3 + (3 * c + r) % 6);
                }
            }
            write_jp2(dir / ("T32UNG_20210615T103021_" + b + "_" + std::to_string(res) + "m.jp2"),
                      n, res, px, i ? GDT_UInt16 : GDT_Byte, 0);
        }
    }
}

struct Env : ExtractEnv {
    Env()
        : ExtractEnv("extract jrc") {
        auto& conn = schema.conn();
        // The AOI in EPSG:4326 as JRC has it; transformed back, its extent is the box below to
        // within float precision, and every floor below is at least 0.15 px from an integer.
        conn.exec("INSERT INTO " + names.aoi.quoted() +
                  " VALUES ('parcels_2021', ST_Transform(ST_MakeEnvelope(600015.5, 4999500.5,"
                  " 600995.5, 4999994.5, 32632), 4326))");
        // As ogr2ogr loads parcels: ogc_fid serial, wkb_geometry.
        conn.exec("CREATE TABLE " + names.parcel.quoted() +
                  " (ogc_fid serial primary key, wkb_geometry geometry(MultiPolygon, 32632))");
        for (const char* box : {"600053, 4999983, 600083, 5000003",    // A, pid 1
                                "600020, 4999940, 600070, 4999980",    // B, pid 2
                                "600405, 4999905, 600435, 4999925"}) { // C, pid 3
            conn.exec("INSERT INTO " + names.parcel.quoted() +
                      " (wkb_geometry) VALUES (ST_Multi(ST_MakeEnvelope(" + box + ", 32632)))");
        }
        // The JRC how-to, verbatim apart from the names.
        for (int res : {10, 20}) {
            const auto t = mask_table(res);
            conn.exec("CREATE TABLE " + t.quoted() +
                      " AS SELECT ogc_fid pid, ST_AsRaster(ST_Transform(wkb_geometry, 32632), " +
                      std::to_string(res) + ".0, " + std::to_string(res) +
                      ".0, '8BUI') rast FROM " + names.parcel.quoted());
            conn.exec("ALTER TABLE " + t.quoted() + " ADD PRIMARY KEY (pid)");
        }
        conn.exec("INSERT INTO " + names.catalog.quoted() +
                  " (obstime, reference, sensor, card, status, footprint) VALUES ('2021-06-15"
                  " 10:30:21', '" +
                  REF +
                  "', '2A', 's2', 'ingested', ST_Transform(ST_MakeEnvelope(600000, 4998760,"
                  " 601280, 5000040, 32632), 4326))");
        set_args({{"name", "parcels_2021"}, {"aoi_field", "name"}});
        write_product(eodata);
    }

    RunResult extract(std::vector<std::string> extra) {
        std::vector<std::string> args{"--passes", "scl,10,20", "--bands-20", "B05,B11"};
        args.insert(args.end(), extra.begin(), extra.end());
        return ExtractEnv::extract(args);
    }

    // pid|band -> "count mean std min max p25 p50 p75" as stored (real printed as float).
    std::map<std::string, std::vector<float>> sigs() {
        auto r = schema.conn().exec("SELECT pid, trim(band), count, mean, std, min, max, p25, p50,"
                                    " p75 FROM " +
                                    names.sigs.quoted() + " ORDER BY pid, band");
        std::map<std::string, std::vector<float>> out;
        for (std::size_t i = 0; i < r.size(); ++i) {
            auto& v = out[r.text(i, 0) + "|" + r.text(i, 1)];
            for (std::size_t c = 2; c < 10; ++c) {
                v.push_back(float(r.real(i, c)));
            }
        }
        return out;
    }
};

} // namespace

TEST_CASE("extract --selection jrc: JRC's ST_AsRaster masks, byte-62 read, window-corner "
          "offsets, band-1 nodata rule, as stored",
          "[jrc]") {
    require_server();
    Env e;
    auto r = e.extract({"--selection", "jrc"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    // PostGIS made the masks south-up on each parcel's envelope (what the JRC reader assumes).
    auto m = e.schema.conn().exec(
        "SELECT ST_Width(rast), ST_Height(rast), ST_UpperLeftX(rast), ST_UpperLeftY(rast),"
        " ST_ScaleY(rast) FROM " +
        e.names.parcel.with_name("parcels_32632_10_rast").quoted() + " WHERE pid = 1");
    CHECK(m.text(0, 0) == "3");
    CHECK(m.text(0, 1) == "2");
    CHECK(m.real(0, 2) == 600053);
    CHECK(m.real(0, 3) == 4999983); // the south edge
    CHECK(m.real(0, 4) == 10);      // positive: rows go north

    using V = std::vector<float>;
    const std::map<std::string, V> want{
        {"1|B02", V{5, 1094.59998f, 9.47839642f, 1081, 1108, 1088, 1095, 1101}},
        {"1|B03", V{5, 2094.6001f, 9.47839642f, 2081, 2108, 2088, 2095, 2101}},
        {"1|B04", V{5, 3094.6001f, 9.47839642f, 3081, 3108, 3088, 3095, 3101}},
        {"1|B08", V{5, 4094.6001f, 9.47839642f, 4081, 4108, 4088, 4095, 4101}},
        {"1|B05", V{1, 5041, 0, 5041, 5041, 5041, 5041, 5041}},
        {"1|B11", V{1, 6041, 0, 6041, 6041, 6041, 6041, 6041}},
        {"2|B02", V{19, 1119.21057f, 17.9958439f, 1086, 1153, 1106.5, 1119, 1132.5}},
        {"2|B03", V{19, 2119.21045f, 17.9958439f, 2086, 2153, 2106.5, 2119, 2132.5}},
        {"2|B04", V{19, 3119.21045f, 17.9958439f, 3086, 3153, 3106.5, 3119, 3132.5}},
        {"2|B08", V{19, 4119.21045f, 17.9958439f, 4086, 4153, 4106.5, 4119, 4132.5}},
        {"2|B05", V{5, 5053.6001f, 9.47839642f, 5040, 5067, 5047, 5054, 5060}},
        {"2|B11", V{5, 6053.6001f, 9.47839642f, 6040, 6067, 6047, 6054, 6060}},
    };
    CHECK(e.sigs() == want); // pid 3 (C): band 1 has 0s, no row at all

    auto h = e.schema.conn().exec("SELECT pid, hist::text FROM " + e.names.hists.quoted() +
                                  " ORDER BY pid");
    REQUIRE(h.size() == 2); // C: only class 0
    CHECK(h.text(0, 0) == "1");
    CHECK(h.text(0, 1) == "{\"8\": 1}");
    CHECK(h.text(1, 0) == "2");
    CHECK(h.text(1, 1) == "{\"4\": 2, \"5\": 1, \"7\": 1, \"8\": 1}");
    CHECK(e.schema.conn().exec("SELECT status FROM " + e.names.catalog.quoted()).text(0, 0) ==
          "extracted");
}

TEST_CASE("extract --selection jrc: args.selection, a missing AOI and harmonized values", "[jrc]") {
    require_server();
    Env e;
    SECTION("args.selection: jrc in the db_config selects it too") {
        nlohmann::json j = nlohmann::json::parse(std::ifstream(e.config));
        j["database"]["args"]["selection"] = "jrc";
        std::ofstream(e.config) << j.dump();
        auto r = e.extract({});
        REQUIRE(r.exit_code == 0);
        CHECK(e.sigs().at("1|B02")[0] == 5);
    }
    SECTION("an AOI name not in the table: the image gets 'No extent'") {
        nlohmann::json j = nlohmann::json::parse(std::ifstream(e.config));
        j["database"]["args"] = {{"aoi_field", "name"}};
        std::ofstream(e.config) << j.dump();
        auto r = e.extract({"--selection", "jrc"});
        CHECK(r.exit_code == 8);
        CHECK(e.schema.conn().exec("SELECT status FROM " + e.names.catalog.quoted()).text(0, 0) ==
              "No extent");
    }
    SECTION("--values harmonized cannot be combined") {
        auto r = e.extract({"--selection", "jrc", "--values", "harmonized"});
        CHECK(r.exit_code == 2);
        CHECK(last_line(r.err) ==
              "baims extract: error: selection jrc reproduces the JRC extractor's DN; values "
              "harmonized cannot be combined with it. Use --values dn with --selection jrc");
    }
}

TEST_CASE("extract --compare jrc: both selections side by side, nothing claimed", "[jrc]") {
    require_server();
    Env e;
    const fs::path out = e.dir / "compare.csv";
    auto r = e.extract({"--compare", "jrc", "-o", out.string(), "--threshold", "5"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    // Exact pixels by hand: A = rows 4..5 x cols 5..7 at 10 m (B02 1088 1095 1102 / 1101 1108
    // 1115: mean 1101.5), (2, 3) at 20 m (B05 5048); B = rows 6..9 x cols 2..6 (20 px, B02 mean
    // 1001 + 7 * 4 + 13 * 7.5 = 1126.5). C: only 0s on both sides, no row.
    std::map<std::string, std::vector<std::string>> rows;
    std::ifstream in(out);
    std::string line;
    std::getline(in, line);
    CHECK(line == "pid,obsid,band,count_jrc,count_exact,count_diff,mean_jrc,mean_exact,mean_diff,"
                  "mean_diff_pct,std_jrc,std_exact,std_diff,p50_jrc,p50_exact,p50_diff");
    while (std::getline(in, line)) {
        std::vector<std::string> c;
        std::stringstream ss(line);
        for (std::string f; std::getline(ss, f, ',');) {
            c.push_back(f);
        }
        rows[c[0] + "|" + c[2]] = c;
    }
    CHECK(rows.size() == 12); // pids 1 and 2, B02 B03 B04 B08 B05 B11
    const auto& a = rows.at("1|B02");
    CHECK(a[3] == "5");
    CHECK(a[4] == "6");
    CHECK(a[5] == "1");
    CHECK(std::stof(a[6]) == 1094.59998f);
    CHECK(std::stod(a[7]) == 1101.5);
    CHECK(std::stod(a[9]) == Approx((1101.5 - double(1094.59998f)) / double(1094.59998f) * 100));
    const auto& a20 = rows.at("1|B05");
    CHECK(a20[3] == "1");
    CHECK(a20[4] == "1");
    CHECK(std::stod(a20[6]) == 5041);
    CHECK(std::stod(a20[7]) == 5048);
    const auto& b = rows.at("2|B02");
    CHECK(b[3] == "19");
    CHECK(b[4] == "20");
    CHECK(std::stod(b[7]) == 1126.5);
    // Summary: both parcels change their count (10 m: by 20 % and 5.3 %) and by more than 5 %.
    CHECK(r.out.find("2 parcels (pid, obsid) in both, 0 only in jrc, 0 only in exact") !=
          std::string::npos);
    CHECK(r.out.find("count differs in 2 (100.0 %) parcels, by more than 5 % in 2 (100.0 %)") !=
          std::string::npos);
    // Read-only: the image is still to do, no sigs row.
    CHECK(e.schema.conn().exec("SELECT status FROM " + e.names.catalog.quoted()).text(0, 0) ==
          "ingested");
    CHECK(e.sigs().empty());

    // Database output: the same rows in a table.
    const auto table = e.names.parcel.with_name("compare jrc");
    auto t = e.extract({"--compare", "jrc", "--compare-table", table.quoted()});
    REQUIRE(t.exit_code == 0);
    auto c =
        e.schema.conn().exec("SELECT count(*), sum(count_exact - count_jrc) FILTER (WHERE pid = 1"
                             " AND band = 'B02'), max(mean_exact) FILTER (WHERE pid = 2 AND"
                             " band = 'B02') FROM " +
                             table.quoted());
    CHECK(c.int64(0, 0) == 12);
    CHECK(c.real(0, 1) == 1);
    CHECK(c.real(0, 2) == 1126.5);
}
