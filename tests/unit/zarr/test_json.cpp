#include "baims/core/error.hpp"
#include "baims/zarr/json.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using baims::zarr::dump_json;
using baims::zarr::parse_json;
using baims::zarr::python_float_repr;

TEST_CASE("zarr: python_float_repr matches Python's repr(float)", "[zarr][json]") {
    // Expected strings from /usr/bin/python3 -c 'print(repr(v))' for each v.
    CHECK(python_float_repr(1.0) == "1.0");
    CHECK(python_float_repr(0.1) == "0.1");
    CHECK(python_float_repr(1e-05) == "1e-05");
    CHECK(python_float_repr(0.0001) == "0.0001");
    CHECK(python_float_repr(1e16) == "1e+16");
    CHECK(python_float_repr(1e15) == "1000000000000000.0");
    CHECK(python_float_repr(-0.0) == "-0.0");
    CHECK(python_float_repr(0.0) == "0.0");
    CHECK(python_float_repr(1.5e300) == "1.5e+300");
    CHECK(python_float_repr(5e-324) == "5e-324");
    CHECK(python_float_repr(123.456) == "123.456");
    CHECK(python_float_repr(3.4028234663852886e+38) == "3.4028234663852886e+38");
    CHECK(python_float_repr(2.5e-7) == "2.5e-07");
    CHECK(python_float_repr(-1234.5) == "-1234.5");
    CHECK(python_float_repr(9007199254740992.0) == "9007199254740992.0");
    CHECK(python_float_repr(0.1 + 0.2) == "0.30000000000000004");
    CHECK(python_float_repr(1e22) == "1e+22");
    CHECK(python_float_repr(12345678901234567.0) == "1.2345678901234568e+16");
    CHECK(python_float_repr(std::numeric_limits<double>::quiet_NaN()) == "NaN");
    CHECK(python_float_repr(std::numeric_limits<double>::infinity()) == "Infinity");
    CHECK(python_float_repr(-std::numeric_limits<double>::infinity()) == "-Infinity");
}

// The expected text is the output of
// /usr/bin/python3 -c 'import json; d = {"b":[1,2,{}],"a":{"x":[],"y":None,"z":True},
//   "c":"\u00b0C \"q\" \\ \n\t\x01\x7f \U0001F600 caf\u00e9","n":float("nan"),"i":float("inf"),
//   "m":-float("inf"),"f":0.5,"k":-3,"\u00e9t\u00e9":18446744073709551615};
//   print(json.dumps(d, indent=4, sort_keys=True, ensure_ascii=True, separators=(",", ": ")))'
static const char* const PYTHON_TEXT = R"({
    "a": {
        "x": [],
        "y": null,
        "z": true
    },
    "b": [
        1,
        2,
        {}
    ],
    "c": "\u00b0C \"q\" \\ \n\t\u0001\u007f \ud83d\ude00 caf\u00e9",
    "f": 0.5,
    "i": Infinity,
    "k": -3,
    "m": -Infinity,
    "n": NaN,
    "\u00e9t\u00e9": 18446744073709551615
})";

TEST_CASE("zarr: dump_json writes what Python's json.dumps writes", "[zarr][json]") {
    nlohmann::json j;
    j["b"] = {1, 2, nlohmann::json::object()};
    j["a"] = {{"x", nlohmann::json::array()}, {"y", nullptr}, {"z", true}};
    j["c"] = "\xc2\xb0"
             "C \"q\" \\ \n\t\x01\x7f \xf0\x9f\x98\x80 caf\xc3\xa9";
    j["n"] = std::numeric_limits<double>::quiet_NaN();
    j["i"] = std::numeric_limits<double>::infinity();
    j["m"] = -std::numeric_limits<double>::infinity();
    j["f"] = 0.5;
    j["k"] = -3;
    j["\xc3\xa9t\xc3\xa9"] = uint64_t{18446744073709551615ULL};
    const std::string text = dump_json(j);
    CHECK(text == PYTHON_TEXT);
    for (unsigned char c : text) {
        REQUIRE(c < 0x80);
    }
}

TEST_CASE("zarr: dump_json scalars and edge cases", "[zarr][json]") {
    CHECK(dump_json(nlohmann::json::object()) == "{}");
    CHECK(dump_json(nlohmann::json::array()) == "[]");
    CHECK(dump_json(nullptr) == "null");
    CHECK(dump_json(2) == "2");
    CHECK(dump_json(2.0) == "2.0");
    CHECK(dump_json("x") == "\"x\"");
    CHECK(dump_json(nlohmann::json{{"zarr_format", 2}}) == "{\n    \"zarr_format\": 2\n}");
    // A byte that is not UTF-8 (Latin-1 0xE9) is written as the code point of the same value.
    CHECK(dump_json(std::string("caf\xe9")) == "\"caf\\u00e9\"");
}

TEST_CASE("zarr: parse_json reads NaN and Infinity tokens and round-trips Python text",
          "[zarr][json]") {
    const auto j = parse_json(PYTHON_TEXT, "test");
    REQUIRE(j["n"].is_number_float());
    CHECK(std::isnan(j["n"].get<double>()));
    CHECK(j["i"].get<double>() == std::numeric_limits<double>::infinity());
    CHECK(j["m"].get<double>() == -std::numeric_limits<double>::infinity());
    CHECK(j["c"].get<std::string>() == "\xc2\xb0"
                                       "C \"q\" \\ \n\t\x01\x7f \xf0\x9f\x98\x80 caf\xc3\xa9");
    CHECK(j["\xc3\xa9t\xc3\xa9"].get<uint64_t>() == 18446744073709551615ULL);
    CHECK(dump_json(j) == PYTHON_TEXT);

    // "NaN" inside a string stays a string (zarr's fill_value).
    const auto f = parse_json(R"({"fill_value": "NaN", "s": "Infinity NaN", "v": [NaN, 1]})", "t");
    CHECK(f["fill_value"] == "NaN");
    CHECK(f["s"] == "Infinity NaN");
    CHECK(std::isnan(f["v"][0].get<double>()));
    CHECK(f["v"][1] == 1);
}

TEST_CASE("zarr: parse_json names the document on bad JSON", "[zarr][json]") {
    try {
        parse_json("{\"a\": 1,", "'cube.zarr/sst/.zattrs'");
        FAIL("no exception");
    } catch (const baims::InputError& e) {
        const std::string msg = e.what();
        CHECK(msg.rfind("invalid JSON in 'cube.zarr/sst/.zattrs': parse error at line 1, column 9",
                        0) == 0);
    }
    CHECK_THROWS_AS(parse_json("{\"a\": NaNa}", "x"), baims::InputError);
    CHECK_THROWS_AS(parse_json("", "x"), baims::InputError);
}
