// Query URLs, date-range splitting, rel=next paging and retries, with an in-memory fake of the
// resto search endpoint (no network).

#include "baims/catalog/search.hpp"
#include "baims/core/error.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <set>

using namespace baims::catalog;
using std::chrono::milliseconds;

namespace {

Micros at(const char* iso) {
    auto t = parse_timestamp(iso);
    REQUIRE(t.has_value());
    return *t;
}

std::string url_decode(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::map<std::string, std::string> query_of(const std::string& url) {
    std::map<std::string, std::string> q;
    auto qpos = url.find('?');
    std::string rest = qpos == std::string::npos ? "" : url.substr(qpos + 1);
    size_t start = 0;
    while (start <= rest.size()) {
        size_t amp = rest.find('&', start);
        std::string kv =
            rest.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
        auto eq = kv.find('=');
        if (eq != std::string::npos) {
            q[kv.substr(0, eq)] = url_decode(kv.substr(eq + 1));
        }
        if (amp == std::string::npos) {
            break;
        }
        start = amp + 1;
    }
    return q;
}

// A resto-like search over records with the given start times: filters
// startDate <= t < completionDate, sorts ascending, pages by maxRecords and links rel=next.
struct FakeResto {
    std::vector<Micros> times;
    std::vector<std::string> urls; // every request
    long max_page_seen = 0;

    HttpResponse operator()(const std::string& url) {
        urls.push_back(url);
        auto q = query_of(url);
        const Micros s = at(q.at("startDate").c_str());
        const Micros e = at(q.at("completionDate").c_str());
        const long per_page = std::stol(q.at("maxRecords"));
        const long page = std::stol(q.at("page"));
        max_page_seen = std::max(max_page_seen, page);
        std::vector<size_t> hits;
        for (size_t i = 0; i < times.size(); ++i) {
            if (times[i] >= s && times[i] < e) {
                hits.push_back(i);
            }
        }
        std::string body = R"({"type":"FeatureCollection","features":[)";
        const size_t first = static_cast<size_t>((page - 1) * per_page);
        for (size_t k = first; k < hits.size() && k < first + static_cast<size_t>(per_page); ++k) {
            if (k > first) {
                body += ',';
            }
            body += R"({"type":"Feature","geometry":{"type":"Polygon","coordinates":)"
                    R"([[[0,0],[1,0],[1,1],[0,0]]]},"properties":{"title":"S2A_REC_)" +
                    std::to_string(hits[k]) + R"(","startDate":")" +
                    format_iso_timestamp(times[hits[k]]) + "\"}}";
        }
        body += R"(],"properties":{"links":[)";
        if (first + static_cast<size_t>(per_page) < hits.size()) {
            std::string next = url;
            next.replace(next.find("&page="), std::string::npos,
                         "&page=" + std::to_string(page + 1));
            body += R"({"rel":"next","href":")" + next + "\"}";
        }
        body += "]}}";
        return HttpResponse{200, body, std::nullopt, {}};
    }
};

SearchParams params(int max_records, long offset_limit) {
    SearchParams p;
    p.base_url = "http://fake.test/";
    p.collection = "Sentinel2";
    p.geometry_wkt = "POLYGON((0 0,1 0,1 1,0 0))";
    p.product_type = "S2MSI2A";
    p.max_records = max_records;
    p.offset_limit = offset_limit;
    return p;
}

const RetryPolicy FAST{5, milliseconds(10), milliseconds(1000)};

} // namespace

TEST_CASE("catalog: search URL", "[catalog]") {
    SearchParams p = params(1000, 10000);
    TimeRange r{at("2023-03-01T00:00:00Z"), at("2023-04-01T00:00:00Z")};
    CHECK(build_search_url(p, r) ==
          "http://fake.test/resto/api/collections/Sentinel2/search.json?"
          "geometry=POLYGON%28%280%200%2C1%200%2C1%201%2C0%200%29%29"
          "&startDate=2023-03-01T00%3A00%3A00Z&completionDate=2023-04-01T00%3A00%3A00Z"
          "&productType=S2MSI2A&sortParam=startDate&sortOrder=ascending&maxRecords=1000&page=1");
    CHECK(collection_for_card("s2") == "Sentinel2");
    CHECK(collection_for_card("c6") == "Sentinel1");
    CHECK(url_host("https://user:pw@catalogue.dataspace.copernicus.eu/resto?x=1") ==
          "catalogue.dataspace.copernicus.eu");
    CHECK(url_host("http://127.0.0.1:8080/a") == "127.0.0.1:8080");
}

TEST_CASE("catalog: date-range splitting arithmetic", "[catalog]") {
    // 31 days: the midpoint is 15.5 days after the start.
    auto [a, b] = split_range({at("2023-03-01T00:00:00Z"), at("2023-04-01T00:00:00Z")});
    CHECK(a == TimeRange{at("2023-03-01T00:00:00Z"), at("2023-03-16T12:00:00Z")});
    CHECK(b == TimeRange{at("2023-03-16T12:00:00Z"), at("2023-04-01T00:00:00Z")});
    // 3 s: the midpoint 1.5 s is rounded down to 1 s.
    auto [c, d] = split_range({0, 3 * MICROS_PER_SECOND});
    CHECK(c == TimeRange{0, MICROS_PER_SECOND});
    CHECK(d == TimeRange{MICROS_PER_SECOND, 3 * MICROS_PER_SECOND});
    // Below two seconds there is nothing left to split.
    CHECK_THROWS_AS(split_range({0, MICROS_PER_SECOND + 999'999}), baims::RemoteError);
    // Offset limit: page*maxRecords may reach the limit, not pass it.
    CHECK(page_within_limit(10, 1000, 10000));
    CHECK_FALSE(page_within_limit(11, 1000, 10000));
    CHECK(page_within_limit(5000, 2, 10000));
    CHECK_FALSE(page_within_limit(5001, 2, 10000));
}

TEST_CASE("catalog: paging follows rel=next until there is none", "[catalog]") {
    FakeResto resto;
    for (int i = 0; i < 25; ++i) {
        resto.times.push_back(at("2023-03-01T00:00:00Z") + i * 3600 * MICROS_PER_SECOND);
    }
    std::vector<std::string> refs;
    std::vector<std::string> page_urls;
    auto stats = search_all(
        std::ref(resto), params(3, 10000), {at("2023-03-01T00:00:00Z"), at("2023-04-01T00:00:00Z")},
        "s2", FAST, [](milliseconds) {},
        [&](Page&& p, const std::string& url) {
            page_urls.push_back(url);
            for (auto& r : p.records) {
                refs.push_back(r.reference);
            }
        });
    CHECK(stats.pages == 9); // ceil(25 / 3)
    CHECK(stats.requests == 9);
    CHECK(stats.splits == 0);
    REQUIRE(refs.size() == 25);
    CHECK(refs.front() == "S2A_REC_0");
    CHECK(refs.back() == "S2A_REC_24");
    CHECK(page_urls[1].substr(page_urls[1].size() - 7) == "&page=2");
    CHECK(page_urls == resto.urls);
}

TEST_CASE("catalog: the date range is split when the next page would pass the offset limit",
          "[catalog]") {
    FakeResto resto;
    for (int i = 0; i < 25; ++i) { // one record every 7 hours from 1 March
        resto.times.push_back(at("2023-03-01T00:00:00Z") + i * 7 * 3600 * MICROS_PER_SECOND);
    }
    std::set<std::string> unique;
    size_t received = 0;
    // 3 a page, at most 6 results reachable per range: 2 pages, then split.
    auto stats = search_all(
        std::ref(resto), params(3, 6), {at("2023-03-01T00:00:00Z"), at("2023-04-01T00:00:00Z")},
        "s2", FAST, [](milliseconds) {},
        [&](Page&& p, const std::string&) {
            for (auto& r : p.records) {
                unique.insert(r.reference);
                ++received;
            }
        });
    CHECK(unique.size() == 25); // every record, none lost at the split points
    CHECK(received >= 25);      // some arrive twice (before and after a split)
    CHECK(stats.splits > 0);
    CHECK(resto.max_page_seen == 2);
    for (const auto& u : resto.urls) {
        CHECK(u.find("&page=3") == std::string::npos);
    }
}

TEST_CASE("catalog: more results in one second than the limit: a clear error", "[catalog]") {
    FakeResto resto;
    resto.times.assign(10, at("2023-03-05T10:00:00Z"));
    CHECK_THROWS_WITH(
        search_all(
            std::ref(resto), params(2, 4), {at("2023-03-01T00:00:00Z"), at("2023-04-01T00:00:00Z")},
            "s2", FAST, [](milliseconds) {}, [](Page&&, const std::string&) {}),
        Catch::StartsWith("catalogue query failed: more results between 2023-03-05T10:00:00Z and "
                          "2023-03-05T10:00:01Z than the service's offset limit allows"));
}

TEST_CASE("catalog: retries: 5xx and 429 then success, with backoff and Retry-After", "[catalog]") {
    std::vector<HttpResponse> script{{500, "oops", std::nullopt, {}},
                                     {429, "", 3, {}},
                                     {503, "", std::nullopt, {}},
                                     {0, "", std::nullopt, "Connection refused"},
                                     {200, "{}", std::nullopt, {}}};
    size_t calls = 0;
    Fetcher f = [&](const std::string&) { return script.at(calls++); };
    std::vector<milliseconds> slept;
    std::string body =
        fetch_with_retries(f, "http://h.test/x", FAST, [&](milliseconds d) { slept.push_back(d); });
    CHECK(body == "{}");
    CHECK(calls == 5);
    // 10 ms, Retry-After 3 s → capped at 1 s, then 10*2^2 = 40 ms, 10*2^3 = 80 ms
    CHECK(slept == std::vector<milliseconds>{milliseconds(10), milliseconds(1000), milliseconds(40),
                                             milliseconds(80)});
}

TEST_CASE("catalog: retries used up: RemoteError with the exact message", "[catalog]") {
    // FAST has retries = 5: one attempt and five retries (issue 7: --retries counted attempts).
    size_t calls = 0;
    Fetcher f = [&](const std::string&) {
        ++calls;
        return HttpResponse{503, "", std::nullopt, {}};
    };
    try {
        fetch_with_retries(f, "https://catalogue.dataspace.copernicus.eu/resto/x", FAST,
                           [](milliseconds) {});
        FAIL("no exception");
    } catch (const baims::RemoteError& e) {
        CHECK(std::string(e.what()) == "catalogue query failed: HTTP 503 from "
                                       "catalogue.dataspace.copernicus.eu; nothing was written, "
                                       "retry later");
        CHECK(e.exit_code() == 7);
    }
    CHECK(calls == 6);
}

TEST_CASE("catalog: --retries 0 makes one request, --retries 2 three", "[catalog]") {
    for (int retries : {0, 2}) {
        size_t calls = 0;
        Fetcher f = [&](const std::string&) {
            ++calls;
            return HttpResponse{503, "", std::nullopt, {}};
        };
        RetryPolicy policy{retries, milliseconds(1), milliseconds(1)};
        CHECK_THROWS_AS(fetch_with_retries(f, "http://h.test/x", policy, [](milliseconds) {}),
                        baims::RemoteError);
        CHECK(calls == static_cast<size_t>(retries + 1));
    }
}

TEST_CASE("catalog: a 4xx other than 429 is not retried", "[catalog]") {
    size_t calls = 0;
    Fetcher f = [&](const std::string&) {
        ++calls;
        return HttpResponse{400, "{\"detail\":\"bad\ngeometry\"}", std::nullopt, {}};
    };
    CHECK_THROWS_WITH(fetch_with_retries(f, "http://h.test/x", FAST, [](milliseconds) {}),
                      "catalogue query failed: HTTP 400 from h.test; nothing was written "
                      "(response: {\"detail\":\"bad geometry\"})");
    CHECK(calls == 1);
}

TEST_CASE("catalog: malformed JSON from the service names the URL", "[catalog]") {
    Fetcher f = [](const std::string&) { return HttpResponse{200, "{\"features\": [", {}, {}}; };
    CHECK_THROWS_WITH(search_all(
                          f, params(10, 100), {0, MICROS_PER_DAY}, "s2", FAST, [](milliseconds) {},
                          [](Page&&, const std::string&) {}),
                      Catch::StartsWith("catalogue response from http://fake.test/resto/api/"
                                        "collections/Sentinel2/search.json?") &&
                          Catch::EndsWith(" is not valid JSON (byte 15); nothing was written"));
}

TEST_CASE("catalog: backoff delays double and are capped", "[catalog]") {
    RetryPolicy p{10, milliseconds(100), milliseconds(500)};
    CHECK(backoff_delay(p, 1, std::nullopt) == milliseconds(100));
    CHECK(backoff_delay(p, 2, std::nullopt) == milliseconds(200));
    CHECK(backoff_delay(p, 3, std::nullopt) == milliseconds(400));
    CHECK(backoff_delay(p, 4, std::nullopt) == milliseconds(500));
    CHECK(backoff_delay(p, 1, 0) == milliseconds(0));
}
