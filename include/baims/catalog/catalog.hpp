#pragma once
// `baims catalog AOI START END CARD PTYPE` (SPEC 8): import the Sentinel catalogue for an AOI
// into dias_catalogue, from the CDSE OpenSearch endpoint or from saved responses.
//
//   validate (no I/O) → read --from-file responses → connect, check tables, read the AOI →
//   query all pages (nothing is written until every page has arrived) → de-duplicate,
//   --baseline latest → one transaction: COPY + INSERT … ON CONFLICT DO NOTHING → summary.

#include "baims/catalog/filter.hpp"
#include "baims/catalog/search.hpp"
#include "baims/catalog/store.hpp"
#include "baims/db/settings.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace baims::catalog {

struct CatalogRequest {
    std::string aoi;          // name in the aois table
    std::string start;        // YYYY-MM-DD, inclusive
    std::string end;          // YYYY-MM-DD, exclusive (the query's completionDate, as JRC)
    std::string card;         // s2 bs c6 c12
    std::string product_type; // S2MSI2A S2MSI1C CARD-BS CARD-COH6 CARD-COH12
    std::string aoi_field;    // empty: db_config args.aoi_field, else "name"

    std::string base_url = DEFAULT_BASE_URL;
    int max_records = 1000;    // page size (maxRecords)
    long offset_limit = 10000; // the service's limit for page*maxRecords
    RetryPolicy retry;
    HttpOptions http;

    std::vector<std::string> from_files; // saved responses: no network
    bool baseline_latest = false;
    bool create_tables = false;
    bool dry_run = false;
    int threads = 1; // for parsing --from-file responses
};

struct CatalogResult {
    TimeRange range;
    std::string aoi_field;
    std::uint64_t pages = 0;      // pages (or files) read
    std::uint64_t requests = 0;   // HTTP requests, retries included
    std::uint64_t splits = 0;     // date-range splits at the offset limit
    std::uint64_t features = 0;   // features in all responses
    std::uint64_t bad = 0;        // features skipped (logged)
    std::uint64_t duplicates = 0; // the same reference more than once (kept once)
    std::uint64_t superseded = 0; // dropped by --baseline latest
    DropCounts dropped;           // --from-file records a live query would not return
    std::uint64_t records = 0;    // unique records offered to the database
    std::uint64_t inserted = 0;   // new rows
    std::uint64_t existing = 0;   // already in the catalogue
    std::vector<SummaryRow> summary;
    bool dry_run = false;
};

// Checks the request without any I/O. Throws UsageError (with "did you mean" for CARD/PTYPE).
void validate(const CatalogRequest& request);

// The value stored in dias_catalogue.card (char(2)): the card, except c12 → "c1" (JRC's COH12
// convention, since "c12" does not fit).
std::string card_column_value(const std::string& card);

// Runs the import. fetch overrides the libcurl transport (tests). Throws UsageError, InputError,
// DatabaseError, RemoteError, Interrupted.
CatalogResult run_catalog(const CatalogRequest& request, const db::ConnectionSettings& settings,
                          const Fetcher& fetch = {});

// The JRC summary as an aligned text table with the header "card sensor count min max".
std::string format_summary_table(const std::vector<SummaryRow>& rows);

// A JSON object: the request, the counts and the summary rows.
std::string format_summary_json(const CatalogRequest& request, const CatalogResult& result);

} // namespace baims::catalog
