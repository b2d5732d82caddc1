// --from-file records are filtered as a live query would filter them (issue 7 #5, SPEC 8):
// collection from CARD, product type, dates. On the real responses of tests/data/cdse; the
// expected counts come from the files:
//   cd tests/data/cdse && /usr/bin/python3 -c '
//   import json
//   d=json.load(open("opensearch_s2_l2a_2023-04-19_svalbard.json"))
//   print(sum(f["properties"]["startDate"] >= "2023-04-20" for f in d["features"]))'  → 3
//   (S1 file: collection SENTINEL-1, productType IW_GRDH_1S ×2; L1C file: S2MSI1C ×32)

#include "baims/catalog/filter.hpp"
#include "baims/catalog/opensearch.hpp"
#include "baims/catalog/time.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace baims::catalog;

namespace {

std::vector<SceneRecord> records_of(const std::string& name, const std::string& card) {
    std::ifstream in(std::string(BAIMS_SOURCE_DIR "/tests/data/cdse/") + name, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream ss;
    ss << in.rdbuf();
    Page p = parse_page(ss.str(), card);
    REQUIRE(p.bad.empty());
    return std::move(p.records);
}

TimeRange days(const char* a, const char* b) {
    return {*parse_date(a), *parse_date(b)};
}

} // namespace

TEST_CASE("catalog filter: collection and productType are read from the response", "[catalog]") {
    auto s1 = records_of("opensearch_s1_grd_2020-06-06.json", "bs");
    REQUIRE(s1.size() == 2);
    CHECK(s1[0].collection == "SENTINEL-1");
    CHECK(s1[0].product_type == "IW_GRDH_1S");
    auto l2a = records_of("opensearch_s2_l2a_2023-04-19_svalbard.json", "s2");
    CHECK(l2a[0].collection == "SENTINEL-2");
    CHECK(l2a[0].product_type == "S2MSI2A");
}

TEST_CASE("catalog filter: an S1 GRD file under s2 S2MSI2A is dropped whole (collection)",
          "[catalog]") {
    DropCounts d;
    auto kept = filter_records(records_of("opensearch_s1_grd_2020-06-06.json", "s2"), "s2",
                               "S2MSI2A", days("2020-01-01", "2021-01-01"), d);
    CHECK(kept.empty());
    CHECK(d.collection == 2);
    CHECK(d.total() == 2);
    // ... and under bs CARD-BS by its product type (GRD is not CARD-BS).
    DropCounts b;
    kept = filter_records(records_of("opensearch_s1_grd_2020-06-06.json", "bs"), "bs", "CARD-BS",
                          days("2020-01-01", "2021-01-01"), b);
    CHECK(kept.empty());
    CHECK(b.product_type == 2);
    CHECK(b.collection == 0);
}

TEST_CASE("catalog filter: an L1C file under S2MSI2A is dropped (product type)", "[catalog]") {
    DropCounts d;
    auto all = records_of("opensearch_s2_l1c_pretty_2020-11.json", "s2");
    auto kept = filter_records(all, "s2", "S2MSI2A", days("2020-11-01", "2021-01-01"), d);
    CHECK(kept.empty());
    CHECK(d.product_type == 32);
    DropCounts ok;
    kept = filter_records(all, "s2", "S2MSI1C", days("2020-11-01", "2021-01-01"), ok);
    CHECK(kept.size() == 32);
    CHECK(ok.total() == 0);
}

TEST_CASE("catalog filter: dates are [START, END) on startDate", "[catalog]") {
    DropCounts d;
    auto kept = filter_records(records_of("opensearch_s2_l2a_2023-04-19_svalbard.json", "s2"), "s2",
                               "S2MSI2A", days("2023-04-20", "2023-04-21"), d);
    CHECK(kept.size() == 3);
    CHECK(d.dates == 4);
    for (const auto& r : kept) {
        CHECK(r.obstime >= *parse_date("2023-04-20"));
    }
    // END is exclusive: nothing of the 20th with END 2023-04-20.
    DropCounts e;
    kept = filter_records(records_of("opensearch_s2_l2a_2023-04-19_svalbard.json", "s2"), "s2",
                          "S2MSI2A", days("2023-04-19", "2023-04-20"), e);
    CHECK(kept.size() == 4);
    CHECK(describe_drops(e, 7, "s2", "S2MSI2A", "svalbard") ==
          "dropped 3 of 7 records from the files that the query would not return: 3 outside the "
          "dates");
}
