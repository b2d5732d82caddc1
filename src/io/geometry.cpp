// Source geometries (rows, columns, descriptions) and the lon/lat -> CRS transformation.

#include "baims/io/geometry.hpp"

#include "baims/core/error.hpp"
#include "baims/core/parallel.hpp"

#include <proj.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

namespace baims::io {

size_t rows(const Geometry& g) {
    return std::visit(
        [](const auto& k) -> size_t {
            using T = std::decay_t<decltype(k)>;
            if constexpr (std::is_same_v<T, LatLonAxes>) {
                return k.lat.size();
            } else if constexpr (std::is_same_v<T, ProjectedAxes>) {
                return k.y.size();
            } else {
                return k.height;
            }
        },
        g);
}

size_t cols(const Geometry& g) {
    return std::visit(
        [](const auto& k) -> size_t {
            using T = std::decay_t<decltype(k)>;
            if constexpr (std::is_same_v<T, LatLonAxes>) {
                return k.lon.size();
            } else if constexpr (std::is_same_v<T, ProjectedAxes>) {
                return k.x.size();
            } else {
                return k.width;
            }
        },
        g);
}

std::string describe(const Geometry& g) {
    const std::string size = std::to_string(rows(g)) + "x" + std::to_string(cols(g));
    if (std::holds_alternative<LatLonAxes>(g)) {
        return "lat/lon " + size;
    }
    if (const auto* p = std::get_if<ProjectedAxes>(&g)) {
        return p->name + " x/y " + size;
    }
    return "2-D lat/lon " + size;
}

bool shape_only(const Geometry& g) {
    const auto* s = std::get_if<LatLon2D>(&g);
    return s && s->height * s->width > 0 && s->lat.empty() && s->lat_packed.empty();
}

void release_coordinates(Geometry& g) {
    if (auto* s = std::get_if<LatLon2D>(&g)) {
        // swap with empty vectors: clear() would keep the capacity
        std::vector<double>().swap(s->lat);
        std::vector<double>().swap(s->lon);
        LatLon2D::Packed().swap(s->lat_packed);
        LatLon2D::Packed().swap(s->lon_packed);
        std::vector<std::uint32_t>().swap(s->lon_row_jump);
    }
}

namespace {

// Four 64-bit lanes, each taking every fourth 8-byte word: multiply, rotate, multiply (the four
// multiplication chains run side by side, ~10 GB/s on one core). A final mix makes each lane's
// output depend on all of them.
class Hash256 {
public:
    void add(const void* data, size_t n) {
        if (n == 0) {
            return; // an empty array's data() may be null, which memcpy must not get
        }
        const auto* p = static_cast<const unsigned char*>(data);
        m_length += n;
        if (m_pending > 0) {
            const size_t k = std::min(n, BLOCK - m_pending);
            std::memcpy(m_buf + m_pending, p, k);
            m_pending += k;
            p += k;
            n -= k;
            if (m_pending < BLOCK) {
                return;
            }
            block(m_buf);
            m_pending = 0;
        }
        for (; n >= BLOCK; n -= BLOCK, p += BLOCK) {
            block(p);
        }
        std::memcpy(m_buf, p, n);
        m_pending = n;
    }
    template <class T> void add_value(const T& v) { add(&v, sizeof v); }
    template <class V> void add_array(const V& v) {
        add_value(static_cast<std::uint64_t>(v.size()));
        add(v.data(), v.size() * sizeof(v[0]));
    }
    void add_string(const std::string& s) {
        add_value(static_cast<std::uint64_t>(s.size()));
        add(s.data(), s.size());
    }
    std::string hex() {
        std::memset(m_buf + m_pending, 0, BLOCK - m_pending);
        m_buf[BLOCK - 1] = static_cast<unsigned char>(m_pending + 1);
        block(m_buf);
        static const char* DIGITS = "0123456789abcdef";
        std::string out;
        for (size_t i = 0; i < LANES; ++i) {
            std::uint64_t h = m_lane[i] ^ std::rotl(m_lane[(i + 1) % LANES], 23) ^
                              std::rotl(m_lane[(i + 2) % LANES], 41) ^
                              std::rotl(m_lane[(i + 3) % LANES], 7) ^ (m_length * P3);
            h = mix(h + i * P4);
            for (int b = 60; b >= 0; b -= 4) {
                out.push_back(DIGITS[(h >> b) & 15]);
            }
        }
        return out;
    }

private:
    static constexpr size_t LANES = 4, BLOCK = LANES * 8;
    static constexpr std::uint64_t P1 = 0x9E3779B185EBCA87ULL, P2 = 0xC2B2AE3D27D4EB4FULL,
                                   P3 = 0x165667B19E3779F9ULL, P4 = 0x85EBCA77C2B2AE63ULL;
    static std::uint64_t mix(std::uint64_t h) {
        h ^= h >> 33;
        h *= P2;
        h ^= h >> 29;
        h *= P3;
        h ^= h >> 32;
        return h;
    }
    void block(const unsigned char* p) {
        for (size_t i = 0; i < LANES; ++i) {
            std::uint64_t v;
            std::memcpy(&v, p + 8 * i, 8);
            m_lane[i] = std::rotl(m_lane[i] + v * P2, 31) * P1;
        }
    }
    std::uint64_t m_lane[LANES] = {P1 + P2, P2, 0, 0 - P1};
    unsigned char m_buf[BLOCK] = {};
    size_t m_pending = 0;
    std::uint64_t m_length = 0;
};

} // namespace

namespace {

constexpr size_t PART = size_t{8} << 20;

// A large array (a swath's lat/lon) as the digests of its parts of PART bytes (a fixed size: the
// digest does not depend on how many threads hash them), hashed in parallel by for_each.
template <class V> void add_parts(Hash256& h, const V& v, const DigestForEach& for_each) {
    const auto* p = reinterpret_cast<const unsigned char*>(v.data());
    const size_t bytes = v.size() * sizeof(v[0]), parts = (bytes + PART - 1) / PART;
    std::vector<std::string> hx(parts);
    auto one = [&](size_t k) {
        Hash256 part;
        part.add(p + k * PART, std::min(PART, bytes - k * PART));
        hx[k] = part.hex();
    };
    if (for_each && parts > 1) {
        for_each(parts, one);
    } else {
        for (size_t k = 0; k < parts; ++k) {
            one(k);
        }
    }
    h.add_value(static_cast<std::uint64_t>(v.size()));
    for (const auto& x : hx) {
        h.add_string(x);
    }
}

} // namespace

std::string digest(const Geometry& g, const DigestForEach& for_each) {
    if (shape_only(g)) {
        throw InternalError("digest of a curvilinear geometry without its coordinates");
    }
    Hash256 h;
    h.add_value(static_cast<std::uint64_t>(g.index()));
    h.add_value(static_cast<std::uint64_t>(rows(g)));
    h.add_value(static_cast<std::uint64_t>(cols(g)));
    if (const auto* a = std::get_if<LatLonAxes>(&g)) {
        h.add_array(a->lat);
        h.add_array(a->lon);
    } else if (const auto* p = std::get_if<ProjectedAxes>(&g)) {
        h.add_array(p->x);
        h.add_array(p->y);
        h.add_string(p->crs);
        h.add_string(p->name);
    } else {
        const auto& s = std::get<LatLon2D>(g);
        h.add_value(s.lat_scale);
        h.add_value(s.lat_offset);
        h.add_value(s.lon_scale);
        h.add_value(s.lon_offset);
        add_parts(h, s.lat, for_each);
        add_parts(h, s.lon, for_each);
        add_parts(h, s.lat_packed, for_each);
        add_parts(h, s.lon_packed, for_each);
    }
    return h.hex();
}

namespace {

// One packed coordinate of a SwathDigest: the digests of its full parts of PART bytes, and the
// part being hashed.
struct PartsStream {
    std::vector<std::string> hexes;
    Hash256 part;
    size_t part_bytes = 0;
    std::uint64_t elements = 0;

    void add(const std::int32_t* v, size_t n) {
        elements += n;
        const auto* p = reinterpret_cast<const unsigned char*>(v);
        size_t bytes = n * sizeof(std::int32_t);
        while (bytes > 0) {
            const size_t k = std::min(bytes, PART - part_bytes);
            part.add(p, k);
            part_bytes += k;
            p += k;
            bytes -= k;
            if (part_bytes == PART) {
                hexes.push_back(part.hex());
                part = Hash256();
                part_bytes = 0;
            }
        }
    }
    // As add_parts of the whole array.
    void finish(Hash256& h) const {
        h.add_value(elements);
        for (const auto& x : hexes) {
            h.add_string(x);
        }
        if (part_bytes > 0) {
            Hash256 last = part;
            h.add_string(last.hex());
        }
    }
};

} // namespace

struct SwathDigest::Impl {
    size_t height, width;
    double lat_scale, lat_offset, lon_scale, lon_offset;
    size_t rows_added = 0;
    PartsStream lat, lon;
};

SwathDigest::SwathDigest(const SwathRows& rows)
    : m_impl(std::make_unique<Impl>(Impl{rows.height,
                                         rows.width,
                                         rows.lat_scale,
                                         rows.lat_offset,
                                         rows.lon_scale,
                                         rows.lon_offset,
                                         0,
                                         {},
                                         {}})) {}

SwathDigest::~SwathDigest() = default;

void SwathDigest::add(const std::int32_t* lat, const std::int32_t* lon, size_t n) {
    Impl& d = *m_impl;
    if (d.rows_added + n > d.height) {
        throw InternalError("SwathDigest::add: " + std::to_string(d.rows_added + n) + " rows of " +
                            std::to_string(d.height));
    }
    // lat and lon side by side (on the run's threads: the caller waits for this block)
    const auto* pool = ThreadPool::current();
    parallel_for(2, pool ? static_cast<int>(pool->size()) : 1, [&](size_t k, size_t) {
        if (k == 0) {
            d.lat.add(lat, n * d.width);
        } else {
            d.lon.add(lon, n * d.width);
        }
    });
    d.rows_added += n;
}

bool SwathDigest::complete() const {
    return m_impl->rows_added == m_impl->height;
}

std::string SwathDigest::hex() const {
    if (!complete()) {
        throw InternalError("SwathDigest::hex before every row was added");
    }
    const Impl& d = *m_impl;
    // As digest() of the LatLon2D (no double arrays, the packed ones).
    Hash256 h;
    h.add_value(static_cast<std::uint64_t>(Geometry(LatLon2D{}).index()));
    h.add_value(static_cast<std::uint64_t>(d.height));
    h.add_value(static_cast<std::uint64_t>(d.width));
    h.add_value(d.lat_scale);
    h.add_value(d.lat_offset);
    h.add_value(d.lon_scale);
    h.add_value(d.lon_offset);
    h.add_value(std::uint64_t{0}); // lat (doubles): none
    h.add_value(std::uint64_t{0}); // lon (doubles): none
    d.lat.finish(h);
    d.lon.finish(h);
    return h.hex();
}

DigestingRows::DigestingRows(SwathRows& inner)
    : m_inner(inner)
    , m_digest(inner) {
    layout_of(inner);
}

bool DigestingRows::read(size_t k, std::int32_t* lat, std::int32_t* lon, std::uint32_t& jump) {
    const bool ok = m_inner.read(k, lat, lon, jump);
    if (!ok || k != m_next) {
        m_ok = false;
    } else if (m_ok) {
        m_digest.add(lat, lon, std::min(height, (k + 1) * block_rows) - k * block_rows);
        ++m_next;
    }
    return ok;
}

std::string DigestingRows::digest() const {
    return m_ok && m_digest.complete() ? m_digest.hex() : std::string();
}

std::string digest(SwathRows& rows) {
    const size_t W = rows.width, B = rows.block_rows;
    if (B == 0) {
        throw InternalError("a SwathRows without blocks");
    }
    SwathDigest d(rows);
    std::vector<std::int32_t> lat(std::min(B, rows.height) * W), lon(lat.size());
    for (size_t k = 0; k * B < rows.height; ++k) {
        std::uint32_t jump = 0;
        if (!rows.read(k, lat.data(), lon.data(), jump)) {
            return {};
        }
        d.add(lat.data(), lon.data(), std::min(rows.height, (k + 1) * B) - k * B);
    }
    return d.hex();
}

HeadRows::HeadRows(SwathRows& inner)
    : m_inner(inner) {
    layout_of(inner);
    if (block_rows == 0) {
        throw InternalError("a SwathRows without blocks");
    }
    constexpr size_t HEAD = 8;
    const size_t W = width, head = std::min(HEAD, height);
    Hash256 h, lon_rows;
    h.add_value(static_cast<std::uint64_t>(height));
    h.add_value(static_cast<std::uint64_t>(W));
    h.add_value(lat_scale);
    h.add_value(lat_offset);
    h.add_value(lon_scale);
    h.add_value(lon_offset);
    for (size_t k = 0; k * block_rows < head; ++k) {
        const size_t r0 = k * block_rows, n = std::min(height, r0 + block_rows) - r0;
        Block& b = m_blocks.emplace_back();
        b.lat.resize(n * W);
        b.lon.resize(n * W);
        if (!m_inner.read(k, b.lat.data(), b.lon.data(), b.jump)) {
            m_blocks.clear(); // no key; read() then fails on block 0 as the inner reader did
            return;
        }
        const size_t take = std::min(n, head - r0);
        h.add(b.lat.data(), take * W * sizeof(std::int32_t));
        lon_rows.add(b.lon.data(), take * W * sizeof(std::int32_t));
    }
    h.add_string(lon_rows.hex());
    m_key = h.hex();
}

bool HeadRows::read(size_t k, std::int32_t* lat, std::int32_t* lon, std::uint32_t& jump) {
    if (m_key.empty()) {
        return false;
    }
    if (k < m_blocks.size()) {
        if (k != m_given) {
            throw InternalError("HeadRows::read: block " + std::to_string(k) + " out of order");
        }
        Block& b = m_blocks[k];
        std::copy(b.lat.begin(), b.lat.end(), lat);
        std::copy(b.lon.begin(), b.lon.end(), lon);
        jump = b.jump;
        std::vector<std::int32_t>().swap(b.lat);
        std::vector<std::int32_t>().swap(b.lon);
        ++m_given;
        return true;
    }
    if (m_given < m_blocks.size()) {
        throw InternalError("HeadRows::read: block " + std::to_string(k) + " before block " +
                            std::to_string(m_given));
    }
    return m_inner.read(k, lat, lon, jump);
}

struct LonLatToCrs::Impl {
    PJ_CONTEXT* ctx = nullptr;
    PJ* pj = nullptr;
    ~Impl() {
        if (pj) {
            proj_destroy(pj);
        }
        if (ctx) {
            proj_context_destroy(ctx);
        }
    }
};

LonLatToCrs::LonLatToCrs(const std::string& crs, const std::string& from)
    : m_impl(std::make_unique<Impl>()) {
    m_impl->ctx = proj_context_create();
    proj_log_level(m_impl->ctx, PJ_LOG_NONE);
    PJ* raw = proj_create_crs_to_crs(m_impl->ctx, from.c_str(), crs.c_str(), nullptr);
    if (!raw) {
        // PROJ may fail without an error number (e.g. to an engineering CRS): its string is
        // then a null pointer, not text.
        const int err = proj_context_errno(m_impl->ctx);
        const char* why = err != 0 ? proj_context_errno_string(m_impl->ctx, err) : nullptr;
        throw InputError("PROJ cannot map longitude/latitude to the CRS '" + crs + "'" +
                             (why ? std::string(": ") + why : std::string()),
                         "Check the grid mapping of the input");
    }
    // Longitude first, latitude second; the target's x/y in its natural order.
    m_impl->pj = proj_normalize_for_visualization(m_impl->ctx, raw);
    proj_destroy(raw);
    if (!m_impl->pj) {
        throw InputError("PROJ cannot map longitude/latitude to the CRS '" + crs + "'",
                         "Check the grid mapping of the input");
    }
}

LonLatToCrs::LonLatToCrs(LonLatToCrs&&) noexcept = default;
LonLatToCrs& LonLatToCrs::operator=(LonLatToCrs&&) noexcept = default;
LonLatToCrs::~LonLatToCrs() = default;

namespace {

void run(PJ* pj, PJ_DIRECTION dir, double* x, double* y, size_t n) {
    if (n == 0) {
        return;
    }
    proj_errno_reset(pj);
    proj_trans_generic(pj, dir, x, sizeof(double), n, y, sizeof(double), n, nullptr, 0, 0, nullptr,
                       0, 0);
    constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
    for (size_t i = 0; i < n; ++i) {
        // PROJ marks a point it cannot map with HUGE_VAL.
        if (!(std::abs(x[i]) < 1e300) || !(std::abs(y[i]) < 1e300)) {
            x[i] = NaN;
            y[i] = NaN;
        }
    }
}

} // namespace

void LonLatToCrs::transform(double* x, double* y, size_t n) const {
    run(m_impl->pj, PJ_FWD, x, y, n);
}

void LonLatToCrs::inverse(double* x, double* y, size_t n) const {
    run(m_impl->pj, PJ_INV, x, y, n);
}

} // namespace baims::io
