// Parsing of real CDSE OpenSearch responses (tests/data/cdse, see README.md there), timestamps,
// footprints and --baseline latest. No network, no database.
//
// Feature counts, and how many datatake+tile groups remain with --baseline latest, were taken with:
//   cd tests/data/cdse && /usr/bin/python3 -c '
//   import json,glob
//   for f in sorted(glob.glob("*.json")):
//       d=json.load(open(f)); g={}
//       for ft in d["features"]:
//           t=ft["properties"]["title"][:-5].split("_")
//           if len(t)==7 and t[0].startswith("S2"):
//               k=(t[0],t[1],t[2],t[4],t[5]); v=(int(t[3][1:]),t[6]); g[k]=max(g.get(k,v),v)
//       print(f, len(d["features"]), len(g) if g else "n/a")'
// → s1_grd 2 n/a; s2_l1c_pretty 32 24; with_N0500 4 2; svalbard 7 7; tileId_29UNV 4 1

#include "baims/catalog/baseline.hpp"
#include "baims/catalog/opensearch.hpp"
#include "baims/catalog/time.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace baims::catalog;

namespace {

std::string read_data(const std::string& name) {
    std::ifstream in(std::string(BAIMS_SOURCE_DIR "/tests/data/cdse/") + name, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string feature(const std::string& title, const std::string& start,
                    const std::string& geometry) {
    std::string props = "{";
    if (!title.empty()) {
        props += "\"title\":\"" + title + "\",";
    }
    props += "\"startDate\":\"" + start + "\"}";
    std::string f = "{\"type\":\"Feature\",\"properties\":" + props;
    if (!geometry.empty()) {
        f += ",\"geometry\":" + geometry;
    }
    return f + "}";
}

const std::string SQUARE = R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]})";

} // namespace

TEST_CASE("catalog: real responses: feature counts, no bad features, no next link", "[catalog]") {
    struct Case {
        const char* file;
        const char* card;
        size_t features;
    };
    for (const auto& c : {Case{"opensearch_s1_grd_2020-06-06.json", "bs", 2},
                          Case{"opensearch_s2_l1c_pretty_2020-11.json", "s2", 32},
                          Case{"opensearch_s2_l2a_2018-08-20_with_N0500.json", "s2", 4},
                          Case{"opensearch_s2_l2a_2023-04-19_svalbard.json", "s2", 7},
                          Case{"opensearch_s2_l2a_tileId_29UNV_2021-10.json", "s2", 4}}) {
        INFO(c.file);
        Page page = parse_page(read_data(c.file), c.card);
        CHECK(page.feature_count == c.features);
        CHECK(page.records.size() == c.features);
        CHECK(page.bad.empty());
        CHECK(page.warnings.empty());
        CHECK_FALSE(page.next_url.has_value());
        for (const auto& r : page.records) {
            CHECK(r.card == c.card);
            CHECK(r.footprint.rings.size() == 1);
            CHECK(r.footprint.rings[0].front() == r.footprint.rings[0].back());
        }
    }
}

TEST_CASE("catalog: svalbard response: microsecond startDate and the extra fields", "[catalog]") {
    Page page = parse_page(read_data("opensearch_s2_l2a_2023-04-19_svalbard.json"), "s2");
    const SceneRecord& r = page.records.at(0);
    CHECK(r.reference == "S2B_MSIL2A_20230420T122659_N0509_R052_T33XWG_20230420T133717.SAFE");
    CHECK(r.sensor == "2B");
    CHECK(format_sql_timestamp(r.obstime) == "2023-04-20 12:26:59.025000");
    CHECK(r.product_identifier ==
          "/eodata/Sentinel-2/MSI/L2A/2023/04/20/"
          "S2B_MSIL2A_20230420T122659_N0509_R052_T33XWG_20230420T133717.SAFE");
    REQUIRE(r.cloud_cover.has_value());
    CHECK(*r.cloud_cover == 58.821601); // the JSON number, parsed to the nearest double
    CHECK(r.processing_baseline == "5.09");
    CHECK(r.footprint.rings[0].size() == 5);
    CHECK(r.footprint.rings[0][0] == Point{14.999111056498, 78.3730256712584});
    CHECK(page.records.at(1).sensor == "2A");
}

TEST_CASE("catalog: S1 response: single-part MultiPolygon footprints become that Polygon",
          "[catalog]") {
    Page page = parse_page(read_data("opensearch_s1_grd_2020-06-06.json"), "bs");
    REQUIRE(page.records.size() == 2);
    const SceneRecord& r = page.records[0];
    CHECK(r.sensor == "1B");
    CHECK(format_sql_timestamp(r.obstime) == "2020-06-06 06:06:12.853000");
    REQUIRE(r.footprint.rings.size() == 1);
    // python: json.load(...)["features"][0]["geometry"]["coordinates"][0][0] has 7 positions,
    // first [3.179215, 50.227345], second [3.666933, 51.720463], last == first
    CHECK(r.footprint.rings[0].size() == 7);
    CHECK(r.footprint.rings[0][0] == Point{3.179215, 50.227345});
    CHECK(r.footprint.rings[0][1] == Point{3.666933, 51.720463});
    CHECK(r.processing_baseline == "0");
}

TEST_CASE("catalog: multi-part MultiPolygon: convex hull with a warning", "[catalog]") {
    // Two unit squares, [0,1]² and [3,4]x[0,1]: the hull is the rectangle [0,4]x[0,1].
    std::string mp = R"({"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,1],[0,0]]],)"
                     R"([[[3,0],[4,0],[4,1],[3,1],[3,0]]]]})";
    std::string body = "{\"type\":\"FeatureCollection\",\"features\":[" +
                       feature("S1A_X", "2021-01-01T00:00:00Z", mp) + "]}";
    Page page = parse_page(body, "bs");
    REQUIRE(page.records.size() == 1);
    REQUIRE(page.warnings.size() == 1);
    CHECK(page.warnings[0] == "S1A_X: footprint has 2 parts; storing their convex hull");
    CHECK(to_wkt(page.records[0].footprint) == "POLYGON((0 0,4 0,4 1,0 1,0 0))");
}

TEST_CASE("catalog: bad features are skipped and counted, the others kept", "[catalog]") {
    std::string body =
        "{\"type\":\"FeatureCollection\",\"features\":[" +
        feature("S2A_GOOD", "2021-01-01T10:00:00.5Z", SQUARE) + "," +
        feature("S2A_NOGEOM", "2021-01-01T10:00:00Z", "") + "," +
        feature("", "2021-01-01T10:00:00Z", SQUARE) + "," +
        feature("S2A_BADDATE", "2021-02-30T10:00:00Z", SQUARE) + "," +
        feature("S2A_POINT", "2021-01-01T10:00:00Z", R"({"type":"Point","coordinates":[1,2]})") +
        "," +
        feature("S2A_SHORTRING", "2021-01-01T10:00:00Z",
                R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]})") +
        ",42]}";
    Page page = parse_page(body, "s2");
    CHECK(page.feature_count == 7);
    REQUIRE(page.records.size() == 1);
    CHECK(page.records[0].reference == "S2A_GOOD");
    CHECK(format_sql_timestamp(page.records[0].obstime) == "2021-01-01 10:00:00.500000");
    REQUIRE(page.bad.size() == 6);
    CHECK(page.bad[0].index == 1);
    CHECK(page.bad[0].reason == "no geometry");
    CHECK(page.bad[1].title.empty());
    CHECK(page.bad[1].reason == "no title");
    CHECK(page.bad[2].reason == "startDate '2021-02-30T10:00:00Z' is not an ISO-8601 time");
    CHECK(page.bad[3].reason == "geometry type Point is not a polygon");
    CHECK(page.bad[4].reason == "a ring has fewer than 4 positions");
    CHECK(page.bad[5].reason == "feature is not an object");
}

TEST_CASE("catalog: an unclosed ring is closed, a height ordinate dropped", "[catalog]") {
    std::string body =
        "{\"features\":[" +
        feature("S2A_X", "2021-01-01T00:00:00Z",
                R"({"type":"Polygon","coordinates":[[[0,0,5],[2,0,5],[2,2,5],[0,2,5]]]})") +
        "]}";
    Page page = parse_page(body, "s2");
    REQUIRE(page.records.size() == 1);
    CHECK(to_wkt(page.records[0].footprint) == "POLYGON((0 0,2 0,2 2,0 2,0 0))");
}

TEST_CASE("catalog: malformed responses are format errors", "[catalog]") {
    CHECK_THROWS_AS(parse_page("{\"features\": [", "s2"), ResponseFormatError);
    CHECK_THROWS_WITH(parse_page("<html>busy</html>", "s2"), "not valid JSON (byte 1)");
    CHECK_THROWS_WITH(parse_page("[]", "s2"), "not a JSON object");
    CHECK_THROWS_WITH(parse_page(R"({"detail":{"ErrorMessage":"bad"}})", "s2"),
                      "no 'features' array: {\"ErrorMessage\":\"bad\"}");
    Page empty = parse_page(R"({"type":"FeatureCollection","features":[]})", "s2");
    CHECK(empty.feature_count == 0);
    CHECK(empty.records.empty());
}

TEST_CASE("catalog: rel=next link is read from properties.links", "[catalog]") {
    Page page =
        parse_page(R"({"features":[],"properties":{"links":[)"
                   R"({"rel":"self","href":"http://a/1"},{"rel":"next","href":"http://a/2"}]}})",
                   "s2");
    REQUIRE(page.next_url.has_value());
    CHECK(*page.next_url == "http://a/2");
}

TEST_CASE("catalog: timestamps: ms, µs, ns, offsets, invalid", "[catalog]") {
    CHECK(parse_timestamp("1970-01-01T00:00:00Z") == 0);
    CHECK(parse_timestamp("1970-01-01T00:00:01.5Z") == 1'500'000);
    CHECK(format_sql_timestamp(*parse_timestamp("2023-04-20T12:26:59.025000Z")) ==
          "2023-04-20 12:26:59.025000");
    CHECK(format_sql_timestamp(*parse_timestamp("2020-06-06T23:59:59.999999999Z")) ==
          "2020-06-06 23:59:59.999999");
    CHECK(format_iso_timestamp(*parse_timestamp("2020-06-06T02:00:00+02:00")) ==
          "2020-06-06T00:00:00Z");
    CHECK(format_iso_timestamp(*parse_timestamp("2020-06-06 00:00:00")) == "2020-06-06T00:00:00Z");
    // 2024-02-29 is 19782 days after the epoch: (2024-1970)*365 + 13 leap days + 59 = 19782
    CHECK(parse_date("2024-02-29") == 19782 * MICROS_PER_DAY);
    CHECK(format_iso_timestamp(-1) == "1969-12-31T23:59:59.999999Z");
    for (const char* bad :
         {"", "2023-02-29", "2023-13-01", "2023-1-01", "2023-01-01x", "2023/01/01"}) {
        INFO(bad);
        CHECK_FALSE(parse_date(bad).has_value());
    }
    for (const char* bad : {"2023-01-01", "2023-01-01T25:00:00Z", "2023-01-01T10:00Z",
                            "2023-01-01T10:00:00.Z", "2023-01-01T10:00:00Q"}) {
        INFO(bad);
        CHECK_FALSE(parse_timestamp(bad).has_value());
    }
}

TEST_CASE("catalog: EWKB hex of a polygon", "[catalog]") {
    // /usr/bin/python3 -c 'import struct; b=struct.pack("<BIII",1,3|0x20000000,4326,1)+
    //   struct.pack("<I",4)+b"".join(struct.pack("<dd",x,y) for x,y in
    //   [(0,0),(1,0),(1,1),(0,0)]); print(b.hex().upper())'
    Polygon p{{Ring{{0, 0}, {1, 0}, {1, 1}, {0, 0}}}};
    CHECK(to_ewkb_hex(p) ==
          "0103000020E6100000010000000400000000000000000000000000000000000000000000000000F03F000000"
          "0000000000000000000000F03F000000000000F03F00000000000000000000000000000000");
}

TEST_CASE("catalog: convex hull", "[catalog]") {
    CHECK(convex_hull({{0, 0}, {1, 1}, {2, 2}}).empty()); // collinear
    Ring h = convex_hull({{0, 0}, {2, 0}, {1, 1}, {2, 2}, {0, 2}, {1, 0.5}});
    CHECK(to_wkt(Polygon{{h}}) == "POLYGON((0 0,2 0,2 2,0 2,0 0))");
}

TEST_CASE("catalog: S2 product names", "[catalog]") {
    auto n = parse_s2_name("S2A_MSIL2A_20230420T113631_N0509_R123_T33XWG_20230420T161746.SAFE");
    REQUIRE(n.has_value());
    CHECK(n->baseline == 509);
    CHECK(n->tile == "T33XWG");
    CHECK(n->generation == "20230420T161746");
    CHECK(n->group_key() == "S2A_MSIL2A_20230420T113631_R123_T33XWG");
    CHECK_FALSE(
        parse_s2_name("S1B_IW_GRDH_1SDV_20200606T060612_20200606T060637_021909_029944_0FCC.SAFE"));
    CHECK_FALSE(parse_s2_name("S2A_MSIL2A_2023_N0509_R123_T33XWG_20230420T161746.SAFE"));
}

TEST_CASE("catalog: --baseline latest on the real N0500 duplicates", "[catalog]") {
    auto refs = [](const std::vector<SceneRecord>& rs) {
        std::vector<std::string> out;
        for (const auto& r : rs) {
            out.push_back(r.reference);
        }
        return out;
    };
    auto n0500 = parse_page(read_data("opensearch_s2_l2a_2018-08-20_with_N0500.json"), "s2");
    CHECK(refs(keep_latest_baseline(n0500.records)) ==
          std::vector<std::string>{
              "S2B_MSIL2A_20180820T093029_N0500_R136_T34TES_20230708T134857.SAFE",
              "S2B_MSIL2A_20180820T093029_N0500_R136_T34TER_20230708T134857.SAFE"});
    // N0301 twice and N0500 twice (generated 2023-01-02 and 2023-01-03): the later N0500 wins.
    auto unv = parse_page(read_data("opensearch_s2_l2a_tileId_29UNV_2021-10.json"), "s2");
    CHECK(refs(keep_latest_baseline(unv.records)) ==
          std::vector<std::string>{
              "S2B_MSIL2A_20211002T114349_N0500_R123_T29UNV_20230103T031448.SAFE"});
    auto l1c = parse_page(read_data("opensearch_s2_l1c_pretty_2020-11.json"), "s2");
    CHECK(keep_latest_baseline(l1c.records).size() == 24);
    auto sval = parse_page(read_data("opensearch_s2_l2a_2023-04-19_svalbard.json"), "s2");
    CHECK(keep_latest_baseline(sval.records).size() == 7);
    auto s1 = parse_page(read_data("opensearch_s1_grd_2020-06-06.json"), "bs");
    CHECK(keep_latest_baseline(s1.records).size() == 2); // names that do not parse are kept
}
