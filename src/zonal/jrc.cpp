// The JRC numba extractor's selection and statistics (see include/baims/zonal/jrc.hpp).

#include "baims/zonal/jrc.hpp"

#include "baims/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

namespace baims::zonal::jrc {
namespace {

template <typename T> T get(const std::uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T)); // little endian (checked), as the JRC reader assumes
    return v;
}

} // namespace

RasterMask read_raster_wkb(std::span<const std::uint8_t> wkb) {
    // endian(1) version(2) nbands(2) scalex scaley ipx ipy skewx skewy (8 each) srid(4) width(2)
    // height(2) = 61 bytes; band 1: pixtype/flags at 61, nodata at 62, pixels from 63.
    if (wkb.size() < 63) {
        throw InputError("raster WKB of " + std::to_string(wkb.size()) + " bytes is too short");
    }
    const auto* p = wkb.data();
    if (p[0] != 1) {
        throw InputError("raster WKB is big endian; the JRC reader reads little endian only",
                         "Select the masks with ST_AsBinary(rast) (NDR)");
    }
    if (get<std::uint16_t>(p + 3) < 1) {
        throw InputError("mask raster has no band");
    }
    if ((p[61] & 0x0F) != 4) {
        throw InputError("mask raster band 1 is not 8BUI");
    }
    RasterMask m;
    m.ip_x = get<double>(p + 21);
    m.ip_y = get<double>(p + 29);
    m.width = get<std::uint16_t>(p + 57);
    m.height = get<std::uint16_t>(p + 59);
    const std::size_t n = static_cast<std::size_t>(m.width) * static_cast<std::size_t>(m.height);
    if (wkb.size() < 62 + n) {
        throw InputError("mask raster WKB is truncated");
    }
    // The JRC quirk: from byte 62 (the nodata byte), not 63 (the first pixel).
    m.pixels.assign(p + 62, p + 62 + n);
    return m;
}

std::vector<Index> indices(const RasterMask& mask, double ulx, double uly, double dx, int rows,
                           int cols) {
    const double drow = std::floor((uly - mask.ip_y) / dx);
    const double dcol = std::floor((mask.ip_x - ulx) / dx);
    std::vector<Index> out;
    for (int r = 0; r < mask.height; ++r) {
        for (int c = 0; c < mask.width; ++c) {
            if (mask.pixels[static_cast<std::size_t>(r) * mask.width + c] != 1) {
                continue;
            }
            const double row = drow - r; // south-up: mask rows go north
            const double col = dcol + c;
            if (row >= 0 && row <= rows - 1 && col >= 0 && col <= cols - 1) {
                out.push_back({static_cast<std::int32_t>(row), static_cast<std::int32_t>(col)});
            }
        }
    }
    return out;
}

Window aoi_window(double xmin, double ymin, double xmax, double ymax, double image_ulx,
                  double image_uly, int image_width, int image_height, double dx) {
    const double wulx = std::max(xmin, image_ulx);
    const double wuly = std::min(ymax, image_uly);
    const double wlrx = std::min(xmax, image_ulx + image_width * dx);
    const double wlry = std::max(ymin, image_uly - image_height * dx);
    Window w;
    w.col0 = static_cast<std::int64_t>(std::floor((wulx - image_ulx) / dx));
    w.row0 = static_cast<std::int64_t>(std::floor((image_uly - wuly) / dx));
    w.width = static_cast<int>(std::ceil((wlrx - wulx) / dx));
    w.height = static_cast<int>(std::ceil((wuly - wlry) / dx));
    // Never past the image (rounding); an AOI outside the image gives an empty window.
    w.width = static_cast<int>(std::clamp<std::int64_t>(w.width, 0, image_width - w.col0));
    w.height = static_cast<int>(std::clamp<std::int64_t>(w.height, 0, image_height - w.row0));
    w.ulx = wulx;
    w.uly = wuly;
    return w;
}

std::optional<Stats> stats(std::span<const double> values, bool check_nodata) {
    const std::size_t n = values.size();
    if (n == 0) {
        return std::nullopt;
    }
    std::vector<double> sorted(values.begin(), values.end());
    std::sort(sorted.begin(), sorted.end());
    if (check_nodata && (sorted.front() == 0 || sorted.back() == 0)) {
        return std::nullopt;
    }
    Stats s;
    s.count = static_cast<std::int64_t>(n);
    double sum = 0;
    for (double v : values) {
        sum += v;
    }
    s.mean = sum / static_cast<double>(n);
    double ssd = 0;
    for (double v : values) {
        const double d = v - s.mean;
        ssd += d * d;
    }
    s.std = std::pow(ssd / static_cast<double>(n), 0.5);
    s.min = sorted.front();
    s.max = sorted.back();
    auto percentile = [&](double q) {
        if (n == 1) {
            return sorted[0];
        }
        const double rank = 1 + static_cast<double>(n - 1) * (q / 100.0);
        const double f = std::floor(rank);
        const double m = rank - f;
        const auto k = static_cast<std::size_t>(f) - 1;
        const double lower = sorted[k];
        const double upper = k + 1 < n ? sorted[k + 1] : lower;
        return lower * (1 - m) + upper * m;
    };
    s.p25 = percentile(25);
    s.p50 = percentile(50);
    s.p75 = percentile(75);
    return s;
}

std::optional<std::string> hist(std::span<const std::int64_t> values) {
    std::map<std::int64_t, std::int64_t> counts;
    for (auto v : values) {
        ++counts[v];
    }
    if (counts.empty() || (counts.size() == 1 && counts.begin()->first == 0)) {
        return std::nullopt;
    }
    std::vector<std::pair<std::int64_t, std::int64_t>> pairs(counts.begin(), counts.end());
    return hist_json(pairs);
}

} // namespace baims::zonal::jrc
