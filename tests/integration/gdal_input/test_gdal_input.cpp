// The `geotiff` and `sentinel2-l2a` input kinds through io::open_input, on fixtures written by
// make_fixtures.py (GDAL Python). The values every slab must hold were computed there with numpy
// from GDAL's own reads (nodata -> NaN, raw * scale + offset; (DN + BOA_ADD_OFFSET) / 10000), so
// the comparison is bit for bit.
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include "baims/core/error.hpp"
#include "baims/grid/time.hpp"
#include "baims/io/gdal.hpp"
#include "baims/io/input.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using baims::ConfigError;
using baims::InputError;
using baims::io::LatLonAxes;
using baims::io::open_input;
using baims::io::ProjectedAxes;
using baims::test::TempDir;
using nlohmann::json;

namespace {

const std::string SAFE_NAME = "S2B_MSIL2A_20230601T100559_N0509_R022_T33UUQ_20230601T131500.SAFE";

// The fixtures of one kind, written once per test process.
const fs::path& fixtures(const std::string& kind) {
    static baims::io::gdal::Session session;
    static TempDir dir;
    static std::map<std::string, fs::path> made;
    auto it = made.find(kind);
    if (it == made.end()) {
        const auto out = dir.path() / kind;
        const auto r = baims::test::run({"/usr/bin/python3", BAIMS_GDAL_FIXTURES, kind, out});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        it = made.emplace(kind, out).first;
    }
    return it->second;
}

std::vector<float> load_f32(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in);
    std::vector<float> v(fs::file_size(p) / sizeof(float));
    in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
    return v;
}

// Number of cells that differ (NaN equals NaN); also counts the NaN of `want`.
size_t mismatches(const std::vector<float>& got, const std::vector<float>& want, size_t& nans) {
    REQUIRE(got.size() == want.size());
    size_t bad = 0;
    nans = 0;
    for (size_t k = 0; k < got.size(); ++k) {
        if (std::isnan(want[k])) {
            ++nans;
            bad += std::isnan(got[k]) ? 0 : 1;
        } else {
            bad += std::memcmp(&got[k], &want[k], sizeof(float)) == 0 ? 0 : 1;
        }
    }
    return bad;
}

std::vector<float> read_all(const baims::io::Input& in, const std::string& var) {
    std::vector<float> v(rows(in.geometry()) * cols(in.geometry()), -12345.0f);
    in.read(var, 0, v.data());
    return v;
}

template <typename E, typename F> std::string error_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    FAIL("no error of the expected class thrown");
    return {};
}

double day(long long y, unsigned m, unsigned d) {
    return static_cast<double>(baims::grid::time::days_from_civil(y, m, d));
}

} // namespace

TEST_CASE("geotiff: a UTM series, time from the file name", "[io][geotiff]") {
    const auto& dir = fixtures("geotiff");
    const char* dates[] = {"20230601", "20230602", "20230603"};
    for (int k = 0; k < 3; ++k) {
        const auto file = dir / ("sst_" + std::string(dates[k]) + "_utm.tif");
        const auto in = open_input("geotiff", file, json{{"time_pattern", "%Y%m%d"}});
        CHECK(in->path() == file);
        const auto* g = std::get_if<ProjectedAxes>(&in->geometry());
        REQUIRE(g != nullptr);
        CHECK(g->crs == "EPSG:32633");
        CHECK(g->name == "WGS 84 / UTM zone 33N");
        REQUIRE(g->x.size() == 40);
        REQUIRE(g->y.size() == 30);
        CHECK(g->x.front() == 400050.0);
        CHECK(g->x.back() == 403950.0);
        CHECK(g->y.front() == 5599950.0);
        CHECK(g->y.back() == 5597050.0);
        REQUIRE(in->steps().size() == 1);
        CHECK(in->steps()[0].time == day(2023, 6, 1) + k);
        REQUIRE(in->variables().size() == 2);
        CHECK(in->variables()[0].name == "red");
        CHECK(in->variables()[1].name == "nir");
        CHECK(in->variables()[0].nc_type == "short");
        CHECK_FALSE(in->variables()[0].integer); // scaled
        for (int b = 1; b <= 2; ++b) {
            const auto want = load_f32(
                dir / ("sst_" + std::string(dates[k]) + "_utm.b" + std::to_string(b) + ".f32"));
            size_t nans = 0;
            CHECK(mismatches(read_all(*in, b == 1 ? "red" : "nir"), want, nans) == 0);
            CHECK(nans > 50); // the nodata cells are there
        }
    }
}

TEST_CASE("geotiff: band names from `bands`, hours in time_pattern", "[io][geotiff]") {
    const auto file = fixtures("geotiff") / "sst_20230602_utm.tif";
    const auto in =
        open_input("geotiff", file, json{{"bands", {"b4", "b8"}}, {"time_pattern", "sst_%Y%m%d"}});
    CHECK(in->variables()[0].name == "b4");
    CHECK(in->variables()[1].name == "b8");
    CHECK(in->steps()[0].time == day(2023, 6, 2));
    // Day of the year and hours: 2023-152 is 1 June.
    TempDir tmp;
    const auto doy = tmp.path() / "x_2023152_1030.tif";
    fs::copy_file(file, doy);
    const auto in2 = open_input("geotiff", doy, json{{"time_pattern", "x_%Y%j_%H%M"}});
    CHECK(in2->steps()[0].time == day(2023, 6, 1) + 10.5 / 24.0);
    CHECK(error_of<InputError>([&] {
              open_input("geotiff", file, json{{"bands", {"a"}}});
          }) == file.string() + ": has 2 band(s) but input_processor_params.bands names 1");
}

TEST_CASE("geotiff: geographic WGS 84, time from TIFFTAG_DATETIME", "[io][geotiff]") {
    const auto& dir = fixtures("geotiff");
    const auto in = open_input("geotiff", dir / "geo.tif");
    const auto* g = std::get_if<LatLonAxes>(&in->geometry());
    REQUIRE(g != nullptr);
    CHECK(g->lat == std::vector<double>{54.75, 54.25, 53.75, 53.25, 52.75});
    REQUIRE(g->lon.size() == 8);
    CHECK(g->lon.front() == 10.125);
    CHECK(g->lon.back() == 11.875);
    CHECK(in->steps()[0].time == day(2023, 6, 4) + 0.5 + 30.0 / 1440.0);
    REQUIRE(in->variables().size() == 1);
    CHECK(in->variables()[0].name == "band_1");
    CHECK(in->variables()[0].nc_type == "float");
    size_t nans = 0;
    CHECK(mismatches(read_all(*in, "band_1"), load_f32(dir / "geo.b1.f32"), nans) == 0);
    CHECK(nans == 1);
}

TEST_CASE("geotiff: bad inputs, one line each", "[io][geotiff]") {
    const auto& dir = fixtures("geotiff");
    const auto utm = dir / "sst_20230601_utm.tif";
    const auto rotated = dir / "rotated_20230601.tif";
    CHECK(error_of<InputError>([&] {
              open_input("geotiff", utm, json{{"time_pattern", "%Y-%m-%d"}});
          }) == utm.string() + ": the file name does not match time_pattern '%Y-%m-%d'");
    CHECK(error_of<InputError>([&] { open_input("geotiff", utm); }) ==
          utm.string() + ": no time (no TIFFTAG_DATETIME)");
    CHECK(error_of<InputError>([&] {
              open_input("geotiff", rotated, json{{"time_pattern", "%Y%m%d"}});
          }) == rotated.string() + ": the geotransform is rotated or sheared (10.000000, "
                                   "10.000000)");
    CHECK(error_of<ConfigError>([&] {
              open_input("geotiff", utm, json{{"time_pattern", "%Y%q"}});
          }) == "input_processor_params.time_pattern '%Y%q': unknown field %q");
    CHECK(error_of<InputError>([&] {
              open_input("geotiff", dir / "absent.tif");
          }).starts_with((dir / "absent.tif").string() + ": cannot be read as a raster"));
    try {
        open_input("geotiff", utm, json{{"time_pattern", "%Y-%m-%d"}});
    } catch (const InputError& e) {
        CHECK(e.exit_code() == baims::EXIT_INPUT);
        CHECK(e.hint() == "Fix input_processor_params.time_pattern or the file name");
    }
}

TEST_CASE("sentinel2-l2a: bands at 20 m, reflectance and SCL", "[io][sentinel2]") {
    const auto& dir = fixtures("safe");
    const auto safe = dir / SAFE_NAME;
    const json params{{"bands", {"B02", "B8A", "B01", "B08", "SCL"}}, {"resolution", 20}};
    const auto in = open_input("sentinel2-l2a", safe, params);
    CHECK(in->path() == safe);
    const auto* g = std::get_if<ProjectedAxes>(&in->geometry());
    REQUIRE(g != nullptr);
    CHECK(g->crs == "EPSG:32633");
    REQUIRE(g->x.size() == 60);
    REQUIRE(g->y.size() == 60);
    CHECK(g->x.front() == 399970.0);
    CHECK(g->y.front() == 5600030.0);
    CHECK(g->y.back() == 5598850.0);
    REQUIRE(in->steps().size() == 1);
    CHECK(in->steps()[0].time == *baims::grid::time::parse_time("2023-06-01T10:05:59.024Z"));
    CHECK(in->identity().at("name") == SAFE_NAME);
    CHECK(in->global_attrs().at("processing_baseline") == "05.09");
    REQUIRE(in->variables().size() == 5);
    const auto* scl = in->find("SCL");
    REQUIRE(scl != nullptr);
    CHECK(scl->integer);
    CHECK(scl->attrs.at("flag_values") == json({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
    CHECK(scl->attrs.at("flag_meanings").get<std::string>().starts_with("saturated_or_defective "));
    CHECK_FALSE(in->find("B02")->integer);
    CHECK(in->find("B02")->attrs.at("units") == "1");
    for (const char* b : {"B02", "B8A", "B01", "B08", "SCL"}) {
        INFO(b);
        size_t nans = 0;
        CHECK(mismatches(read_all(*in, b), load_f32(dir / (std::string(b) + "_20.f32")), nans) ==
              0);
        // B08 is the mean of 2x2 blocks of 10 m pixels, one in 13 of them no data: no block is
        // empty.
        CHECK((nans > 0) == (std::string(b) != "B08"));
    }
    // The path may be the MTD_MSIL2A.xml of the product.
    const auto by_xml = open_input("sentinel2-l2a", safe / "MTD_MSIL2A.xml", params);
    CHECK(by_xml->path() == safe);
    CHECK(by_xml->geometry() == in->geometry());
}

TEST_CASE("sentinel2-l2a: SCL at 10 m comes from the 20 m folder", "[io][sentinel2]") {
    const auto& dir = fixtures("safe");
    const auto in =
        open_input("sentinel2-l2a", dir / SAFE_NAME, json{{"bands", {"SCL"}}, {"resolution", 10}});
    const auto* g = std::get_if<ProjectedAxes>(&in->geometry());
    REQUIRE(g != nullptr);
    CHECK(g->x.size() == 120);
    CHECK(g->x.front() == 399965.0);
    size_t nans = 0;
    CHECK(mismatches(read_all(*in, "SCL"), load_f32(dir / "SCL_10.f32"), nans) == 0);
}

TEST_CASE("sentinel2-l2a: bad products, one line each", "[io][sentinel2]") {
    const auto& dir = fixtures("safe");
    TempDir tmp;
    const auto copy = tmp.path() / SAFE_NAME;
    fs::copy(dir / SAFE_NAME, copy, fs::copy_options::recursive);
    const json params{{"bands", {"B02", "B05"}}};

    CHECK(error_of<InputError>([&] {
              open_input("sentinel2-l2a", copy, json{{"bands", {"B12"}}});
          }) == copy.string() + ": no band B12 (MTD_MSIL2A.xml lists no image for it)");
    CHECK(error_of<ConfigError>([&] {
              open_input("sentinel2-l2a", copy, json{{"resolution", 30}});
          }) == "input_processor_params.resolution must be 10, 20 or 60");

    const auto b05 = copy / "GRANULE" / "L2A_T33UUQ_A032512_20230601T100559" / "IMG_DATA" / "R20m" /
                     "T33UUQ_20230601T100559_B05_20m.jp2";
    fs::remove(b05);
    CHECK(error_of<InputError>([&] { open_input("sentinel2-l2a", copy, params); }) ==
          b05.string() + ": the band file of B05 is missing");

    fs::remove(copy / "MTD_MSIL2A.xml");
    try {
        open_input("sentinel2-l2a", copy, params);
        FAIL("no error");
    } catch (const InputError& e) {
        CHECK(std::string(e.what()) ==
              copy.string() + ": no MTD_MSIL2A.xml (not a Sentinel-2 L2A SAFE product)");
        CHECK(e.exit_code() == baims::EXIT_INPUT);
    }
}
