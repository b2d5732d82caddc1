#pragma once
// Querying the catalogue: URLs, paging (rel=next), date-range splitting at the service's offset
// limit, and retries with exponential backoff. Transport is injected (Fetcher), so all of this is
// tested without a network; http_fetcher() is the libcurl implementation.

#include "baims/catalog/opensearch.hpp"
#include "baims/catalog/time.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace baims::catalog {

inline constexpr const char* DEFAULT_BASE_URL = "https://catalogue.dataspace.copernicus.eu";

struct TimeRange {
    Micros start = 0; // inclusive
    Micros end = 0;   // the query's completionDate
    bool operator==(const TimeRange&) const = default;
};

// Two halves at the midpoint, rounded down to a whole second. Throws RemoteError when the range
// is shorter than two seconds (it cannot be split further).
std::pair<TimeRange, TimeRange> split_range(const TimeRange& range);

struct SearchParams {
    std::string base_url = DEFAULT_BASE_URL;
    std::string collection;    // Sentinel2 or Sentinel1 (collection_for_card)
    std::string geometry_wkt;  // the AOI polygon
    std::string product_type;  // S2MSI2A, CARD-BS, …
    int max_records = 1000;    // page size
    long offset_limit = 10000; // the service refuses page*maxRecords beyond this
};

// "Sentinel2" for s2, "Sentinel1" for bs, c6, c12.
std::string collection_for_card(const std::string& card);

// {base}/resto/api/collections/{collection}/search.json?geometry=…&startDate=…&completionDate=…
// &productType=…&sortParam=startDate&sortOrder=ascending&maxRecords=…&page=1 (values URL-encoded).
std::string build_search_url(const SearchParams& params, const TimeRange& range);

// Percent-encoding of a query value (RFC 3986 unreserved characters kept).
std::string url_encode(std::string_view s);

// "host[:port]" of a URL, for messages.
std::string url_host(std::string_view url);

// Whether page number `page` (1-based) of size max_records stays within the offset limit.
bool page_within_limit(long page, int max_records, long offset_limit);

struct HttpResponse {
    long status = 0; // 0 when the transfer failed (error says why)
    std::string body;
    std::optional<long> retry_after_seconds;
    std::string error; // transport error text (DNS, refused, timeout)
};

using Fetcher = std::function<HttpResponse(const std::string& url)>;
using Sleeper = std::function<void(std::chrono::milliseconds)>;

struct RetryPolicy {
    int retries = 5;                            // retries per URL after the first attempt
    std::chrono::milliseconds base_delay{1000}; // 1st retry waits this, then doubles
    std::chrono::milliseconds max_delay{60000}; // cap for the backoff and Retry-After
};

// The wait before retry number `retry` (1-based): base * 2^(retry-1), capped; Retry-After (in
// seconds) wins when given, also capped.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry,
                                        std::optional<long> retry_after_seconds);

// GETs url until HTTP 200; retries 429, 5xx and transport errors up to policy.retries times (so
// at most retries + 1 requests); throws RemoteError "catalogue query failed: HTTP 503 from
// <host>; nothing was written, retry later" when the retries are used up, and at once for other
// statuses.
std::string fetch_with_retries(const Fetcher& fetch, const std::string& url,
                               const RetryPolicy& policy, const Sleeper& sleep);

struct SearchStats {
    long requests = 0; // HTTP requests, retries included
    long pages = 0;    // pages received
    long splits = 0;   // date ranges split at the offset limit
};

// Called for each page, in order. url is where it came from.
using PageSink = std::function<void(Page&& page, const std::string& url)>;

// Runs the whole search over range: follows rel=next links; when the next page would pass the
// offset limit, splits the range in two and searches each half (records already received are
// passed on as well; the caller de-duplicates by reference). Throws RemoteError.
SearchStats search_all(const Fetcher& fetch, const SearchParams& params, const TimeRange& range,
                       const std::string& card, const RetryPolicy& policy, const Sleeper& sleep,
                       const PageSink& sink);

struct HttpOptions {
    long connect_timeout_seconds = 30;
    long timeout_seconds = 300;
    std::string user_agent; // default "baims/<version>"
};

// A Fetcher over libcurl (one easy handle, reused: keep-alive). Only http and https.
Fetcher http_fetcher(const HttpOptions& options = {});

} // namespace baims::catalog
