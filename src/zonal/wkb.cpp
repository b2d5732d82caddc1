// OGC WKB / PostGIS EWKB / ISO WKB → MultiPolygon (2-D; Z and M ordinates skipped).
#include "baims/core/error.hpp"
#include "baims/zonal/mask.hpp"

#include <bit>
#include <cstring>
#include <string>

namespace baims::zonal {

namespace {

constexpr std::uint32_t EWKB_Z = 0x80000000u;
constexpr std::uint32_t EWKB_M = 0x40000000u;
constexpr std::uint32_t EWKB_SRID = 0x20000000u;

class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> b)
        : m_b(b) {}

    std::size_t remaining() const { return m_b.size() - m_pos; }
    std::size_t pos() const { return m_pos; }

    [[noreturn]] void fail(const std::string& what) const {
        throw InputError("malformed WKB at byte " + std::to_string(m_pos) + ": " + what,
                         "Check the geometry column holds (Multi)Polygons");
    }
    void need(std::size_t n) const {
        if (remaining() < n)
            fail("needs " + std::to_string(n) + " more bytes, " + std::to_string(remaining()) +
                 " left");
    }
    std::uint8_t u8() {
        need(1);
        return m_b[m_pos++];
    }
    std::uint32_t u32(bool little) {
        need(4);
        std::uint32_t v = 0;
        std::memcpy(&v, m_b.data() + m_pos, 4);
        m_pos += 4;
        if (little != (std::endian::native == std::endian::little))
            v = __builtin_bswap32(v);
        return v;
    }
    double f64(bool little) {
        need(8);
        std::uint64_t v = 0;
        std::memcpy(&v, m_b.data() + m_pos, 8);
        m_pos += 8;
        if (little != (std::endian::native == std::endian::little))
            v = __builtin_bswap64(v);
        return std::bit_cast<double>(v);
    }
    void skip(std::size_t n) {
        need(n);
        m_pos += n;
    }

private:
    std::span<const std::uint8_t> m_b;
    std::size_t m_pos = 0;
};

struct Header {
    bool little = true;
    std::uint32_t type = 0; // 2-D base type: 3 Polygon, 6 MultiPolygon
    int dims = 2;           // ordinates per point
};

Header read_header(Reader& r) {
    Header h;
    const std::uint8_t order = r.u8();
    if (order > 1)
        r.fail("byte order marker " + std::to_string(order) + " (expected 0 or 1)");
    h.little = order == 1;
    std::uint32_t t = r.u32(h.little);
    bool z = (t & EWKB_Z) != 0, m = (t & EWKB_M) != 0;
    if (t & EWKB_SRID)
        r.skip(4);
    t &= 0x0fffffffu;
    if (t >= 3000 && t < 4000) {
        z = m = true;
        t -= 3000;
    } else if (t >= 2000 && t < 3000) {
        m = true;
        t -= 2000;
    } else if (t >= 1000 && t < 2000) {
        z = true;
        t -= 1000;
    }
    h.type = t;
    h.dims = 2 + (z ? 1 : 0) + (m ? 1 : 0);
    return h;
}

void read_polygon_body(Reader& r, const Header& h, Polygon& out) {
    const std::uint32_t nrings = r.u32(h.little);
    if (nrings > r.remaining() / 4)
        r.fail(std::to_string(nrings) + " rings cannot fit");
    out.rings.resize(nrings);
    const std::size_t point_bytes = 8u * static_cast<std::size_t>(h.dims);
    for (Ring& ring : out.rings) {
        const std::uint32_t npts = r.u32(h.little);
        if (npts > r.remaining() / point_bytes)
            r.fail(std::to_string(npts) + " points cannot fit");
        ring.x.resize(npts);
        ring.y.resize(npts);
        for (std::uint32_t i = 0; i < npts; ++i) {
            ring.x[i] = r.f64(h.little);
            ring.y[i] = r.f64(h.little);
            if (h.dims > 2)
                r.skip(8u * static_cast<std::size_t>(h.dims - 2));
        }
    }
}

} // namespace

MultiPolygon from_wkb(std::span<const std::uint8_t> wkb) {
    Reader r(wkb);
    MultiPolygon out;
    const Header h = read_header(r);
    if (h.type == 3) {
        out.emplace_back();
        read_polygon_body(r, h, out.back());
    } else if (h.type == 6) {
        const std::uint32_t n = r.u32(h.little);
        if (n > r.remaining() / 9)
            r.fail(std::to_string(n) + " polygons cannot fit");
        out.resize(n);
        for (Polygon& p : out) {
            const Header ph = read_header(r);
            if (ph.type != 3)
                r.fail("MultiPolygon member of type " + std::to_string(ph.type) +
                       " (expected 3, Polygon)");
            read_polygon_body(r, ph, p);
        }
    } else {
        throw InputError("WKB geometry type " + std::to_string(h.type) +
                             " is not a Polygon (3) or MultiPolygon (6)",
                         "Parcels must be polygons");
    }
    if (r.remaining() != 0)
        r.fail(std::to_string(r.remaining()) + " trailing bytes");
    return out;
}

} // namespace baims::zonal
