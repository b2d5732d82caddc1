// `baims extract --compare jrc` (issue 13): per parcel and band, the JRC extractor's statistics
// (selection: jrc, on the JRC ST_AsRaster mask tables) and baims's exact ones (pixel centre in
// the parcel, on the image grid, masks made from the parcel geometries) side by side, with the
// differences and a summary. Read-only: no claim, no status change, nothing written to sigs.
#pragma once

#include "baims/db/settings.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace baims::parcels {

struct CompareJrcRequest {
    std::vector<std::string> passes{"10", "20"}; // stats passes only (scl is not compared)
    std::vector<std::string> bands_10{"B02", "B03", "B04", "B08"};
    std::vector<std::string> bands_20{"B05", "B06", "B07", "B8A", "B11", "B12"};
    std::string eodata = "/eodata";
    std::string card = "s2";
    std::int64_t obsid = 0;     // 0: every image of the card (any status)
    std::int64_t limit = 0;     // images at most; 0: all
    double threshold_pct = 1.0; // the summary counts parcels changing by more than this
    std::string output;         // CSV file; empty: the table below
    std::string table;          // database table (created or replaced); used when output is empty
    int threads = 1;
};

struct CompareJrcSummary {
    std::uint64_t images = 0;
    std::uint64_t rows = 0;             // (pid, obsid, band) rows written
    std::uint64_t parcels_both = 0;     // (pid, obsid) with rows in both
    std::uint64_t only_jrc = 0;         // (pid, obsid) with JRC rows only
    std::uint64_t only_exact = 0;       // with exact rows only
    std::uint64_t count_changed = 0;    // of parcels_both: |count change| > threshold % in a band
    std::uint64_t mean_changed = 0;     // of parcels_both: |mean change| > threshold % in a band
    std::uint64_t count_any = 0;        // of parcels_both: count differs at all in a band
    double count_change_median_pct = 0; // over parcels_both: largest |count change| % per parcel
    double count_change_p95_pct = 0;
    double mean_change_median_pct = 0; // largest |mean change| % per parcel
    double mean_change_p95_pct = 0;
    std::vector<std::string> failures; // "obsid <id>: <status>: <message>"
};

// Runs the comparison over the images of the catalogue. Throws UsageError/InputError/
// OutputError; an image that cannot be read is listed in failures.
CompareJrcSummary compare_jrc(const CompareJrcRequest& request,
                              const db::ConnectionSettings& settings);

// The summary as printed at the end (several lines, no trailing newline).
std::string format_summary(const CompareJrcSummary& s, double threshold_pct);

} // namespace baims::parcels
