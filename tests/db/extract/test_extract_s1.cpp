// `baims extract --card bs|c6`: Sentinel-1 CARD products generated with GDAL by s1_products.py
// (CARD-BS as ENVI Gamma0_VV/VH.img, CARD-COH6 as a 2-band GeoTIFF; float32 with 0 and NaN as no
// data), masks inserted as PostGIS raster WKB, the real binary against a throwaway PostgreSQL.
// Golden statistics: numpy (in s1_products.py) over the pixels read back with GDAL.

#include "extract_fixture.hpp"

#include "baims/db/connection.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;
using namespace baims;
using namespace baims::test;
using namespace baims::test::extract;

namespace {

struct S1Env : ExtractEnv {
    nlohmann::json golden;

    S1Env()
        : ExtractEnv("extract s1") {
        auto r =
            run({"/usr/bin/python3",
                 std::string(BAIMS_SOURCE_DIR "/tests/db/extract/s1_products.py"), dir.string()});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        golden = nlohmann::json::parse(r.out);
        for (int res : {10, 20}) {
            const auto table = mask_table(res);
            schema.conn().exec("CREATE TABLE " + table.quoted() +
                               " (pid int primary key, rast raster)");
            for (const auto& m : golden["masks"][std::to_string(res)]) {
                const int c0 = m["c0"], r0 = m["r0"], w = m["w"], h = m["h"];
                std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h), 1);
                for (const auto& hole : m["holes"]) {
                    px[static_cast<std::size_t>(int(hole[1]) * w + int(hole[0]))] = 0;
                }
                schema.conn().exec_params(
                    "INSERT INTO " + table.quoted() + " VALUES ($1, $2::raster)", int(m["pid"]),
                    raster_wkb_hex(w, h, res, ULX + c0 * res, ULY - r0 * res, 32632, 4, {0}, px));
            }
        }
    }

    std::string ref(const std::string& key) const { return golden["refs"][key]; }

    void add(const std::string& key, const std::string& card) {
        schema.conn().exec_params("INSERT INTO " + names.catalog.quoted() +
                                      " (obstime, reference, sensor, card) VALUES"
                                      " ('2021-06-16 05:32:37', $1, $2, $3)",
                                  ref(key), ref(key).substr(1, 2), card);
    }

    // The sigs rows of an image equal the golden ones: same (pid, band) set, every value.
    void check(const std::string& key) {
        const auto id = id_of(ref(key));
        auto rows = schema.conn().exec_params(
            "SELECT pid, band, count, mean, std, min, max, p25, p50, p75 FROM " +
                names.sigs.quoted() + " WHERE obsid = $1 ORDER BY pid, band",
            id);
        std::map<std::pair<int, std::string>, std::size_t> got;
        for (std::size_t i = 0; i < rows.size(); ++i) {
            auto k = std::make_pair(int(rows.int64(i, 0)), rows.text(i, 1));
            REQUIRE(got.count(k) == 0); // no duplicate
            got[k] = i;
        }
        const auto& want = golden["expected"][ref(key)];
        REQUIRE(rows.size() == want.size());
        for (const auto& w : want) {
            INFO(key << " pid " << w[0] << " band " << w[1]);
            auto it = got.find({int(w[0]), std::string(w[1])});
            REQUIRE(it != got.end());
            CHECK(rows.real(it->second, 2) == double(w[2]));
            for (int col = 3; col < 10; ++col) {
                const double v = w[col];
                CHECK(rows.real(it->second, col) == Approx(v).epsilon(0).margin(real_ulp(v)));
            }
        }
    }
};

} // namespace

TEST_CASE("extract: Sentinel-1 bs and c6 passes, every statistic equal to numpy, exactly once",
          "[db][extract][s1]") {
    require_server();
    S1Env e;
    e.add("bs", "bs");
    e.add("bs_pid", "bs");
    e.add("c6", "c6");
    // bs_pid is only where its productIdentifier says (under --eodata, not the JRC layout)
    for (const auto& [ref, path] : e.golden["product_identifier"].items()) {
        e.schema.conn().exec_params("INSERT INTO " + e.names.catalogue_extra.quoted() +
                                        " (reference, product_identifier) VALUES ($1, $2)",
                                    ref, std::string(path));
    }
    auto r = e.extract({"--card", "bs"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(e.status_of(e.ref("bs")) == "extracted");
    CHECK(e.status_of(e.ref("bs_pid")) == "extracted");
    CHECK(e.status_of(e.ref("c6")) == "ingested"); // another card
    e.check("bs");
    e.check("bs_pid");
    // one line per image and the summary (for cron)
    CHECK(r.err.find("obsid " + std::to_string(e.id_of(e.ref("bs"))) + " " + e.ref("bs") +
                     ": extracted, 8 rows, ") != std::string::npos);
    CHECK(r.err.find("extract: 2 images extracted, 0 without parcels, 0 failed; 16 rows in ") !=
          std::string::npos);

    // the progress bar (forced: stderr is not a terminal here) ends at 1/1 images
    r = run({baims_binary(), "--progress", "always", "--threads", "2", "extract", "--db-config",
             e.config.string(), "--eodata", e.eodata.string(), "--card", "c6"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("extract c6 [##############################] 100.0% 1/1 images") !=
          std::string::npos);
    CHECK(e.status_of(e.ref("c6")) == "extracted");
    e.check("c6");
    auto pass = e.schema.conn().exec_params("SELECT pass, status, rows FROM " +
                                                e.names.extraction.quoted() + " WHERE obsid = $1",
                                            e.id_of(e.ref("c6")));
    REQUIRE(pass.size() == 1);
    CHECK(pass.text(0, 0) == "c6");
    CHECK(pass.text(0, 1) == "extracted");
    CHECK(pass.int64(0, 2) == 7);

    // Rerun: rows of the earlier attempt replaced, none duplicated, the other card untouched.
    r = run({baims_binary(), "--progress", "never", "--log-format", "json", "extract",
             "--db-config", e.config.string(), "--eodata", e.eodata.string(), "--card", "bs",
             "--rerun-status", "extracted", "--workers", "2"});
    REQUIRE(r.exit_code == 0);
    // JSON log lines for cron: one per image done, and the summary
    int image_lines = 0;
    bool summary = false;
    std::istringstream lines(r.err);
    for (std::string line; std::getline(lines, line);) {
        const auto j = nlohmann::json::parse(line);
        const std::string msg = j.at("msg");
        image_lines += msg.find(": extracted, 8 rows, ") != std::string::npos;
        summary |=
            msg.rfind("extract: 2 images extracted, 0 without parcels, 0 failed; 16 rows", 0) == 0;
    }
    CHECK(image_lines == 2);
    CHECK(summary);
    e.check("bs");
    e.check("bs_pid");
    e.check("c6");
    CHECK(e.count(e.names.sigs) == 8 + 8 + 7);
}

TEST_CASE("extract: each Sentinel-1 failure gets its status and message, the others are extracted",
          "[db][extract][s1]") {
    require_server();
    S1Env e;
    for (const char* k : {"bs", "bs_novh", "bs_novv", "bs_gone", "bs_4326", "bs_shift"}) {
        e.add(k, "bs");
    }
    for (const char* k : {"c6", "c6_notif", "c6_bad"}) {
        e.add(k, "c6");
    }
    auto r = e.extract({"--card", "bs"});
    INFO(r.err);
    CHECK(r.exit_code == 8);
    auto r6 = e.extract({"--card", "c6"});
    INFO(r6.err);
    CHECK(r6.exit_code == 8);
    CHECK(e.status_of(e.ref("bs")) == "extracted");
    e.check("bs");
    CHECK(e.status_of(e.ref("bs_novh")) == "!S3 VH.img");
    CHECK(e.status_of(e.ref("bs_novv")) == "!S3 VV.img");
    CHECK(e.status_of(e.ref("bs_gone")) == "!S3 subdir");
    CHECK(e.status_of(e.ref("bs_4326")) == "Parcel SQL");
    CHECK(e.status_of(e.ref("bs_shift")) == "Rio error");
    CHECK(e.status_of(e.ref("c6")) == "extracted");
    e.check("c6");
    CHECK(e.status_of(e.ref("c6_notif")) == "!S3 .tif");
    CHECK(e.status_of(e.ref("c6_bad")) == "Rio error");
    CHECK(r.err.find("5 failed (!S3 VH.img 1, !S3 VV.img 1, !S3 subdir 1, Parcel SQL 1, Rio error "
                     "1); 8 rows") != std::string::npos);
    auto msg = [&](const std::string& key) {
        auto m = e.schema.conn().exec_params("SELECT message FROM " + e.names.extraction.quoted() +
                                                 " WHERE obsid = $1",
                                             e.id_of(e.ref(key)));
        REQUIRE(m.size() == 1);
        return m.text(0, 0);
    };
    CHECK(msg("bs_novh").find("no Gamma0_VH.img in ") != std::string::npos);
    CHECK(msg("bs_4326").find("is not in a WGS 84 / UTM zone CRS") != std::string::npos);
    CHECK(msg("c6_notif").find("no " + e.ref("c6_notif") + ".tif (nor any .tif) in ") !=
          std::string::npos);
    CHECK(msg("c6_bad").find("cannot read") != std::string::npos);
    CHECK(msg("bs_shift")
              .find("is not aligned with the mask grid (corner 600005.000000, "
                    "5000040.000000)") != std::string::npos);
    // failed images leave no rows
    CHECK(e.count(e.names.sigs) == 8 + 7);
}

TEST_CASE("extract: Sentinel-1 option errors", "[db][extract][s1]") {
    require_server();
    ExtractEnv e("extract s1 usage");
    auto r = e.extract({"--card", "bs", "--passes", "10"});
    CHECK(r.exit_code == 2);
    CHECK(r.err == "baims extract: error: --passes: pass '10' is not a pass of --card bs. The "
                   "Sentinel-1 CARD passes are bs (with --card bs) and c6 (with --card c6)\n");
    r = e.extract({"--passes", "c6"});
    CHECK(r.exit_code == 2);
    CHECK(r.err == "baims extract: error: --passes: unknown pass 'c6'. Pass c6 is a Sentinel-1 "
                   "CARD pass: use --card c6\n");
    r = e.extract({"--card", "c6", "--selection", "jrc"});
    CHECK(r.exit_code == 2);
    CHECK(r.err == "baims extract: error: selection jrc reproduces the JRC Sentinel-2 extractor; "
                   "it has no Sentinel-1 (--card c6) variant. Use --selection exact with --card "
                   "c6\n");
    r = e.extract({"--card", "bs", "--compare", "jrc", "-o", (e.dir / "c.csv").string()});
    CHECK(r.exit_code == 2);
    CHECK(r.err == "baims extract: error: --compare jrc compares the JRC Sentinel-2 extractor; "
                   "--card bs has no JRC selection. Use --card s2 with --compare jrc\n");
    r = e.extract({"--card", "c12"});
    CHECK(r.exit_code == 2);
    CHECK(r.err == "baims extract: error: --card c12 is not a card baims extract knows. Use --card "
                   "s2 (Sentinel-2 L2A), bs (Sentinel-1 CARD-BS) or c6 (Sentinel-1 CARD-COH6)\n");
}
