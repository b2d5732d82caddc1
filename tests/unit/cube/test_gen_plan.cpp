// gen's plan as pure functions (src/cube/gen_plan.hpp): slices from input time steps, their
// places in an existing cube, the records that let a rerun skip a slice, and the merged time
// axis of an update. Inputs are built in memory (no file is opened: the CRC-32 is preset).

#include "cube/gen_plan.hpp"

#include "baims/core/error.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace baims::cube;
using namespace baims::cube::gen;

namespace {

// An input with steps at the given times (days), one variable per name.
InputInfo input(const std::string& name, std::vector<double> times,
                std::vector<std::string> vars = {"sst"}, long mtime = 100) {
    InputInfo in;
    in.path = "/in/" + name;
    for (double t : times) {
        in.steps.push_back({t, std::nullopt, std::nullopt});
    }
    for (const auto& v : vars) {
        baims::io::VarInfo vi;
        vi.name = v;
        in.vars.push_back(vi);
    }
    in.identity = {{"name", name}, {"size", 1000}, {"mtime", mtime}};
    in.crc = "crc-" + name;
    return in;
}

CubeState cube_with_times(std::vector<double> times) {
    CubeState st;
    st.time = std::move(times);
    return st;
}

} // namespace

TEST_CASE("gen plan: slices sorted by time, failed inputs left out") {
    std::vector<InputInfo> in{input("b.nc", {3.0, 1.0}), input("a.nc", {2.0}),
                              input("x.nc", {0.5})};
    in[2].failed = true;
    auto s = make_slices(in, false);
    REQUIRE(s.size() == 3);
    CHECK(s[0].time == 1.0);
    CHECK(s[1].time == 2.0);
    CHECK(s[2].time == 3.0);
    CHECK(s[0].sources.size() == 1);
    CHECK(s[0].sources[0].input == 0);
    CHECK(s[0].sources[0].step == 1);
    CHECK(s[1].sources[0].input == 1);
    CHECK(s[2].sources[0].step == 0);
}

TEST_CASE("gen plan: equal times (to 1 ms): the later input wins, or all with mosaic") {
    const double half_ms = 0.5 / 86400000.0;
    std::vector<InputInfo> in{input("a.nc", {5.0}), input("b.nc", {5.0 + half_ms}),
                              input("c.nc", {6.0})};
    auto later = make_slices(in, false);
    REQUIRE(later.size() == 2);
    REQUIRE(later[0].sources.size() == 1);
    CHECK(later[0].sources[0].input == 1);
    CHECK(later[0].time == 5.0 + half_ms);
    auto mosaic = make_slices(in, true);
    REQUIRE(mosaic.size() == 2);
    REQUIRE(mosaic[0].sources.size() == 2);
    CHECK(mosaic[0].sources[0].input == 0); // first valid pixel wins: input order
    CHECK(mosaic[0].sources[1].input == 1);
    CHECK(mosaic[1].sources[0].input == 2);
}

TEST_CASE("gen plan: placement marks the slices that replace a time step") {
    std::vector<InputInfo> in{input("a.nc", {1.0, 4.0, 7.0})};
    auto s = make_slices(in, false);
    auto cube = cube_with_times({0.0, 4.0, 9.0});
    place_slices(s, &cube);
    REQUIRE(s.size() == 3);
    CHECK_FALSE(s[0].replace);
    CHECK(s[1].replace);
    CHECK(s[1].old_index == 1);
    CHECK_FALSE(s[2].replace);
    CHECK(s[2].seq == 2);
    CHECK(replaced_steps(s) == std::set<size_t>{1});
}

TEST_CASE("gen plan: records decide which replacing slices are not recomputed") {
    std::vector<InputInfo> in{input("a.nc", {1.0}), input("b.nc", {2.0}), input("c.nc", {3.0})};
    auto s = make_slices(in, false);
    auto cube = cube_with_times({1.0, 2.0, 3.0});
    place_slices(s, &cube);
    const std::string recipe = "r1";
    cube.sources = {slice_record(s[0], in, recipe), slice_record(s[1], in, recipe),
                    slice_record(s[2], in, recipe)};
    CHECK(cube.sources[0] ==
          nlohmann::json::parse(R"({"recipe":"r1","inputs":[{"name":"a.nc","size":1000,
                                "mtime":100,"crc32":"crc-a.nc","step":0}]})"));
    // b.nc touched (new mtime, same CRC): unchanged, its record refreshed; c.nc rewritten (new
    // mtime and CRC): recomputed.
    in[1].identity["mtime"] = 200;
    in[2].identity["mtime"] = 300;
    in[2].crc = "crc-c.nc-new";
    bool refresh = true;
    CHECK(record_matches(cube.sources[0], s[0], in, recipe, refresh));
    CHECK_FALSE(refresh);
    CHECK_FALSE(record_matches(cube.sources[0], s[0], in, "r2", refresh));
    auto u = split_unchanged(s, cube, in, recipe);
    CHECK(u.count == 2);
    REQUIRE(u.refreshed.size() == 1);
    CHECK(u.refreshed[0].first == 1);
    CHECK(u.refreshed[0].second["inputs"][0]["mtime"] == 200);
    REQUIRE(u.todo.size() == 1);
    CHECK(u.todo[0].time == 3.0);
    // Other time bounds than the cube's: recomputed whatever the record says.
    cube.bounds = {{0.5, 1.5}, {1.5, 2.5}, {2.5, 3.5}};
    CHECK(split_unchanged(s, cube, in, recipe).count == 0);
}

TEST_CASE("gen plan: the merged time axis of an update") {
    // Cube steps 1, 3, 5; written: 3 (replaces step 1), 0 (inserted), 6 (appended).
    std::vector<InputInfo> in{input("r.nc", {3.0}), input("i.nc", {0.0}), input("a.nc", {6.0})};
    auto cube = cube_with_times({1.0, 3.0, 5.0});
    cube.sources = {nullptr, nullptr, nullptr};
    std::vector<Slice> written;
    for (size_t i = 0; i < in.size(); ++i) {
        Slice s;
        s.time = in[i].steps[0].time;
        s.sources.push_back({i, 0});
        written.push_back(s);
    }
    place_slices(written, &cube);
    std::vector<std::pair<size_t, nlohmann::json>> refreshed{{2, {{"recipe", "old"}}}};
    auto m = merge_time_axis(cube, written, refreshed, in, "r");
    CHECK(m.state.time == std::vector<double>{0.0, 1.0, 3.0, 5.0, 6.0});
    CHECK(m.mapping == std::vector<long>{1, 2, 3});
    CHECK(m.final_index == std::vector<size_t>{2, 0, 4});
    CHECK(m.appended == 1);
    CHECK(m.inserted == 1);
    CHECK(m.replaced == 1);
    REQUIRE(m.state.sources.size() == 5);
    CHECK(m.state.sources[0]["inputs"][0]["name"] == "i.nc");
    CHECK(m.state.sources[1].is_null());
    CHECK(m.state.sources[2]["inputs"][0]["name"] == "r.nc");
    CHECK(m.state.sources[3] == nlohmann::json{{"recipe", "old"}});
    CHECK(m.state.sources[4]["inputs"][0]["name"] == "a.nc");
    CHECK_FALSE(m.state.has_bounds()); // no step has bounds
}

TEST_CASE("gen plan: variables of a new cube in order of first appearance, renamed") {
    std::vector<InputInfo> in{input("a.nc", {1.0}, {"sst", "ice"}),
                              input("b.nc", {2.0}, {"wind", "sst"})};
    GenConfig c;
    auto all = select_new_vars(c, in);
    REQUIRE(all.size() == 3);
    CHECK(all[0].name == "sst");
    CHECK(all[1].name == "ice");
    CHECK(all[2].name == "wind");
    OutputVariable spec;
    spec.pattern = "sst";
    spec.rename = "analysed_sst";
    c.variables = {spec};
    auto one = select_new_vars(c, in);
    REQUIRE(one.size() == 1);
    CHECK(one[0].name == "analysed_sst");
    CHECK(one[0].input == "sst");
    spec.pattern = "sts";
    c.variables = {spec};
    CHECK_THROWS_WITH(select_new_vars(c, in),
                      Catch::Contains("no input has the variable 'sts' (did you mean 'sst'?)"));
}
