// Statistics with numpy's arithmetic: the sums are numpy's pairwise summation (blocks of 8
// accumulators up to 128 values, halves above), so mean and std are bit-identical to numpy.mean
// and numpy.std of the same values in float64; quantiles follow numpy's "linear" method.

#include "baims/zonal/stats.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace baims::zonal {
namespace {

// numpy's DOUBLE_pairwise_sum (numpy/core/src/umath/loops_utils.h.src).
double pairwise_sum(const double* a, std::size_t n) {
    if (n < 8) {
        double res = 0.;
        for (std::size_t i = 0; i < n; ++i) {
            res += a[i];
        }
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; ++j) {
            r[j] = a[j];
        }
        std::size_t i = 8;
        for (; i < n - (n % 8); i += 8) {
            for (int j = 0; j < 8; ++j) {
                r[j] += a[i + static_cast<std::size_t>(j)];
            }
        }
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i) {
            res += a[i];
        }
        return res;
    }
    std::size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

} // namespace

namespace {

// The ranks numpy's "linear" quantile q of n sorted values reads (lower, upper) and its weight.
struct QuantileRanks {
    std::size_t lower = 0;
    std::size_t upper = 0;
    double virtual_index = 0;
    double previous_index = 0;
};

QuantileRanks quantile_ranks(std::size_t n, double q) {
    QuantileRanks r;
    r.virtual_index = static_cast<double>(n - 1) * q;
    r.previous_index = std::floor(r.virtual_index);
    auto clip = [&](double i) {
        if (i < 0) {
            return std::size_t{0};
        }
        if (i > static_cast<double>(n - 1)) {
            return n - 1;
        }
        return static_cast<std::size_t>(i);
    };
    r.lower = clip(r.previous_index);
    r.upper = clip(r.previous_index + 1);
    return r;
}

// numpy's _lerp between the two ranks: from the lower end below 0.5, from the upper end at and
// above.
double lerp(const QuantileRanks& r, double a, double b) {
    const double gamma = r.virtual_index - r.previous_index;
    const double diff = b - a;
    return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
}

} // namespace

double quantile_linear(std::span<const double> sorted, double q) {
    const QuantileRanks r = quantile_ranks(sorted.size(), q);
    return lerp(r, sorted[r.lower], sorted[r.upper]);
}

std::optional<Stats> compute_stats(std::span<double> values) {
    if (values.empty()) {
        return std::nullopt;
    }
    const std::size_t n = values.size();
    Stats s;
    s.count = static_cast<std::int64_t>(n);
    // numpy sums in the values' own order: mean and std before any reordering. The squared
    // deviations go to a buffer each thread reuses (one parcel's pixels: a few hundred values).
    s.mean = (0.0 + pairwise_sum(values.data(), n)) / static_cast<double>(n);
    thread_local std::vector<double> work;
    work.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        work[i] = (values[i] - s.mean) * (values[i] - s.mean);
    }
    s.std = std::sqrt((0.0 + pairwise_sum(work.data(), n)) / static_cast<double>(n));
    // The order statistics the quantiles read, by successive partial sorts (nth_element) instead
    // of a full sort: the same values of the same ranks, so the same results.
    const std::array<QuantileRanks, 3> q = {quantile_ranks(n, 0.25), quantile_ranks(n, 0.50),
                                            quantile_ranks(n, 0.75)};
    std::array<std::size_t, 8> ranks = {0,          n - 1,      q[0].lower, q[0].upper,
                                        q[1].lower, q[1].upper, q[2].lower, q[2].upper};
    std::sort(ranks.begin(), ranks.end());
    std::size_t from = 0;
    for (std::size_t k : ranks) {
        if (k < from) {
            continue; // a repeated rank, already in place
        }
        const auto first = values.begin() + static_cast<std::ptrdiff_t>(from);
        const auto nth = values.begin() + static_cast<std::ptrdiff_t>(k);
        if (k == from) {
            std::iter_swap(nth, std::min_element(first, values.end()));
        } else {
            std::nth_element(first, nth, values.end());
        }
        from = k + 1;
    }
    s.min = values.front();
    s.max = values[n - 1];
    s.p25 = lerp(q[0], values[q[0].lower], values[q[0].upper]);
    s.p50 = lerp(q[1], values[q[1].lower], values[q[1].upper]);
    s.p75 = lerp(q[2], values[q[2].lower], values[q[2].upper]);
    return s;
}

std::optional<Stats> StatsAccumulator::finish() {
    auto s = compute_stats(m_values);
    std::vector<double>().swap(m_values);
    return s;
}

void HistAccumulator::add_large(std::int64_t value) {
    auto it = std::lower_bound(m_large.begin(), m_large.end(), value,
                               [](const auto& p, std::int64_t v) { return p.first < v; });
    if (it != m_large.end() && it->first == value) {
        ++it->second;
    } else {
        m_large.insert(it, {value, 1});
    }
}

std::vector<std::pair<std::int64_t, std::int64_t>> HistAccumulator::counts() const {
    std::vector<std::pair<std::int64_t, std::int64_t>> out;
    auto large = m_large.begin();
    while (large != m_large.end() && large->first < 0) {
        out.push_back(*large++);
    }
    for (std::size_t c = 0; c < m_small.size(); ++c) {
        if (m_small[c] != 0) {
            out.emplace_back(static_cast<std::int64_t>(c), m_small[c]);
        }
    }
    out.insert(out.end(), large, m_large.end());
    return out;
}

std::int64_t HistAccumulator::total() const {
    std::int64_t t = 0;
    for (auto c : m_small) {
        t += c;
    }
    for (const auto& p : m_large) {
        t += p.second;
    }
    return t;
}

std::optional<std::string> HistAccumulator::finish_json(std::int64_t nodata_class) {
    auto c = counts();
    m_small.clear();
    m_small.shrink_to_fit();
    m_large.clear();
    if (c.empty() || (c.size() == 1 && c.front().first == nodata_class)) {
        return std::nullopt;
    }
    return hist_json(c);
}

std::string hist_json(std::span<const std::pair<std::int64_t, std::int64_t>> counts) {
    std::string s = "{";
    bool first = true;
    for (const auto& [cls, n] : counts) {
        if (!first) {
            s += ", ";
        }
        first = false;
        s += '"';
        s += std::to_string(cls);
        s += "\": ";
        s += std::to_string(n);
    }
    s += '}';
    return s;
}

} // namespace baims::zonal
