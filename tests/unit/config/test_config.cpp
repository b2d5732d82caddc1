// Config loading: deep merge, ${ENV}, and the exact error messages (file:line:col, key path).

#include "baims/config/document.hpp"
#include "baims/config/reader.hpp"
#include "baims/cube/gen_config.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

using namespace baims;
using baims::config::Document;

namespace {
std::string error_of(const std::string& yaml) {
    try {
        cube::parse_gen_config(Document::from_string(yaml, "gen.yml"));
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}
const std::string BASE =
    "output_region: [0, 0, 10, 5]\noutput_size: [20, 10]\noutput_path: c.zarr\n";
} // namespace

TEST_CASE("unknown keys name file:line:col and suggest the right one", "[config]") {
    CHECK(error_of(BASE + "output_resamplng: nearest\n") ==
          "gen.yml:4:1: unknown key 'output_resamplng' (did you mean 'output_resampling'?)");
    CHECK(error_of(BASE + "output_writer_params:\n  chunksizes: {lat: 5, lonn: 5}\n") ==
          "gen.yml:5:24: unknown key 'output_writer_params.chunksizes.lonn' (did you mean 'lon'?)");
    CHECK(error_of(BASE + "zzz: 1\n") == "gen.yml:4:1: unknown key 'zzz'");
}

TEST_CASE("type and value errors point at the value", "[config]") {
    CHECK(error_of("output_region: [0, 0, 10]\noutput_size: [2, 2]\n") ==
          "gen.yml:1:16: output_region: expected 4 numbers [lon_min, lat_min, lon_max, lat_max], "
          "got 3");
    CHECK(error_of("output_region: [0, 0, 10, 5]\noutput_size: [2, x]\n") ==
          "gen.yml:2:14: output_size: expected a list of numbers, got a list");
    CHECK(error_of(BASE + "output_resampling: bilinar\n") ==
          "gen.yml:4:20: output_resampling: expected one of nearest, bilinear, average, mode; got "
          "'bilinar' (did you mean 'bilinear'?)");
    CHECK(error_of("output_region: [10, 0, 0, 5]\noutput_size: [2, 2]\n") ==
          "gen.yml:1:16: output_region: the region is empty or inverted (min must be below max)");
    CHECK(
        error_of("output_region: [0, 0, 10, 5]\noutput_resolution: 0.3\n") ==
        "gen.yml:2:20: output_resolution: the region is not a whole number of pixels of this size "
        "(33.333333 x 16.666667)");
}

TEST_CASE("several files deep-merge left to right; origins follow the winner", "[config]") {
    auto a =
        Document::from_string("output_metadata: {title: A, a: 1}\noutput_size: [1, 1]\n", "a.yml");
    auto b = Document::from_string("output_metadata: {title: B}\n", "b.yml");
    a.merge(b);
    CHECK(a.root()["output_metadata"]["title"].as<std::string>() == "B");
    CHECK(a.root()["output_metadata"]["a"].as<int>() == 1);
    CHECK(a.origin("output_metadata.title").str() == "b.yml:1:27");
    CHECK(a.origin("output_size").str() == "a.yml:2:14");
}

TEST_CASE("${ENV} substitution with defaults", "[config]") {
    ::setenv("BAIMS_UNIT_OUT", "/data/c.zarr", 1);
    auto d = Document::from_string("output_path: ${BAIMS_UNIT_OUT}\nx: ${BAIMS_UNSET_X:-dflt}/y\n");
    CHECK(d.root()["output_path"].as<std::string>() == "/data/c.zarr");
    CHECK(d.root()["x"].as<std::string>() == "dflt/y");
    ::unsetenv("BAIMS_UNSET_X");
    CHECK_THROWS_WITH(Document::from_string("p: ${BAIMS_UNSET_X}\n", "e.yml"),
                      "e.yml:1:4: p: environment variable BAIMS_UNSET_X is not set");
}

TEST_CASE("a valid config parses into the typed struct", "[config]") {
    auto c = cube::parse_gen_config(
        Document::from_string(BASE + "output_variables: [sst, {chl: chlorophyll}, {t: {name: temp, "
                                     "resampling: average, units: K}}]\n"
                                     "output_metadata: {creator: {name: me}}\n",
                              "gen.yml"));
    REQUIRE(c.variables.size() == 3);
    CHECK(c.variables[1].rename == "chlorophyll");
    CHECK(c.variables[2].rename == "temp");
    CHECK(c.variables[2].resampling == cube::Resampling::Average);
    CHECK(c.variables[2].attrs["units"] == "K");
    CHECK(c.metadata["creator_name"] == "me");
    CHECK(c.output_grid().width() == 20);
}
