#include "baims/catalog/search.hpp"

#include "baims/core/error.hpp"
#include "baims/core/interrupt.hpp"
#include "baims/core/log.hpp"

#include <algorithm>
#include <vector>

namespace baims::catalog {

namespace {

bool retryable(const HttpResponse& r) {
    return r.status == 0 || r.status == 429 || (r.status >= 500 && r.status <= 599);
}

std::string describe(const HttpResponse& r) {
    return r.status == 0 ? r.error : "HTTP " + std::to_string(r.status);
}

// A short, single-line excerpt of an error body for the message.
std::string excerpt(const std::string& body) {
    std::string s = body.substr(0, 200);
    std::replace_if(
        s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
    return s;
}

std::string millis_text(std::chrono::milliseconds d) {
    if (d.count() >= 1000 && d.count() % 1000 == 0) {
        return std::to_string(d.count() / 1000) + " s";
    }
    return std::to_string(d.count()) + " ms";
}

} // namespace

std::pair<TimeRange, TimeRange> split_range(const TimeRange& range) {
    const Micros length = range.end - range.start;
    if (length < 2 * MICROS_PER_SECOND) {
        throw RemoteError("catalogue query failed: more results between " +
                              format_iso_timestamp(range.start) + " and " +
                              format_iso_timestamp(range.end) +
                              " than the service's offset limit allows",
                          "Raise --offset-limit if the service allows it, or use a smaller AOI");
    }
    Micros mid = range.start + length / 2;
    mid -= ((mid % MICROS_PER_SECOND) + MICROS_PER_SECOND) % MICROS_PER_SECOND;
    if (mid <= range.start) {
        mid = range.start + MICROS_PER_SECOND;
    }
    return {TimeRange{range.start, mid}, TimeRange{mid, range.end}};
}

std::string collection_for_card(const std::string& card) {
    return card == "s2" ? "Sentinel2" : "Sentinel1";
}

std::string url_encode(std::string_view s) {
    static constexpr char HEX[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size() * 3);
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out += ch;
        } else {
            out += '%';
            out += HEX[c >> 4];
            out += HEX[c & 0x0F];
        }
    }
    return out;
}

std::string url_host(std::string_view url) {
    auto scheme = url.find("://");
    if (scheme != std::string_view::npos) {
        url.remove_prefix(scheme + 3);
    }
    url = url.substr(0, url.find_first_of("/?#"));
    if (auto at = url.rfind('@'); at != std::string_view::npos) {
        url.remove_prefix(at + 1); // never show user:password@
    }
    return std::string(url);
}

std::string build_search_url(const SearchParams& p, const TimeRange& range) {
    std::string base = p.base_url;
    while (!base.empty() && base.back() == '/') {
        base.pop_back();
    }
    std::string url = base + "/resto/api/collections/" + p.collection + "/search.json?";
    url += "geometry=" + url_encode(p.geometry_wkt);
    url += "&startDate=" + url_encode(format_iso_timestamp(range.start));
    url += "&completionDate=" + url_encode(format_iso_timestamp(range.end));
    url += "&productType=" + url_encode(p.product_type);
    url += "&sortParam=startDate&sortOrder=ascending";
    url += "&maxRecords=" + std::to_string(p.max_records);
    url += "&page=1";
    return url;
}

bool page_within_limit(long page, int max_records, long offset_limit) {
    return page * static_cast<long>(max_records) <= offset_limit;
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry,
                                        std::optional<long> retry_after_seconds) {
    using std::chrono::milliseconds;
    if (retry_after_seconds && *retry_after_seconds >= 0) {
        return std::min(milliseconds(*retry_after_seconds * 1000), policy.max_delay);
    }
    milliseconds d = policy.base_delay;
    for (int i = 1; i < retry && d < policy.max_delay; ++i) {
        d *= 2;
    }
    return std::min(d, policy.max_delay);
}

std::string fetch_with_retries(const Fetcher& fetch, const std::string& url,
                               const RetryPolicy& policy, const Sleeper& sleep) {
    const std::string host = url_host(url);
    const int tries = 1 + std::max(0, policy.retries);
    for (int attempt = 1;; ++attempt) {
        check_interrupted();
        HttpResponse r = fetch(url);
        check_interrupted();
        if (r.status == 200) {
            return std::move(r.body);
        }
        if (!retryable(r)) {
            std::string what = "catalogue query failed: HTTP " + std::to_string(r.status) +
                               " from " + host + "; nothing was written";
            if (!r.body.empty()) {
                what += " (response: " + excerpt(r.body) + ")";
            }
            throw RemoteError(what, "Check the AOI, dates and product type");
        }
        if (attempt >= tries) {
            throw RemoteError("catalogue query failed: " + describe(r) + " from " + host +
                              "; nothing was written, retry later");
        }
        auto delay = backoff_delay(policy, attempt, r.retry_after_seconds);
        log::warn(describe(r) + " from " + host + "; retry " + std::to_string(attempt) + " of " +
                  std::to_string(tries - 1) + " in " + millis_text(delay));
        sleep(delay);
    }
}

SearchStats search_all(const Fetcher& fetch, const SearchParams& params, const TimeRange& range,
                       const std::string& card, const RetryPolicy& policy, const Sleeper& sleep,
                       const PageSink& sink) {
    SearchStats stats;
    Fetcher counting = [&](const std::string& url) {
        ++stats.requests;
        return fetch(url);
    };
    std::vector<TimeRange> todo{range}; // a stack: the earlier half is searched first
    while (!todo.empty()) {
        const TimeRange r = todo.back();
        todo.pop_back();
        std::string url = build_search_url(params, r);
        for (long page_no = 1;; ++page_no) {
            std::string body = fetch_with_retries(counting, url, policy, sleep);
            Page page;
            try {
                page = parse_page(body, card);
            } catch (const ResponseFormatError& e) {
                throw RemoteError("catalogue response from " + url + " is " + e.what() +
                                      "; nothing was written",
                                  "Retry later; if it persists, report the response");
            }
            ++stats.pages;
            log::info("page " + std::to_string(page_no) + " from " + format_iso_timestamp(r.start) +
                      " to " + format_iso_timestamp(r.end) + ": " +
                      std::to_string(page.feature_count) + " features");
            log::debug("page URL: " + url);
            std::optional<std::string> next = page.next_url;
            sink(std::move(page), url);
            if (!next) {
                break;
            }
            if (!page_within_limit(page_no + 1, params.max_records, params.offset_limit)) {
                auto [first, second] = split_range(r);
                log::info("more than " + std::to_string(params.offset_limit) + " results from " +
                          format_iso_timestamp(r.start) + " to " + format_iso_timestamp(r.end) +
                          "; splitting the range at " + format_iso_timestamp(second.start));
                ++stats.splits;
                todo.push_back(second);
                todo.push_back(first);
                break;
            }
            url = std::move(*next);
        }
    }
    return stats;
}

} // namespace baims::catalog
