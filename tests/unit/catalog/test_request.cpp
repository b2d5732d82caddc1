// Request validation messages, the c12 card value and the summary formats (no I/O).

#include "baims/catalog/catalog.hpp"
#include "baims/core/error.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace baims::catalog;

namespace {

CatalogRequest request(std::string card = "s2", std::string ptype = "S2MSI2A",
                       std::string start = "2023-03-01", std::string end = "2023-04-01") {
    CatalogRequest r;
    r.aoi = "dk";
    r.start = std::move(start);
    r.end = std::move(end);
    r.card = std::move(card);
    r.product_type = std::move(ptype);
    return r;
}

std::string usage_message(const CatalogRequest& r) {
    try {
        validate(r);
    } catch (const baims::UsageError& e) {
        return e.what();
    }
    return "(valid)";
}

} // namespace

TEST_CASE("catalog: request validation messages", "[catalog]") {
    CHECK(usage_message(request()) == "(valid)");
    CHECK(usage_message(request("c12", "CARD-COH12")) == "(valid)");
    CHECK(usage_message(request("S2")) ==
          "CARD 'S2' is not one of s2, bs, c6, c12 (did you mean 's2'?)");
    CHECK(usage_message(request("s2", "S2MSI2")) ==
          "PTYPE 'S2MSI2' is not one of S2MSI2A, S2MSI1C, CARD-BS, CARD-COH6, CARD-COH12 (did "
          "you mean 'S2MSI2A'?)");
    CHECK(usage_message(request("bs", "S2MSI2A")) ==
          "PTYPE S2MSI2A does not go with CARD bs; expected CARD-BS");
    CHECK(usage_message(request("s2", "S2MSI2A", "2023-3-01")) ==
          "START '2023-3-01' is not a date (YYYY-MM-DD)");
    CHECK(usage_message(request("s2", "S2MSI2A", "2023-03-01", "2023-02-29")) ==
          "END '2023-02-29' is not a date (YYYY-MM-DD)");
    CHECK(usage_message(request("s2", "S2MSI2A", "2023-03-01", "2023-03-01")) ==
          "END 2023-03-01 is not after START 2023-03-01");
    auto r = request();
    r.max_records = 2000;
    r.offset_limit = 1000;
    CHECK(usage_message(r) == "--offset-limit 1000 is smaller than --max-records 2000");
    r = request();
    r.base_url = "ftp://example.org";
    CHECK(usage_message(r) == "--base-url 'ftp://example.org' is not an http:// or https:// URL");
    CHECK(card_column_value("c12") == "c1");
    CHECK(card_column_value("bs") == "bs");
}

TEST_CASE("catalog: summary table and JSON", "[catalog]") {
    std::vector<SummaryRow> rows{{"bs", "1A", 320, "2020-10-02 05:32:37", "2021-02-19 17:17:31"},
                                 {"s2", "2B", 3392, "2020-10-02 10:47:59", "2021-12-30 10:33:39"}};
    CHECK(format_summary_table(rows) ==
          "card  sensor  count  min                  max\n"
          "bs    1A        320  2020-10-02 05:32:37  2021-02-19 17:17:31\n"
          "s2    2B       3392  2020-10-02 10:47:59  2021-12-30 10:33:39\n");
    CHECK(format_summary_table({}) == "card  sensor  count  min  max\n");
    CatalogResult res;
    res.summary = rows;
    res.inserted = 7;
    auto j = nlohmann::json::parse(format_summary_json(request(), res));
    CHECK(j["aoi"] == "dk");
    CHECK(j["inserted"] == 7);
    CHECK(j["source"] == DEFAULT_BASE_URL);
    CHECK(j["summary"][1] == nlohmann::json{{"card", "s2"},
                                            {"sensor", "2B"},
                                            {"count", 3392},
                                            {"min", "2020-10-02 10:47:59"},
                                            {"max", "2021-12-30 10:33:39"}});
}
