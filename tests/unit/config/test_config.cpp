// Config loading: deep merge, ${ENV}, and the exact error messages (file:line:col, key path).

#include "baims/config/document.hpp"
#include "baims/config/reader.hpp"
#include "baims/core/features.hpp"
#include "baims/core/text.hpp"
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
    CHECK(a.origin("output_metadata.title").str() == "b.yml:1:26"); // the value B
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

// Issue 7 #11: output names that would break the cube or overwrite its coordinates.
TEST_CASE("output variable names are checked where they are given", "[config]") {
    CHECK(error_of(BASE + "output_variables: [{sst: {name: \"a/b\"}}]\n") ==
          "gen.yml:4:33: output_variables[0].sst.name: 'a/b' holds '/' or '\\', which would make "
          "it a folder of the cube");
    CHECK(error_of(BASE + "output_variables: [{sst: {name: lat}}]\n") ==
          "gen.yml:4:33: output_variables[0].sst.name: 'lat' is a coordinate of the cube (time, "
          "time_bnds, lat, lat_bnds, lon, lon_bnds, crs) and cannot name a data variable");
    CHECK(error_of(BASE + "output_variables: [{analysed_sst: time_bnds}]\n") ==
          "gen.yml:4:35: output_variables[0].analysed_sst: 'time_bnds' is a coordinate of the "
          "cube (time, time_bnds, lat, lat_bnds, lon, lon_bnds, crs) and cannot name a data "
          "variable");
    CHECK(error_of(BASE + "output_variables:\n  - analysed_sst: crs\n") ==
          "gen.yml:5:19: output_variables[0].analysed_sst: 'crs' is a coordinate of the cube "
          "(time, time_bnds, lat, lat_bnds, lon, lon_bnds, crs) and cannot name a data variable");
    CHECK(error_of(BASE + "output_variables: [{sst: {name: .zattrs}}]\n") ==
          "gen.yml:4:33: output_variables[0].sst.name: '.zattrs' starts with '.', which Zarr and "
          "baims reserve for their own files");
    CHECK(error_of(BASE + "output_variables: [time]\n") ==
          "gen.yml:4:20: output_variables[0]: 'time' is a coordinate of the cube (time, "
          "time_bnds, lat, lat_bnds, lon, lon_bnds, crs) and cannot name a data variable");
    CHECK(error_of(BASE + "output_variables: [{sst: {name: \"\"}}]\n") ==
          "gen.yml:4:33: output_variables[0].sst.name: the output variable name is empty");
    // duplicates, with both positions
    CHECK(error_of(BASE + "output_variables: [sst, {chl: sst}]\n") ==
          "gen.yml:4:31: output_variables[1].chl: the output variable 'sst' is already defined "
          "at gen.yml:4:20");
    CHECK(error_of(BASE + "output_variables: [sst, {sst: {resampling: average}}]\n") ==
          "gen.yml:4:25: output_variables[1]: the output variable 'sst' is already defined at "
          "gen.yml:4:20");
    // attributes baims writes itself
    CHECK(error_of(BASE + "output_variables: [{sst: {_ARRAY_DIMENSIONS: [x]}}]\n") ==
          "gen.yml:4:27: output_variables[0].sst._ARRAY_DIMENSIONS: baims writes the attribute "
          "'_ARRAY_DIMENSIONS' itself");
    // wildcards keep the input names: not checked here
    CHECK(error_of(BASE + "output_variables: [\"*\", {sst: sst_k}]\n") == "no error");
    CHECK(cube::output_name_problem("analysed_sst").empty());
    CHECK(cube::output_name_problem("a\tb") ==
          "the output variable name holds a control character");
}

// Issue 7 #12: nested lists in output_metadata were an internal error (exit 70).
TEST_CASE("output_metadata values are scalars or flat lists", "[config]") {
    CHECK(error_of(BASE + "output_metadata: {a: [[1]]}\n") ==
          "gen.yml:4:23: output_metadata.a[0]: expected a text, a number or a list of them, got "
          "a list");
    CHECK(error_of(BASE + "output_metadata:\n  a: [1, {b: 2}]\n") ==
          "gen.yml:5:10: output_metadata.a[1]: expected a text, a number or a list of them, got "
          "a mapping");
    CHECK(error_of(BASE + "output_variables: [{sst: {flag_values: [[1, 2]]}}]\n") ==
          "gen.yml:4:41: output_variables[0].sst.flag_values[0]: expected a text, a number or a "
          "list of them, got a list");
    CHECK(error_of(BASE + "output_metadata: {creator: {name: a}, creator_name: b}\n") ==
          "gen.yml:4:53: output_metadata.creator_name: the attribute 'creator_name' is given "
          "twice (nested mappings are joined with '_')");
    auto c = cube::parse_gen_config(Document::from_string(
        BASE + "output_metadata: {n: [1, 2.5], s: [a, 1], q: \"7\", k: 3}\n", "gen.yml"));
    CHECK(c.metadata["n"] == nlohmann::json::array({1, 2.5}));
    CHECK(c.metadata["s"] == nlohmann::json::array({"a", "1"}));
    CHECK(c.metadata["q"] == "7");
    CHECK(c.metadata["k"] == 3);
}

// Issue 7, messages: "did you mean" looks at every key of the mapping, not only those read.
TEST_CASE("did you mean considers every known key; unknown keys before missing ones", "[config]") {
    CHECK(error_of("output_region: [0, 0, 10, 5]\noutput_resolution: 0.5\noutput_sise: [2, 2]\n") ==
          "gen.yml:3:1: unknown key 'output_sise' (did you mean 'output_size'?)");
    // the example of docs/exit-codes.md: reported as a typo, not as a missing output_size
    CHECK(error_of("output_region: [0, 0, 10, 5]\noutput_path: c.zarr\noutput_crs: EPSG:4326\n"
                   "output_sise: [20, 10]\n") ==
          "gen.yml:4:1: unknown key 'output_sise' (did you mean 'output_size'?)");
    CHECK(error_of(BASE + "output_writer_params: {compressor: {clevl: 3}}\n") ==
          "gen.yml:4:37: unknown key 'output_writer_params.compressor.clevl' (did you mean "
          "'clevel'?)");
    CHECK(
        error_of(BASE + "output_writer_params: {packing: {sst: {dtype: int16, _FillValu: 1}}}\n") ==
        "gen.yml:4:54: unknown key 'output_writer_params.packing.sst._FillValu' (did you mean "
        "'_FillValue'?)");
}

TEST_CASE("a key given twice is refused with both positions", "[config]") {
    CHECK(error_of(BASE + "output_size: [40, 20]\n") ==
          "gen.yml:4:1: duplicate key 'output_size' (first given at gen.yml:2:1)");
    CHECK(error_of(BASE + "output_writer_params:\n  chunksizes: {lat: 5, lat: 6}\n") ==
          "gen.yml:5:24: duplicate key 'output_writer_params.chunksizes.lat' (first given at "
          "gen.yml:5:16)");
}

TEST_CASE("chunk sizes: x/y and 0 are refused; unset ones are not printed as 0", "[config]") {
    CHECK(error_of(BASE + "output_writer_params:\n  chunksizes: {x: 5, y: 5}\n") ==
          "gen.yml:5:19: output_writer_params.chunksizes.x: the cube's dimensions are time, lat "
          "and lon (output_crs is EPSG:4326)");
    CHECK(error_of(BASE + "output_writer_params:\n  chunksizes: {lat: 0}\n") ==
          "gen.yml:5:21: output_writer_params.chunksizes.lat: expected a positive whole number, "
          "got 0");
    CHECK(error_of(BASE + "output_writer_params:\n  chunksizes: {lon: -4}\n") ==
          "gen.yml:5:21: output_writer_params.chunksizes.lon: expected a positive whole number, "
          "got -4");
    auto unset = cube::parse_gen_config(Document::from_string(BASE, "gen.yml")).to_yaml();
    CHECK(unset.find("chunksizes: {time: 1}\n") != std::string::npos);
    auto set = cube::parse_gen_config(
                   Document::from_string(BASE + "output_writer_params: {chunksizes: {lat: 5}}\n",
                                         "gen.yml"))
                   .to_yaml();
    CHECK(set.find("chunksizes: {time: 1, lat: 5}\n") != std::string::npos);
}

TEST_CASE("a grid too large is refused before anything is allocated", "[config]") {
    CHECK(error_of("output_region: [0, 0, 10, 5]\noutput_size: [1e8, 1e8]\n") ==
          "gen.yml:2:14: output_size: the grid would be 100000000 x 100000000 pixels; this "
          "version allows at most 1000000 pixels along each axis and 1e11 pixels per time step");
    CHECK(error_of("output_region: [0, 0, 10, 5]\noutput_resolution: 1e-7\n") ==
          "gen.yml:2:20: output_resolution: the grid would be 100000000 x 50000000 pixels; this "
          "version allows at most 1000000 pixels along each axis and 1e11 pixels per time step");
    CHECK(error_of("output_region: [0, 0, 10, 5]\noutput_size: [2.5, 2]\n") ==
          "gen.yml:2:14: output_size: expected two positive whole numbers [width, height]");
    CHECK(error_of("output_region: [0, 0, 10, 5]\noutput_size: [1000000, 1000]\n") == "no error");
}

// Issue 12 #10: every "not available" message comes from one table, and no hint sends the user
// to something this version does not have (optimise and prune exist now: hints may name them).
TEST_CASE("not-available messages come from one table with working hints", "[config]") {
    const auto& table = unavailable_features();
    CHECK(table.size() == 3);
    for (const auto& f : table) {
        INFO(f.what);
        CHECK(not_available(f.feature) == f.what + " is not available in this version");
        CHECK(!instead(f.feature).empty());
        for (const char* dead : {"curvilinear", "geotiff", "sentinel2", "/vsi", "--png", "tiles"}) {
            CHECK(instead(f.feature).find(dead) == std::string::npos);
        }
    }
}

// Issue 10: output_crs on a projected CRS gives y/x chunk sizes; other CRSs are refused.
TEST_CASE("output_crs: projected CRSs take y/x chunk sizes; others are refused", "[config]") {
    const std::string P = "output_region: [4000000, 3000000, 4100000, 3050000]\n"
                          "output_resolution: 1000\noutput_path: c.zarr\n";
    auto c = cube::parse_gen_config(Document::from_string(
        P + "output_crs: EPSG:3035\noutput_writer_params: {chunksizes: {y: 20, x: 30}}\n",
        "gen.yml"));
    REQUIRE(c.crs.has_value());
    CHECK(c.crs->epsg == "3035");
    CHECK(c.crs->units == "m");
    CHECK(c.crs->grid_mapping["grid_mapping_name"] == "lambert_azimuthal_equal_area");
    CHECK(c.chunk_lat == 20);
    CHECK(c.chunk_lon == 30);
    CHECK(c.output_grid().width() == 100);
    CHECK(c.to_yaml().find("chunksizes: {time: 1, y: 20, x: 30}\n") != std::string::npos);
    CHECK(error_of(P + "output_crs: EPSG:3035\noutput_writer_params: {chunksizes: {lat: 20}}\n") ==
          "gen.yml:5:42: output_writer_params.chunksizes.lat: the cube's dimensions are time, y "
          "and x (output_crs is projected)");
    CHECK(error_of(P + "output_crs: EPSG:999999\n") ==
          "gen.yml:4:13: output_crs: 'EPSG:999999' is not a CRS GDAL/PROJ know");
    CHECK(error_of(BASE + "output_crs: EPSG:4258\n") ==
          "gen.yml:4:13: output_crs: 'EPSG:4258' is a geographic CRS other than WGS 84 (ETRS89)");
    auto ll =
        cube::parse_gen_config(Document::from_string(BASE + "output_crs: WGS84\n", "gen.yml"));
    CHECK(!ll.crs.has_value());
}

// Issue 10: on a projected cube x, y, their bounds and crs are coordinates (as lat/lon are on a
// lat/lon cube): they cannot name a data variable; on a lat/lon cube x and y can.
TEST_CASE("output variable names x/y are refused on projected cubes", "[config]") {
    const std::string P = "output_region: [4000000, 3000000, 4100000, 3050000]\n"
                          "output_resolution: 1000\noutput_path: c.zarr\noutput_crs: EPSG:3035\n";
    const std::string list = " is a coordinate of the projected cube (time, time_bnds, y, y_bnds, "
                             "x, x_bnds, crs) and cannot name a data variable";
    CHECK(error_of(P + "output_variables: [{sst: x}]\n") ==
          "gen.yml:5:26: output_variables[0].sst: 'x'" + list);
    CHECK(error_of(P + "output_variables: [y]\n") ==
          "gen.yml:5:20: output_variables[0]: 'y'" + list);
    CHECK(error_of(P + "output_variables: [{sst: {name: y_bnds}}]\n") ==
          "gen.yml:5:33: output_variables[0].sst.name: 'y_bnds'" + list);
    CHECK(error_of(P + "output_variables: [{sst: crs}]\n") ==
          "gen.yml:5:26: output_variables[0].sst: 'crs'" + list);
    CHECK(error_of(P + "processed_variables: [{x_bnds: {expression: sst + 1}}]\n") ==
          "gen.yml:5:24: processed_variables[0].x_bnds: 'x_bnds'" + list);
    auto c = cube::parse_gen_config(
        Document::from_string(BASE + "output_variables: [{sst: x}, {chl: y}]\n", "gen.yml"));
    CHECK(c.variables[0].rename == "x");
    CHECK(c.variables[1].rename == "y");
}

// Issue 10: processed_variables and valid_pixel_expression are read (xcube's forms) and their
// syntax is checked at once, with the position in the expression.
TEST_CASE("expressions in the gen config", "[config]") {
    auto c = cube::parse_gen_config(Document::from_string(
        BASE + "processed_variables:\n"
               "  - chl_log: {expression: log10(chl), units: lg(mg m-3), load: true}\n"
               "  - chl: {valid_pixel_expression: c2rcc_flags.Valid_PE}\n"
               "  - conc_tsm\n"
               "output_variables:\n"
               "  - chl_log\n"
               "  - sst: {valid_pixel_expression: 'sst > 270 and not flags.cloud'}\n",
        "gen.yml"));
    REQUIRE(c.processed.size() == 3);
    CHECK(c.processed[0].name == "chl_log");
    CHECK(c.processed[0].expression == "log10(chl)");
    CHECK(c.processed[0].expression_where ==
          "gen.yml:5:27: processed_variables[0].chl_log.expression");
    CHECK(c.processed[0].attrs == nlohmann::json{{"units", "lg(mg m-3)"}});
    CHECK(c.processed[1].expression.empty());
    CHECK(c.processed[1].valid_pixel_expression == "c2rcc_flags.Valid_PE");
    CHECK(c.processed[2].name == "conc_tsm");
    REQUIRE(c.variables.size() == 2);
    CHECK(c.variables[1].valid_pixel_expression == "sst > 270 and not flags.cloud");
    CHECK(c.variables[1].attrs.empty());
    // the mapping form
    c = cube::parse_gen_config(Document::from_string(
        BASE + "processed_variables:\n  a: {expression: b * 2}\n  c: {expression: a + 1}\n",
        "gen.yml"));
    REQUIRE(c.processed.size() == 2);
    CHECK(c.processed[1].name == "c");
    CHECK(c.processed[1].where == "gen.yml:6:3: processed_variables.c");

    CHECK(error_of(BASE + "processed_variables: [{x: {expression: 'log10(chl'}}]\n") ==
          "gen.yml:4:40: processed_variables[0].x.expression: 'log10(chl' at position 10: "
          "expected ',' or ')' in the arguments of 'log10', got the end of the expression");
    CHECK(error_of(BASE + "output_variables: [{sst: {valid_pixel_expression: 'sst = 1'}}]\n") ==
          "gen.yml:4:51: output_variables[0].sst.valid_pixel_expression: 'sst = 1' at position "
          "5: '=' is not an operator; compare with '=='");
    CHECK(error_of(BASE + "processed_variables: [{lat: {expression: '1'}}]\n") ==
          "gen.yml:4:24: processed_variables[0].lat: 'lat' is a coordinate of the cube (time, "
          "time_bnds, lat, lat_bnds, lon, lon_bnds, crs) and cannot name a data variable");
    CHECK(error_of(BASE + "processed_variables: [{x: {expression: [1]}}]\n") ==
          "gen.yml:4:40: processed_variables[0].x.expression: expected an expression (a text)");
    CHECK(error_of(BASE + "processed_variables: 5\n") ==
          "gen.yml:4:22: processed_variables: expected a list of 'name: {expression: ...}'");
}

// keep_input_attrs and file names: text from inputs goes into JSON records; a byte that is not
// UTF-8 is taken as Latin-1 (as zarr::dump_json writes it), valid UTF-8 stays as it is.
TEST_CASE("valid_utf8: Latin-1 bytes become their characters, UTF-8 is kept", "[config]") {
    CHECK(text::valid_utf8("plain") == "plain");
    CHECK(text::valid_utf8("\xb0"
                           "C") == "\xc2\xb0"
                                   "C");
    CHECK(text::valid_utf8("t\xe4gl.nc") == "t\xc3\xa4gl.nc");
    CHECK(text::valid_utf8("\xc2\xb0 \xe2\x82\xac \xf0\x9f\x8c\x8a") ==
          "\xc2\xb0 \xe2\x82\xac \xf0\x9f\x8c\x8a");
    // a cut sequence, an overlong form, a surrogate: each byte as Latin-1
    CHECK(text::valid_utf8("\xe2\x82") == "\xc3\xa2\xc2\x82");
    CHECK(text::valid_utf8("\xc0\xaf") == "\xc3\x80\xc2\xaf");
    CHECK(text::valid_utf8("\xed\xa0\x80") == "\xc3\xad\xc2\xa0\xc2\x80");
    // is_utf8: exactly the texts valid_utf8 keeps
    for (const char* t :
         {"plain", "\xc2\xb0 \xe2\x82\xac \xf0\x9f\x8c\x8a", "", "\xb0", "t\xe4gl.nc", "\xe2\x82",
          "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
        INFO(t);
        CHECK(text::is_utf8(t) == (text::valid_utf8(t) == t));
    }
    CHECK(text::is_utf8("\xc2\xb0 \xe2\x82\xac"));
    CHECK_FALSE(text::is_utf8("t\xe4gl.nc"));
}

TEST_CASE("text::one_line keeps a message's start and end on one short line") {
    CHECK(text::one_line("short\nmessage\tok") == "short message ok");
    const std::string sql = "sqlite3_exec(CREATE TABLE gpkg_spatial_ref_sys (" +
                            std::string(4000, 'x') + ")) failed: database or disk is full";
    const std::string l = text::one_line(sql, 100);
    CHECK(l.size() == 100);
    CHECK(l.substr(0, 50) == sql.substr(0, 50));
    CHECK(l.ends_with("xxx)) failed: database or disk is full"));
    CHECK(l.find(" \xe2\x80\xa6 ") == 50);
    // exactly at the limit: unchanged
    CHECK(text::one_line(std::string(100, 'a'), 100) == std::string(100, 'a'));
    // a cut never splits a UTF-8 sequence (degree signs: 2 bytes each)
    std::string deg;
    for (int i = 0; i < 200; ++i) {
        deg += "\xc2\xb0";
    }
    const std::string d = text::one_line(deg, 101);
    CHECK(text::is_utf8(d));
    CHECK(d.size() <= 101);
    CHECK(d.find(" \xe2\x80\xa6 ") != std::string::npos);
}
