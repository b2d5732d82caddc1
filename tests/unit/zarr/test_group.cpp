#include "test_helpers.hpp"

#include "baims/core/error.hpp"
#include "baims/zarr/group.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>

using namespace baims::zarr;

namespace {

ArrayMeta meta(std::vector<size_t> shape, std::vector<size_t> chunks, std::string dtype) {
    ArrayMeta m;
    m.shape = std::move(shape);
    m.chunks = std::move(chunks);
    m.dtype = std::move(dtype);
    m.fill_value = "NaN";
    return m;
}

// Written by zarr-python 2.13.6 (the same group built with zarr's API):
// /usr/bin/python3 -c '
// import zarr, numpy as np, numcodecs
// store = {}; g = zarr.group(store=store)
// g.attrs.update({"title": "Baltic SST \u00b0C", "geospatial_lat_min": 53.5, "history": "x"})
// a = g.create_dataset("sst", shape=(2,4,6), chunks=(1,2,2), dtype="<f4", fill_value=np.nan,
//                      compressor=numcodecs.Blosc(cname="lz4", clevel=5, shuffle=1))
// a.attrs.update({"_ARRAY_DIMENSIONS": ["time","lat","lon"], "units": "\u00b0C",
//                 "valid_min": -2.5})
// b = g.create_dataset("lat", shape=(4,), chunks=(4,), dtype="<f8", fill_value=np.nan,
//                      compressor=numcodecs.Blosc(cname="lz4", clevel=5, shuffle=1))
// b.attrs.update({"_ARRAY_DIMENSIONS": ["lat"], "units": "degrees_north"})
// zarr.consolidate_metadata(store); print(store[".zmetadata"].decode())'
const char* const ZARR_PYTHON_ZMETADATA = R"({
    "metadata": {
        ".zattrs": {
            "geospatial_lat_min": 53.5,
            "history": "x",
            "title": "Baltic SST \u00b0C"
        },
        ".zgroup": {
            "zarr_format": 2
        },
        "lat/.zarray": {
            "chunks": [
                4
            ],
            "compressor": {
                "blocksize": 0,
                "clevel": 5,
                "cname": "lz4",
                "id": "blosc",
                "shuffle": 1
            },
            "dtype": "<f8",
            "fill_value": "NaN",
            "filters": null,
            "order": "C",
            "shape": [
                4
            ],
            "zarr_format": 2
        },
        "lat/.zattrs": {
            "_ARRAY_DIMENSIONS": [
                "lat"
            ],
            "units": "degrees_north"
        },
        "sst/.zarray": {
            "chunks": [
                1,
                2,
                2
            ],
            "compressor": {
                "blocksize": 0,
                "clevel": 5,
                "cname": "lz4",
                "id": "blosc",
                "shuffle": 1
            },
            "dtype": "<f4",
            "fill_value": "NaN",
            "filters": null,
            "order": "C",
            "shape": [
                2,
                4,
                6
            ],
            "zarr_format": 2
        },
        "sst/.zattrs": {
            "_ARRAY_DIMENSIONS": [
                "time",
                "lat",
                "lon"
            ],
            "units": "\u00b0C",
            "valid_min": -2.5
        }
    },
    "zarr_consolidated_format": 1
})";

void build_small_cube(KvStore& store) {
    write_group(store, {{"title", "Baltic SST \xc2\xb0"
                                  "C"},
                        {"geospatial_lat_min", 53.5},
                        {"history", "x"}});
    write_array_meta(store, "sst", meta({2, 4, 6}, {1, 2, 2}, "<f4"),
                     {{"_ARRAY_DIMENSIONS", {"time", "lat", "lon"}},
                      {"units", "\xc2\xb0"
                                "C"},
                      {"valid_min", -2.5}});
    write_array_meta(store, "lat", meta({4}, {4}, "<f8"),
                     {{"_ARRAY_DIMENSIONS", {"lat"}}, {"units", "degrees_north"}});
}

} // namespace

TEST_CASE("zarr: group and array metadata files", "[zarr][group]") {
    MemoryStore store;
    build_small_cube(store);
    CHECK(store.get(".zgroup") == "{\n    \"zarr_format\": 2\n}");
    CHECK(store.get("sst/.zattrs") == "{\n"
                                      "    \"_ARRAY_DIMENSIONS\": [\n"
                                      "        \"time\",\n"
                                      "        \"lat\",\n"
                                      "        \"lon\"\n"
                                      "    ],\n"
                                      "    \"units\": \"\\u00b0C\",\n"
                                      "    \"valid_min\": -2.5\n"
                                      "}");
    CHECK(store.keys() == std::vector<std::string>{".zattrs", ".zgroup", "lat/.zarray",
                                                   "lat/.zattrs", "sst/.zarray", "sst/.zattrs"});

    const auto m = read_array_meta(store, "sst");
    REQUIRE(m);
    CHECK(*m == meta({2, 4, 6}, {1, 2, 2}, "<f4"));
    CHECK_FALSE(read_array_meta(store, "nope"));
    CHECK(read_attrs(store, "sst")["units"] == "\xc2\xb0"
                                               "C");
    CHECK(read_attrs(store, "")["geospatial_lat_min"] == 53.5);
    CHECK(read_attrs(store, "nope") == nlohmann::json::object());

    write_attrs(store, "", nullptr);
    CHECK(store.get(".zattrs") == "{}");
}

TEST_CASE("zarr: consolidate writes what zarr.consolidate_metadata writes", "[zarr][group]") {
    MemoryStore store;
    build_small_cube(store);
    // A chunk and a stray file must not matter.
    store.put("sst/0.0.0", "chunk bytes");
    store.put("notes.txt", "hello");
    consolidate(store);
    const auto text = store.get(".zmetadata");
    REQUIRE(text);
    CHECK(*text == ZARR_PYTHON_ZMETADATA);
    for (unsigned char c : *text) {
        REQUIRE(c < 0x80); // "°C" is escaped
    }
    CHECK(text->find("\\u00b0C") != std::string::npos);

    const auto doc = read_consolidated(store);
    REQUIRE(doc);
    CHECK(*doc == consolidated_metadata(store));
    CHECK(dump_json(*doc) == *text);
    CHECK((*doc)["metadata"]["sst/.zattrs"]["units"] == "\xc2\xb0"
                                                        "C");
    const auto lat = array_meta_from_consolidated(*doc, "lat");
    REQUIRE(lat);
    CHECK(*lat == meta({4}, {4}, "<f8"));
    CHECK_FALSE(array_meta_from_consolidated(*doc, "lon"));

    MemoryStore empty;
    CHECK_FALSE(read_consolidated(empty));
}

TEST_CASE("zarr: consolidate from the documents written gives the bytes of reading them back",
          "[zarr][group]") {
    // Values whose text form is not the obvious one: NaN and infinities (bare tokens), floats
    // with Python's repr (1e-05, 1e+16, -0.0, 0.1), integers beside floats, escaped and invalid
    // UTF-8, nested arrays and objects, an empty object, attrs given as null.
    const nlohmann::json odd = {
        {"nan", std::numeric_limits<double>::quiet_NaN()},
        {"inf",
         {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}},
        {"floats", {1e-05, 1e16, -0.0, 0.1, 2.0, 123456789.125}},
        {"ints", {0, -7, std::uint64_t{18446744073709551615u}}},
        {"text", "\xc2\xb0"
                 "C \"q\" \\ \n\t \x7f \xff \xf0\x9f\x8c\x8a"},
        {"nested", {{"a", nlohmann::json::array()}, {"b", nlohmann::json::object()}}},
        {"bool", true},
        {"null", nullptr}};
    MemoryStore by_hand, read_back;
    for (KvStore* store : {static_cast<KvStore*>(&by_hand), static_cast<KvStore*>(&read_back)}) {
        nlohmann::json written = nlohmann::json::object();
        nlohmann::json* w = store == &by_hand ? &written : nullptr;
        write_group(*store, odd, w);
        write_array_meta(*store, "sst", meta({2, 4, 6}, {1, 2, 2}, "<f4"), odd, w);
        auto m = meta({3}, {3}, "<f8");
        m.fill_value = "NaN";
        write_array_meta(*store, "lat", m, nullptr, w);
        auto mi = meta({1}, {1}, "<i2");
        mi.fill_value = -1;
        write_array_meta(*store, "a_b", mi, {{"_ARRAY_DIMENSIONS", {"x"}}}, w);
        if (w) {
            CHECK(written.size() == 2 + 3 * 2);
            CHECK(written["lat/.zattrs"] == nlohmann::json::object());
            consolidate(*store, std::move(written));
        } else {
            consolidate(*store);
        }
    }
    const auto a = by_hand.get(".zmetadata");
    const auto b = read_back.get(".zmetadata");
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*a == *b);
    CHECK(a->find("\"nan\": NaN") != std::string::npos);
    CHECK(a->find("-Infinity") != std::string::npos);
    CHECK(a->find("1e-05") != std::string::npos);
    CHECK(by_hand.keys() == read_back.keys());
}

TEST_CASE("zarr: consolidate reproduces xcube's .zmetadata from its files", "[zarr][group]") {
    // The golden cube's metadata files, without chunks, in a MemoryStore.
    MemoryStore store;
    FileStore golden(test::golden_cube(), false);
    for (const auto& entry : golden.list("")) {
        if (entry == ".zgroup" || entry == ".zattrs") {
            store.put(entry, *golden.get(entry));
        } else if (entry != ".zmetadata") {
            store.put(entry + "/.zarray", *golden.get(entry + "/.zarray"));
            store.put(entry + "/.zattrs", *golden.get(entry + "/.zattrs"));
        }
    }
    CHECK(store.size() == 2 + 8 * 2); // .zgroup, .zattrs; 8 arrays
    consolidate(store);
    CHECK(*store.get(".zmetadata") == test::golden_file(".zmetadata"));
    // Straight from the directory (chunk directories are never listed), without writing.
    CHECK(dump_json(consolidated_metadata(golden)) == test::golden_file(".zmetadata"));
}

TEST_CASE("zarr: metadata errors name the store and key", "[zarr][group]") {
    MemoryStore store("mem://cube.zarr");
    store.put("sst/.zarray", "{\"zarr_format\": 2,");
    try {
        read_array_meta(store, "sst");
        FAIL("no exception");
    } catch (const baims::InputError& e) {
        CHECK(std::string(e.what()).rfind(
                  "invalid JSON in 'mem://cube.zarr/sst/.zarray': parse error", 0) == 0);
    }
    store.put("sst/.zarray", R"({"zarr_format": 3})");
    try {
        read_array_meta(store, "sst");
        FAIL("no exception");
    } catch (const baims::InputError& e) {
        CHECK(std::string(e.what()) ==
              "'mem://cube.zarr/sst/.zarray': .zarray: zarr_format 3 is not supported");
        CHECK(e.hint() == "baims reads Zarr version 2");
    }
    store.put(".zmetadata", R"({"metadata": {}, "zarr_consolidated_format": 2})");
    CHECK_THROWS_AS(read_consolidated(store), baims::InputError);
    store.put("x/.zattrs", "[1]");
    CHECK_THROWS_AS(read_attrs(store, "x"), baims::InputError);
}
