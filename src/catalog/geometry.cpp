#include "baims/catalog/scene_record.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>

namespace baims::catalog {

namespace {

double cross(const Point& o, const Point& a, const Point& b) {
    return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

void put_hex_bytes(std::string& out, const unsigned char* bytes, size_t n) {
    static constexpr char HEX[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; ++i) {
        out += HEX[bytes[i] >> 4];
        out += HEX[bytes[i] & 0x0F];
    }
}

// EWKB is written little-endian; the byte order flag says so. Host order is converted.
template <class T> void put_le(std::string& out, T value) {
    std::array<unsigned char, sizeof(T)> b{};
    std::memcpy(b.data(), &value, sizeof(T));
    if constexpr (std::endian::native == std::endian::big) {
        std::reverse(b.begin(), b.end());
    }
    put_hex_bytes(out, b.data(), b.size());
}

void put_number(std::string& out, double v) {
    std::array<char, 32> buf{};
    auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), res.ptr);
}

} // namespace

Ring convex_hull(std::vector<Point> pts) {
    std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) {
        return a.x < b.x || (a.x == b.x && a.y < b.y);
    });
    pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
    if (pts.size() < 3) {
        return {};
    }
    Ring hull(2 * pts.size());
    size_t k = 0;
    for (const auto& p : pts) { // lower hull
        while (k >= 2 && cross(hull[k - 2], hull[k - 1], p) <= 0) {
            --k;
        }
        hull[k++] = p;
    }
    const size_t lower = k + 1;
    for (size_t i = pts.size() - 1; i-- > 0;) { // upper hull
        while (k >= lower && cross(hull[k - 2], hull[k - 1], pts[i]) <= 0) {
            --k;
        }
        hull[k++] = pts[i];
    }
    hull.resize(k); // the last point equals the first: the ring is closed
    if (hull.size() < 4) {
        return {};
    }
    return hull;
}

std::string to_ewkb_hex(const Polygon& polygon, int srid) {
    std::string out;
    size_t points = 0;
    for (const auto& r : polygon.rings) {
        points += r.size();
    }
    out.reserve(2 * (1 + 4 + 4 + 4 + 4 * polygon.rings.size() + 16 * points));
    const unsigned char little = 1;
    put_hex_bytes(out, &little, 1);
    put_le<std::uint32_t>(out, 3u | 0x20000000u); // Polygon with SRID flag
    put_le<std::uint32_t>(out, static_cast<std::uint32_t>(srid));
    put_le<std::uint32_t>(out, static_cast<std::uint32_t>(polygon.rings.size()));
    for (const auto& r : polygon.rings) {
        put_le<std::uint32_t>(out, static_cast<std::uint32_t>(r.size()));
        for (const auto& p : r) {
            put_le<double>(out, p.x);
            put_le<double>(out, p.y);
        }
    }
    return out;
}

std::string to_wkt(const Polygon& polygon) {
    std::string out = "POLYGON(";
    for (size_t i = 0; i < polygon.rings.size(); ++i) {
        out += i ? ",(" : "(";
        const auto& r = polygon.rings[i];
        for (size_t j = 0; j < r.size(); ++j) {
            if (j) {
                out += ',';
            }
            put_number(out, r[j].x);
            out += ' ';
            put_number(out, r[j].y);
        }
        out += ')';
    }
    out += ')';
    return out;
}

} // namespace baims::catalog
