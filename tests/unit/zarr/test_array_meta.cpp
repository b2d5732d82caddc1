#include "test_helpers.hpp"

#include "baims/core/error.hpp"
#include "baims/zarr/array_meta.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>

using namespace baims::zarr;

namespace {

ArrayMeta sst_meta() {
    ArrayMeta m;
    m.shape = {3, 352, 640};
    m.chunks = {1, 176, 320};
    m.dtype = "<f4";
    m.fill_value = "NaN";
    return m;
}

std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const baims::Error& e) {
        return e.what();
    }
    return "no exception";
}

} // namespace

TEST_CASE("zarr: .zarray text equals xcube's byte for byte", "[zarr][meta]") {
    CHECK(dump_json(sst_meta().to_json()) == test::golden_file("analysed_sst/.zarray"));

    ArrayMeta lat;
    lat.shape = {352};
    lat.chunks = {352};
    lat.dtype = "<f8";
    lat.fill_value = std::numeric_limits<double>::quiet_NaN(); // written as "NaN" too
    CHECK(dump_json(lat.to_json()) == test::golden_file("lat/.zarray"));
}

TEST_CASE("zarr: .zarray read from xcube's file", "[zarr][meta]") {
    const auto m =
        ArrayMeta::from_json(parse_json(test::golden_file("analysed_sst/.zarray"), "golden"));
    CHECK(m.shape == std::vector<size_t>{3, 352, 640});
    CHECK(m.chunks == std::vector<size_t>{1, 176, 320});
    CHECK(m.dtype == "<f4");
    CHECK(m.fill_is_nan());
    CHECK(std::isnan(m.fill_as_double()));
    CHECK(m.compressor == Compressor{});
    CHECK(m.dimension_separator.empty());
    CHECK(m.itemsize() == 4);
    CHECK(m.chunk_grid() == std::vector<size_t>{3, 2, 2});
    CHECK(m.chunk_count() == 12);
    CHECK(m.chunk_elements() == 56320);
    CHECK(m.chunk_bytes() == 225280);
    CHECK(m == sst_meta());
}

TEST_CASE("zarr: chunk keys and ragged grids", "[zarr][meta]") {
    ArrayMeta m;
    m.shape = {5, 7};
    m.chunks = {2, 3};
    CHECK(m.chunk_grid() == std::vector<size_t>{3, 3});
    CHECK(m.chunk_elements() == 6);
    CHECK(m.chunk_key({2, 1}) == "2.1");
    m.dimension_separator = "/";
    CHECK(m.chunk_key({2, 1}) == "2/1");
    CHECK(m.to_json()["dimension_separator"] == "/");
    CHECK(message_of([&] {
              m.chunk_key({3, 0});
          }) == "chunk index [3,0] is outside the chunk grid [3,3]");
    CHECK(message_of([&] { m.chunk_key({0}); }) == "chunk index [0] has 1 dimensions, the array 2");

    ArrayMeta scalar;
    CHECK(scalar.chunk_key({}) == "0");
    CHECK(scalar.chunk_elements() == 1);

    ArrayMeta empty;
    empty.shape = {0, 4};
    empty.chunks = {1, 4};
    CHECK(empty.chunk_grid() == std::vector<size_t>{0, 1});
    CHECK(empty.chunk_count() == 0);
}

TEST_CASE("zarr: fill values are written as zarr-python writes them", "[zarr][meta]") {
    ArrayMeta m;
    m.shape = {4};
    m.chunks = {4};
    m.fill_value = 0;
    CHECK(dump_json(m.to_json()["fill_value"]) == "0.0");
    m.fill_value = 0.1; // float(np.float32(0.1)) == 0.10000000149011612
    CHECK(dump_json(m.to_json()["fill_value"]) == "0.10000000149011612");
    m.dtype = "<f8";
    CHECK(dump_json(m.to_json()["fill_value"]) == "0.1");
    m.fill_value = -std::numeric_limits<double>::infinity();
    CHECK(m.to_json()["fill_value"] == "-Infinity");
    m.fill_value = nullptr;
    CHECK(m.to_json()["fill_value"].is_null());

    m.dtype = "<i2";
    m.fill_value = -9999;
    CHECK(dump_json(m.to_json()["fill_value"]) == "-9999");
    CHECK(m.fill_as_double() == -9999.0);
    m.fill_value = -9999.0;
    CHECK(dump_json(m.to_json()["fill_value"]) == "-9999");
    m.dtype = "|u1";
    m.fill_value = 300;
    CHECK_THROWS_AS(m.to_json(), baims::InternalError);
    m.fill_value = 255;
    CHECK(m.to_json()["fill_value"] == 255);
}

TEST_CASE("zarr: bad .zarray documents are InputErrors naming the field", "[zarr][meta]") {
    auto good = sst_meta().to_json();
    auto with = [&](const std::string& key, const nlohmann::json& value) {
        auto j = good;
        j[key] = value;
        return message_of([&] { ArrayMeta::from_json(j); });
    };
    CHECK(with("zarr_format", 3) == ".zarray: zarr_format 3 is not supported");
    CHECK(with("dtype", ">f4") == "unsupported zarr dtype '>f4'");
    CHECK(with("dtype", "<c8") == "unsupported zarr dtype '<c8'");
    CHECK(with("order", "F") == ".zarray: order 'F' is not supported");
    CHECK(with("filters", nlohmann::json::parse(R"([{"id":"delta","dtype":"<f4"}])")) ==
          R"(.zarray: filters [{"dtype":"<f4","id":"delta"}] are not supported)");
    CHECK(with("compressor", nlohmann::json::parse(R"({"id":"zlib","level":1})")) ==
          "unsupported zarr compressor 'zlib'");
    CHECK(with("chunks", {1, 176}) ==
          ".zarray: chunks [1,176] and shape [3,352,640] have different lengths");
    CHECK(with("chunks", {1, 0, 320}) == ".zarray: chunks [1,0,320] must all be >= 1");
    CHECK(with("shape", {3, -1, 640}) ==
          ".zarray: \"shape\" must be a list of non-negative integers, got [3,-1,640]");
    CHECK(with("fill_value", "nan") == ".zarray: fill_value \"nan\" must be a number, \"NaN\", "
                                       "\"Infinity\", \"-Infinity\" or null for dtype '<f4'");
    CHECK(message_of([] { ArrayMeta::from_json(nlohmann::json::array()); }) ==
          ".zarray must be a JSON object");

    // Accepted variants: filters [] and an explicit "." separator (kept on round trip).
    auto j = good;
    j["filters"] = nlohmann::json::array();
    j["dimension_separator"] = ".";
    const auto m = ArrayMeta::from_json(j);
    CHECK(m.dimension_separator == ".");
    CHECK(m.to_json()["dimension_separator"] == ".");
    CHECK(m.to_json()["filters"].is_null());
}

TEST_CASE("zarr: dtypes", "[zarr][meta]") {
    CHECK(parse_dtype("<f4").kind == DataKind::Float);
    CHECK(parse_dtype("<f8").itemsize == 8);
    CHECK(parse_dtype("|i1").kind == DataKind::Int);
    CHECK(parse_dtype("<i1").itemsize == 1);
    CHECK(parse_dtype("|u1").kind == DataKind::UInt);
    CHECK(parse_dtype("<u2").itemsize == 2);
    CHECK(parse_dtype("<i8").itemsize == 8);
    CHECK(parse_dtype("|b1").kind == DataKind::Bool);
    CHECK_THROWS_AS(parse_dtype("|f4"), baims::InputError);
    CHECK_THROWS_AS(parse_dtype("<f2"), baims::InputError);
    CHECK_THROWS_AS(parse_dtype("<U8"), baims::InputError);
}
