// Per-(parcel, band) statistics and class histograms over the pixels a mask selects (SPEC §10).
//
// Pure arithmetic, no GDAL: the values of one parcel and band are collected (they are few: a few
// hundred pixels per parcel) and reduced when the parcel is complete. The results equal numpy's
// over the same pixels: mean, population std (ddof 0), min, max and the 25/50/75 % quantiles with
// numpy's default linear interpolation, all in double precision.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace baims::zonal {

struct Stats {
    std::int64_t count = 0; // valid pixels
    double mean = 0;
    double std = 0; // population standard deviation (ddof 0)
    double min = 0;
    double max = 0;
    double p25 = 0;
    double p50 = 0;
    double p75 = 0;
};

// numpy.quantile(sorted, q) with the default method "linear", for values sorted ascending
// (non-empty). Same arithmetic as numpy (virtual index q * (n - 1), lerp from the nearer end).
double quantile_linear(std::span<const double> sorted, double q);

// The statistics of `values` (reordered in place). Empty input: no statistics.
std::optional<Stats> compute_stats(std::span<double> values);

// Collects the valid values of one (parcel, band).
class StatsAccumulator {
public:
    void add(double v) { m_values.push_back(v); }
    // Room for `n` values at once (the parcel's selected pixels), instead of growing by doubling.
    void reserve(std::size_t n) { m_values.reserve(n); }
    bool reserved() const { return m_values.capacity() != 0; }
    std::int64_t size() const { return static_cast<std::int64_t>(m_values.size()); }
    // The statistics, then frees the values. No valid pixel: nullopt (no row).
    std::optional<Stats> finish();

private:
    std::vector<double> m_values;
};

// Counts of integer classes of one parcel (e.g. Sentinel-2 SCL classes).
class HistAccumulator {
public:
    void add(std::int64_t value) {
        if (value >= 0 && value < SMALL) {
            if (m_small.empty()) {
                m_small.assign(SMALL, 0);
            }
            ++m_small[static_cast<std::size_t>(value)];
        } else {
            add_large(value);
        }
    }
    std::int64_t total() const;
    // (class, count) pairs ascending by class, classes with a zero count left out.
    std::vector<std::pair<std::int64_t, std::int64_t>> counts() const;
    // The hist JSON text exactly as Python json.dumps of a dict with ascending numeric keys:
    // {"3": 15, "4": 2, "9": 14}. nullopt when no pixel was counted, or when every pixel has the
    // no-data class `nodata_class` (0 for SCL); that class is kept when other classes are present.
    std::optional<std::string> finish_json(std::int64_t nodata_class = 0);

private:
    static constexpr std::int64_t SMALL = 256;
    void add_large(std::int64_t value);
    std::vector<std::int64_t> m_small;                          // SMALL counters, or empty
    std::vector<std::pair<std::int64_t, std::int64_t>> m_large; // sorted by class
};

// The JSON text for (class, count) pairs sorted ascending: {"3": 15, "4": 2}.
std::string hist_json(std::span<const std::pair<std::int64_t, std::int64_t>> counts);

} // namespace baims::zonal
