// The curvilinear input (input_processor_name "curvilinear"): swaths with 2-D latitude/longitude
// of every cell (LatLon2D), from
//   - one NetCDF file with lat(y,x)/lon(y,x): named by input_processor_params.xy_names
//     ([lon, lat]), else found by standard_name/units/name (latitude, degrees_north, lat, ...);
//   - a Sentinel-3 .SEN3 folder: geo_coordinates.nc (latitude/longitude(rows,columns)) and every
//     other *.nc of the folder with variables on the same (rows, columns), e.g. chl_nn.nc, wqsf.nc.
// Times, variables and decoding are the CF reader's (CfInput::open_on_dims): the time comes from
// the time coordinate or the coverage attributes (start_date/stop_date, start_time/stop_time, ...)
// of the NetCDF file or of geo_coordinates.nc; the slice time is the middle of the range.
// Packed (integer) lat/lon are decoded chunk by chunk in parallel; while each chunk row is still
// in the cache, the reader also finds each row's largest longitude jump, which map_swath needs
// before its pass 1 (LatLon2D::lon_row_jump).

#include "../input_kinds.hpp"
#include "h5_chunks.hpp"
#include "nc_file.hpp"

#include "baims/core/error.hpp"
#include "baims/core/huge_pages.hpp"
#include "baims/core/parallel.hpp"
#include "baims/core/text.hpp"
#include "baims/io/cf_input.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace baims::io {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

// 0: not a coordinate; 1 latitude, 2 longitude.
int axis_of(const nc::File& f, const nc::Var& v) {
    const auto sn = lower(nc::attr_text(f, v.id, "standard_name").value_or(""));
    const auto units = lower(nc::attr_text(f, v.id, "units").value_or(""));
    const auto name = lower(v.name);
    if (sn == "latitude" || units == "degrees_north" || units == "degree_north" || name == "lat" ||
        name == "latitude") {
        return 1;
    }
    if (sn == "longitude" || units == "degrees_east" || units == "degree_east" || name == "lon" ||
        name == "longitude") {
        return 2;
    }
    return 0;
}

// The stored values of one chunk row [c0, c0 + cols) widened to double, as nc_get_var_double
// converts them (exact: every netCDF number type but 64-bit integers fits a double).
template <typename T> void widen(const unsigned char* src, size_t cols, double* dst) {
    for (size_t i = 0; i < cols; ++i) {
        T v;
        std::memcpy(&v, src + i * sizeof(T), sizeof(T));
        dst[i] = static_cast<double>(v);
    }
}

template <typename T> void narrow(const unsigned char* src, size_t cols, std::int32_t* dst) {
    for (size_t i = 0; i < cols; ++i) {
        T v;
        std::memcpy(&v, src + i * sizeof(T), sizeof(T));
        dst[i] = static_cast<std::int32_t>(v);
    }
}

// The stored integers of one chunk row (byte .. int, ubyte, ushort) into dst[0, cols).
void narrow_any(nc_type type, const unsigned char* src, size_t cols, std::int32_t* dst) {
    switch (type) {
    case NC_BYTE:
        narrow<std::int8_t>(src, cols, dst);
        break;
    case NC_UBYTE:
        narrow<std::uint8_t>(src, cols, dst);
        break;
    case NC_SHORT:
        narrow<std::int16_t>(src, cols, dst);
        break;
    case NC_USHORT:
        narrow<std::uint16_t>(src, cols, dst);
        break;
    default:
        narrow<std::int32_t>(src, cols, dst);
        break;
    }
}

bool widen_any(nc_type type, const unsigned char* src, size_t cols, double* dst) {
    switch (type) {
    case NC_BYTE:
        widen<std::int8_t>(src, cols, dst);
        return true;
    case NC_UBYTE:
        widen<std::uint8_t>(src, cols, dst);
        return true;
    case NC_SHORT:
        widen<std::int16_t>(src, cols, dst);
        return true;
    case NC_USHORT:
        widen<std::uint16_t>(src, cols, dst);
        return true;
    case NC_INT:
        widen<std::int32_t>(src, cols, dst);
        return true;
    case NC_UINT:
        widen<std::uint32_t>(src, cols, dst);
        return true;
    case NC_FLOAT:
        widen<float>(src, cols, dst);
        return true;
    case NC_DOUBLE:
        widen<double>(src, cols, dst);
        return true;
    default:
        return false; // 64-bit integers, char: netCDF converts them
    }
}

// The stored values of a 2-D NetCDF-4 variable of shape (h, w) in deflate/shuffle chunks, read
// straight from the file (pread, libdeflate), one task per chunk on the run's thread pool when
// one is installed: as nc_get_var_double gives them, but without HDF5's conversion buffers.
// False (nothing read) when the layout does not allow it (h5::chunk_layout) and netCDF must read.
// store(src, cols, index, top): stored values src[0, cols) of the cells index .. index + cols;
// top: the first row of its chunk (the task calls store for its chunk's rows in order, so the row
// above one that is not top is already stored, by the same task). chunk (if given): the chunk
// shape (rows, columns).
using StoreRow = std::function<void(const unsigned char* src, size_t cols, size_t index, bool top)>;

bool read_chunks(const nc::File& f, const nc::Var& v, size_t h, size_t w, const StoreRow& store,
                 std::array<size_t, 2>* chunk = nullptr) {
    int format = 0;
    if (nc_inq_format(f.id(), &format) != NC_NOERR ||
        (format != NC_FORMAT_NETCDF4 && format != NC_FORMAT_NETCDF4_CLASSIC)) {
        return false;
    }
    const size_t es = nc::type_size(v.type);
    const auto layout = h5::chunk_layout(f.path(), v.name, {h, w}, es, {0, 0}, {h, w});
    if (!layout) {
        return false;
    }
    const int fd = ::open(f.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    const auto& L = *layout;
    const size_t chunk_bytes = L.chunk[0] * L.chunk[1] * es;
    const std::string where = nc::prefix(f.path()) + ": variable '" + v.name + "'";
    const auto* pool = ThreadPool::current();
    const int threads = pool ? static_cast<int>(pool->size()) : 1;
    try {
        parallel_for(L.chunks.size(), threads, [&](size_t k, size_t) {
            const h5::Chunk& c = L.chunks[k];
            const unsigned char* bytes =
                h5::decode_chunk(fd, L, c, chunk_bytes, where, h5::thread_chunk_buffers());
            const size_t r0 = c.offset[0], c0 = c.offset[1];
            const size_t r1 = std::min<size_t>(r0 + L.chunk[0], h);
            const size_t c1 = std::min<size_t>(c0 + L.chunk[1], w);
            for (size_t r = r0; r < r1; ++r) {
                store(bytes + (r - r0) * L.chunk[1] * es, c1 - c0, r * w + c0, r == r0);
            }
        });
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    if (chunk) {
        *chunk = {L.chunk[0], L.chunk[1]};
    }
    return true;
}

// The decoding attributes of a 2-D coordinate.
struct Packing {
    double fill, scale, offset, vmin, vmax;
};

Packing packing(const nc::File& f, const nc::Var& v) {
    const auto one = [&](const char* name, double fallback) {
        auto values = nc::attr_numbers(f, v.id, name);
        return values && values->size() == 1 ? (*values)[0] : fallback;
    };
    const double inf = std::numeric_limits<double>::infinity();
    Packing p{one("_FillValue", std::numeric_limits<double>::quiet_NaN()), one("scale_factor", 1.0),
              one("add_offset", 0.0), one("valid_min", -inf), one("valid_max", inf)};
    if (auto range = nc::attr_numbers(f, v.id, "valid_range"); range && range->size() == 2) {
        p.vmin = (*range)[0];
        p.vmax = (*range)[1];
    }
    return p;
}

// Whether stored value x is no position (_FillValue, outside valid_min/valid_max).
bool masked(double x, const Packing& p) {
    return x == p.fill || x < p.vmin || x > p.vmax;
}

// masked() of an int32 as integer compares (the conversion of an int32 to double is exact, so
// x < vmin is x < ceil(vmin), x > vmax is x > floor(vmax), and x == fill only for an integral fill
// in range; a NaN bound or fill compares false): the same answer for every int32, without the
// conversions and the data-dependent jumps, so that the chunk tasks mask four values at a time.
class IntMask {
public:
    explicit IntMask(const Packing& p) {
        constexpr double MIN = std::numeric_limits<std::int32_t>::min();
        constexpr double MAX = std::numeric_limits<std::int32_t>::max();
        // below: x < lo masked (lo = MIN: none); above: x > hi masked (hi = MAX: none)
        if (p.vmin > MAX || p.vmax < MIN) {
            m_all = true; // every int32 is outside [vmin, vmax]
            return;
        }
        // (vmin in (MIN, MAX] and vmax in [MIN, MAX) here: their ceil and floor fit an int32)
        m_lo = !(p.vmin > MIN) ? INT32_MIN : static_cast<std::int32_t>(std::ceil(p.vmin));
        m_hi = !(p.vmax < MAX) ? INT32_MAX : static_cast<std::int32_t>(std::floor(p.vmax));
        m_has_fill = p.fill >= MIN && p.fill <= MAX && p.fill == std::floor(p.fill);
        m_fill = m_has_fill ? static_cast<std::int32_t>(p.fill) : 0;
    }
    // dst[k] = the int32 x at from + 4 k (native byte order; from may be dst), masked:
    // `masked(x) ? dst[k] = PACKED_NONE : x == PACKED_NONE ? ok = false` for k < n; ok returned.
    bool apply(const unsigned char* from, std::int32_t* dst, size_t n) const {
        if (m_all) {
            std::fill(dst, dst + n, LatLon2D::PACKED_NONE);
            return true;
        }
        size_t k = 0;
        int bad = 0; // a valid value equal to PACKED_NONE
#if defined(__SSE2__)
        const __m128i lo = _mm_set1_epi32(m_lo), hi = _mm_set1_epi32(m_hi);
        const __m128i fill = _mm_set1_epi32(m_fill), use_fill = _mm_set1_epi32(m_has_fill ? -1 : 0),
                      none = _mm_set1_epi32(LatLon2D::PACKED_NONE);
        __m128i bad4 = _mm_setzero_si128();
        for (; k + 4 <= n; k += 4) {
            const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + 4 * k));
            const __m128i m =
                _mm_or_si128(_mm_or_si128(_mm_cmplt_epi32(x, lo), _mm_cmpgt_epi32(x, hi)),
                             _mm_and_si128(use_fill, _mm_cmpeq_epi32(x, fill)));
            bad4 = _mm_or_si128(bad4, _mm_andnot_si128(m, _mm_cmpeq_epi32(x, none)));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + k),
                             _mm_or_si128(_mm_and_si128(m, none), _mm_andnot_si128(m, x)));
        }
        bad = _mm_movemask_epi8(bad4);
#endif
        for (; k < n; ++k) {
            std::int32_t x;
            std::memcpy(&x, from + 4 * k, sizeof x);
            const bool m = x < m_lo || x > m_hi || (m_has_fill && x == m_fill);
            bad |= !m && x == LatLon2D::PACKED_NONE;
            dst[k] = m ? LatLon2D::PACKED_NONE : x;
        }
        return bad == 0;
    }

private:
    bool m_all = false, m_has_fill = false;
    std::int32_t m_lo = INT32_MIN, m_hi = INT32_MAX, m_fill = 0;
};

// A 2-D coordinate of shape (h, w) in double: scale_factor/add_offset applied, _FillValue and
// values outside valid_min/valid_max -> NaN.
std::vector<double> read_2d(const nc::File& f, const nc::Var& v, size_t h, size_t w) {
    std::vector<double> out;
    reserve_huge(out, h * w);
    out.resize(h * w);
    const bool direct =
        read_chunks(f, v, h, w, [&](const unsigned char* src, size_t n, size_t i, bool) {
            widen_any(v.type, src, n, out.data() + i);
        });
    if (!direct) {
        f.check(nc_get_var_double(f.id(), v.id, out.data()), "reading '" + v.name + "'");
    }
    const Packing p = packing(f, v);
    for (auto& x : out) {
        x = masked(x, p) ? std::numeric_limits<double>::quiet_NaN() : x * p.scale + p.offset;
    }
    return out;
}

// |a - b| of two int32: the uint32 it fits in.
inline std::uint32_t abs_diff(std::int32_t a, std::int32_t b) {
    const auto ua = static_cast<std::uint32_t>(a), ub = static_cast<std::uint32_t>(b);
    return a > b ? ua - ub : ub - ua;
}

#if defined(__SSE2__)
// abs_diff of four lanes, xor 2^31 so that signed compares order them as unsigned ones.
inline __m128i abs_diff4_biased(__m128i a, __m128i b) {
    const __m128i lt = _mm_cmpgt_epi32(b, a), d = _mm_sub_epi32(a, b);
    // -d where b > a ((d ^ -1) - -1), else d: the difference modulo 2^32, which is |a - b|
    const __m128i u = _mm_sub_epi32(_mm_xor_si128(d, lt), lt);
    return _mm_xor_si128(u, _mm_set1_epi32(INT32_MIN));
}
inline __m128i max4(__m128i a, __m128i b) { // signed (SSE2 has no pmaxsd)
    const __m128i gt = _mm_cmpgt_epi32(a, b);
    return _mm_or_si128(_mm_and_si128(gt, a), _mm_andnot_si128(gt, b));
}
inline std::uint32_t max_biased(__m128i m) {
    alignas(16) std::int32_t l[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(l), m);
    std::uint32_t r = 0;
    for (const std::int32_t x : l) {
        r = std::max(r, static_cast<std::uint32_t>(x) ^ 0x80000000u);
    }
    return r;
}
#endif

// The largest abs_diff(x[c], x[c + 1]) for c + 1 < n (0 for n < 2).
std::uint32_t jump_right(const std::int32_t* x, size_t n) {
    std::uint32_t m = 0;
    size_t c = 0;
#if defined(__SSE2__)
    __m128i m4 = _mm_set1_epi32(INT32_MIN); // 0, biased
    for (; c + 5 <= n; c += 4) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + c));
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + c + 1));
        m4 = max4(m4, abs_diff4_biased(a, b));
    }
    m = max_biased(m4);
#endif
    for (; c + 1 < n; ++c) {
        m = std::max(m, abs_diff(x[c], x[c + 1]));
    }
    return m;
}

// The largest abs_diff(x[c], y[c]) for c < n.
std::uint32_t jump_down(const std::int32_t* x, const std::int32_t* y, size_t n) {
    std::uint32_t m = 0;
    size_t c = 0;
#if defined(__SSE2__)
    __m128i m4 = _mm_set1_epi32(INT32_MIN);
    for (; c + 4 <= n; c += 4) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + c));
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(y + c));
        m4 = max4(m4, abs_diff4_biased(a, b));
    }
    m = max_biased(m4);
#endif
    for (; c < n; ++c) {
        m = std::max(m, abs_diff(x[c], y[c]));
    }
    return m;
}

// What read_2d_packed finds besides the integers (LatLon2D's derived field lon_row_jump; only
// when the chunks were read directly: done is false otherwise).
struct Derived {
    bool done = false;
    std::vector<std::uint32_t> jump;
};

// The stored integers of a 2-D coordinate whose type fits an int32 (byte .. int, ubyte, ushort),
// masked values as LatLon2D::PACKED_NONE; nullopt for another type, or when a valid value is
// PACKED_NONE itself. With derived, also each row's largest jump (longitude:
// LatLon2D::lon_row_jump), from each chunk row just decoded (in the cache, in the chunk tasks);
// the pairs across chunks after.
std::optional<LatLon2D::Packed> read_2d_packed(const nc::File& f, const nc::Var& v, size_t h,
                                               size_t w, Derived* derived = nullptr) {
    if (v.type != NC_BYTE && v.type != NC_UBYTE && v.type != NC_SHORT && v.type != NC_USHORT &&
        v.type != NC_INT) {
        return std::nullopt;
    }
    const IntMask im(packing(f, v));
    // Masked values -> PACKED_NONE in dst[0, n); false when a valid value is PACKED_NONE itself.
    auto mask = [&im](std::int32_t* dst, size_t n) {
        return im.apply(reinterpret_cast<const unsigned char*>(dst), dst, n);
    };
    LatLon2D::Packed out;
    reserve_huge(out, h * w);
    out.resize(h * w); // not zero-filled: every element is written below
    std::atomic<bool> representable{true};
    const bool jumps = derived != nullptr;
    // Per row (several chunk tasks raise a row's maximum, in any order: the same result however
    // they run; a row's atomic is met by ~w / chunk width tasks, rarely at once)
    std::vector<std::atomic<std::uint32_t>> row_jump(jumps ? h : 0);
    const auto raise = [](std::atomic<std::uint32_t>& a, std::uint32_t x) {
        std::uint32_t old = a.load(std::memory_order_relaxed);
        while (x > old && !a.compare_exchange_weak(old, x, std::memory_order_relaxed)) {
        }
    };
    std::array<size_t, 2> chunk{};
    const bool direct = read_chunks(
        f, v, h, w,
        [&](const unsigned char* src, size_t n, size_t i, bool top) {
            std::int32_t* dst = out.data() + i;
            // decoded and masked here, in the chunk tasks on the run's threads (an int32 straight
            // from the chunk's bytes: one pass over the row)
            bool ok = true;
            if (v.type == NC_INT) {
                ok = im.apply(src, dst, n);
            } else {
                narrow_any(v.type, src, n, dst);
                ok = mask(dst, n);
            }
            if (!ok) {
                representable = false;
            }
            const size_t r = i / w;
            if (jumps) {
                // this row's pairs along it, and the pairs of the row above (this chunk's, still
                // in the cache) with this one
                raise(row_jump[r], jump_right(dst, n));
                if (!top) {
                    raise(row_jump[r - 1], jump_down(dst - w, dst, n));
                }
            }
        },
        jumps ? &chunk : nullptr);
    if (!direct) {
        f.check(nc_get_var_int(f.id(), v.id, out.data()), "reading '" + v.name + "'");
        representable = mask(out.data(), out.size());
    }
    if (!representable) {
        return std::nullopt;
    }
    if (direct && jumps) {
        // The pairs that straddle two chunks: a cell in a chunk's last column and its right
        // neighbour, a cell in a chunk's last row and the one below it (bands of rows in
        // parallel; each band's rows are its own).
        const size_t ch = std::max<size_t>(chunk[0], 1), cw = std::max<size_t>(chunk[1], 1);
        derived->jump.resize(h);
        const std::int32_t* x = out.data();
        const size_t rows_per = 256;
        const auto* pool = ThreadPool::current();
        parallel_for((h + rows_per - 1) / rows_per, pool ? static_cast<int>(pool->size()) : 1,
                     [&](size_t b, size_t) {
                         for (size_t r = b * rows_per; r < std::min(h, (b + 1) * rows_per); ++r) {
                             std::uint32_t m = row_jump[r].load(std::memory_order_relaxed);
                             const std::int32_t* row = x + r * w;
                             for (size_t c = cw; c < w; c += cw) {
                                 m = std::max(m, abs_diff(row[c - 1], row[c]));
                             }
                             if ((r + 1) % ch == 0 && r + 1 < h) {
                                 m = std::max(m, jump_down(row, row + w, w));
                             }
                             derived->jump[r] = m;
                         }
                     });
        derived->done = true;
    }
    return out;
}

struct Coords {
    fs::path file;
    size_t height = 0, width = 0;
    std::string lat_name, lon_name, row_dim, col_dim;
};

// Where the 2-D lat/lon of `path` are (names and shape; not read here). xy: [lon name, lat name]
// or empty.
Coords find_coords(const fs::path& path, const std::vector<std::string>& xy) {
    const auto file = nc::File::open(path);
    const auto dims = nc::dims(file);
    const auto vars = nc::vars(file);
    const nc::Var* lat = nullptr;
    const nc::Var* lon = nullptr;
    for (const auto& v : vars) {
        if (!xy.empty()) {
            if (v.name == xy[1]) {
                lat = &v;
            } else if (v.name == xy[0]) {
                lon = &v;
            }
            continue;
        }
        if (v.dims.size() != 2) {
            continue;
        }
        const int axis = axis_of(file, v);
        if (axis == 1 && !lat) {
            lat = &v;
        } else if (axis == 2 && !lon) {
            lon = &v;
        }
    }
    if (!lat || !lon || lat->dims.size() != 2 || lat->dims != lon->dims) {
        std::string what;
        if (!xy.empty()) {
            what = "no 2-D variables '" + xy[0] + "' and '" + xy[1] +
                   "' (input_processor_params.xy_names) on the same dimensions";
        } else {
            what = "no 2-D latitude/longitude variables (lat(y,x) and lon(y,x))";
        }
        throw InputError(nc::prefix(path) + ": " + what,
                         "The curvilinear processor needs 2-D lat/lon; use "
                         "input_processor_name: default for 1-D lat/lon grids");
    }
    Coords c;
    c.file = path;
    c.lat_name = lat->name;
    c.lon_name = lon->name;
    c.row_dim = dims[static_cast<size_t>(lat->dims[0])].name;
    c.col_dim = dims[static_cast<size_t>(lat->dims[1])].name;
    c.height = dims[static_cast<size_t>(lat->dims[0])].len;
    c.width = dims[static_cast<size_t>(lat->dims[1])].len;
    return c;
}

// The 2-D lat/lon that find_coords found.
LatLon2D read_coords(const Coords& c) {
    const auto file = nc::File::open(c.file);
    const nc::Var* lat = nullptr;
    const nc::Var* lon = nullptr;
    const auto vars = nc::vars(file);
    for (const auto& v : vars) {
        if (v.name == c.lat_name) {
            lat = &v;
        } else if (v.name == c.lon_name) {
            lon = &v;
        }
    }
    if (!lat || !lon) {
        throw InputError(nc::prefix(c.file) + ": the 2-D latitude/longitude variables are gone",
                         "The file changed while it was read; run again");
    }
    LatLon2D g;
    g.height = c.height;
    g.width = c.width;
    Derived lon_d;
    auto lat_packed = read_2d_packed(file, *lat, c.height, c.width);
    auto lon_packed =
        lat_packed ? read_2d_packed(file, *lon, c.height, c.width, &lon_d) : std::nullopt;
    if (lat_packed && lon_packed) {
        const Packing a = packing(file, *lat), b = packing(file, *lon);
        if (lon_d.done) {
            g.lon_row_jump = std::move(lon_d.jump);
        }
        g.lat_packed = std::move(*lat_packed);
        g.lon_packed = std::move(*lon_packed);
        g.lat_scale = a.scale;
        g.lat_offset = a.offset;
        g.lon_scale = b.scale;
        g.lon_offset = b.offset;
        return g;
    }
    lat_packed.reset();
    lon_packed.reset();
    g.lat = read_2d(file, *lat, c.height, c.width);
    g.lon = read_2d(file, *lon, c.height, c.width);
    return g;
}

// io::SwathRows of a curvilinear file's integer lat/lon: the same integers as read_coords's
// lat_packed/lon_packed (the same IntMask and narrowing), a block of rows at a time. Blocks are the
// chunk rows when both coordinates are chunked alike and read_chunks' direct path applies (each
// chunk inflated once, its chunks one task each on the run's threads), else 512 rows through
// netCDF (nc_get_vara_int).
class NcSwathRows final : public SwathRows {
public:
    // nullptr when the coordinates are not integers that fit an int32, or are chunked
    // differently.
    static std::unique_ptr<NcSwathRows> open(const Coords& c) {
        auto file = nc::File::open(c.file);
        std::optional<nc::Var> lat, lon;
        for (const auto& v : nc::vars(file)) {
            if (v.name == c.lat_name) {
                lat = v;
            } else if (v.name == c.lon_name) {
                lon = v;
            }
        }
        const auto fits = [](const nc::Var& v) {
            return v.type == NC_BYTE || v.type == NC_UBYTE || v.type == NC_SHORT ||
                   v.type == NC_USHORT || v.type == NC_INT;
        };
        if (!lat || !lon || !fits(*lat) || !fits(*lon) || c.height == 0 || c.width == 0) {
            return nullptr;
        }
        std::unique_ptr<NcSwathRows> r(new NcSwathRows(std::move(file), *lat, *lon, c));
        return r->block_rows > 0 ? std::move(r) : nullptr;
    }
    ~NcSwathRows() override {
        if (m_fd >= 0) {
            ::close(m_fd);
        }
    }
    NcSwathRows(const NcSwathRows&) = delete;
    NcSwathRows& operator=(const NcSwathRows&) = delete;

    bool read(size_t k, std::int32_t* lat, std::int32_t* lon, std::uint32_t& jump) override {
        const size_t W = width, r0 = k * block_rows;
        if (r0 >= height) {
            throw InternalError("NcSwathRows::read: block " + std::to_string(k) + " of " +
                                std::to_string(height) + " rows");
        }
        const size_t n = std::min(height, r0 + block_rows) - r0;
        std::atomic<bool> ok{true};
        std::atomic<std::uint32_t> jmax{0};
        const auto raise = [&jmax](std::uint32_t x) {
            std::uint32_t old = jmax.load(std::memory_order_relaxed);
            while (x > old && !jmax.compare_exchange_weak(old, x, std::memory_order_relaxed)) {
            }
        };
        if (m_direct) {
            // One task per chunk of either coordinate in this block's chunk row.
            const auto& lat_chunks = m_blocks[0][k];
            const auto& lon_chunks = m_blocks[1][k];
            const size_t tasks = lat_chunks.size() + lon_chunks.size();
            const auto* pool = ThreadPool::current();
            parallel_for(tasks, pool ? static_cast<int>(pool->size()) : 1, [&](size_t t, size_t) {
                const bool is_lon = t >= lat_chunks.size();
                const size_t v = is_lon ? 1 : 0;
                const h5::ChunkLayout& L = *m_layout[v];
                const h5::Chunk& c =
                    L.chunks[is_lon ? lon_chunks[t - lat_chunks.size()] : lat_chunks[t]];
                const size_t es = L.element_size;
                const unsigned char* bytes =
                    h5::decode_chunk(m_fd, L, c, L.chunk[0] * L.chunk[1] * es, m_where[v],
                                     h5::thread_chunk_buffers());
                const size_t cr0 = c.offset[0], c0 = c.offset[1];
                const size_t cr1 = std::min<size_t>(cr0 + L.chunk[0], height);
                const size_t c1 = std::min<size_t>(c0 + L.chunk[1], W);
                std::int32_t* out = is_lon ? lon : lat;
                for (size_t r = cr0; r < cr1; ++r) {
                    std::int32_t* dst = out + (r - r0) * W + c0;
                    if (!store(v, bytes + (r - cr0) * L.chunk[1] * es, dst, c1 - c0)) {
                        ok = false;
                    }
                    if (is_lon) {
                        // this row's pairs along it, and (below the chunk's first row, stored by
                        // this task before) those with the row above
                        raise(jump_right(dst, c1 - c0));
                        if (r > cr0) {
                            raise(jump_down(dst - W, dst, c1 - c0));
                        }
                    }
                }
            });
            // The pairs across chunk columns (the last column of a chunk and the next one's
            // first).
            const size_t cw = m_layout[1]->chunk[1];
            std::uint32_t j = jmax.load();
            for (size_t r = 0; r < n; ++r) {
                const std::int32_t* row = lon + r * W;
                for (size_t c = cw; c < W; c += cw) {
                    j = std::max(j, abs_diff(row[c - 1], row[c]));
                }
            }
            jmax = j;
        } else {
            const size_t start[2] = {r0, 0}, count[2] = {n, W};
            for (size_t v = 0; v < 2; ++v) {
                std::int32_t* out = v == 0 ? lat : lon;
                m_file.check(nc_get_vara_int(m_file.id(), m_var[v].id, start, count, out),
                             "reading '" + m_var[v].name + "'");
                if (!m_mask[v].apply(reinterpret_cast<const unsigned char*>(out), out, n * W)) {
                    ok = false;
                }
            }
            std::uint32_t j = 0;
            for (size_t r = 0; r < n; ++r) {
                j = std::max(j, jump_right(lon + r * W, W));
                if (r > 0) {
                    j = std::max(j, jump_down(lon + (r - 1) * W, lon + r * W, W));
                }
            }
            jmax = j;
        }
        // The block above's last row with this block's first.
        std::uint32_t j = jmax.load();
        if (k > 0) {
            j = std::max(j, jump_down(m_last.data(), lon, W));
        }
        std::copy(lon + (n - 1) * W, lon + n * W, m_last.begin());
        jump = j;
        return ok.load();
    }

private:
    NcSwathRows(nc::File file, const nc::Var& lat, const nc::Var& lon, const Coords& c)
        : m_file(std::move(file))
        , m_var{lat, lon}
        , m_mask{IntMask(packing(m_file, lat)), IntMask(packing(m_file, lon))} {
        height = c.height;
        width = c.width;
        const Packing a = packing(m_file, lat), b = packing(m_file, lon);
        lat_scale = a.scale;
        lat_offset = a.offset;
        lon_scale = b.scale;
        lon_offset = b.offset;
        m_last.resize(width);
        int format = 0;
        const bool nc4 = nc_inq_format(m_file.id(), &format) == NC_NOERR &&
                         (format == NC_FORMAT_NETCDF4 || format == NC_FORMAT_NETCDF4_CLASSIC);
        for (size_t v = 0; nc4 && v < 2; ++v) {
            m_layout[v] = h5::chunk_layout(m_file.path(), m_var[v].name, {height, width},
                                           nc::type_size(m_var[v].type), {0, 0}, {height, width});
            m_where[v] = nc::prefix(m_file.path()) + ": variable '" + m_var[v].name + "'";
        }
        if (m_layout[0] && m_layout[1]) {
            if (m_layout[0]->chunk[0] != m_layout[1]->chunk[0] || m_layout[0]->chunk[0] == 0) {
                return; // block_rows 0: chunked differently (no reader)
            }
            m_fd = ::open(m_file.path().c_str(), O_RDONLY | O_CLOEXEC);
            if (m_fd < 0) {
                return;
            }
            m_direct = true;
            block_rows = m_layout[0]->chunk[0];
            const size_t blocks = (height + block_rows - 1) / block_rows;
            for (size_t v = 0; v < 2; ++v) {
                m_blocks[v].resize(blocks);
                const auto& chunks = m_layout[v]->chunks;
                for (size_t i = 0; i < chunks.size(); ++i) {
                    m_blocks[v][chunks[i].offset[0] / block_rows].push_back(i);
                }
            }
            return;
        }
        block_rows = 512;
    }
    // The stored values src[0, n) of coordinate v as masked int32 into dst; false when a valid
    // value is PACKED_NONE (as read_2d_packed).
    bool store(size_t v, const unsigned char* src, std::int32_t* dst, size_t n) const {
        if (m_var[v].type == NC_INT) {
            return m_mask[v].apply(src, dst, n);
        }
        narrow_any(m_var[v].type, src, n, dst);
        return m_mask[v].apply(reinterpret_cast<const unsigned char*>(dst), dst, n);
    }

    nc::File m_file;
    std::array<nc::Var, 2> m_var;  // lat, lon
    std::array<IntMask, 2> m_mask; // lat, lon
    std::array<std::optional<h5::ChunkLayout>, 2> m_layout;
    std::array<std::string, 2> m_where;
    std::array<std::vector<std::vector<size_t>>, 2> m_blocks; // chunk indices per block
    bool m_direct = false;
    int m_fd = -1;
    std::vector<std::int32_t> m_last; // the last block's last row of longitudes
};

class SwathInput final : public Input {
public:
    SwathInput(fs::path path, Coords coords, std::vector<CfInput> files)
        : m_path(std::move(path))
        , m_coords(std::move(coords))
        , m_files(std::move(files)) {
        const std::set<std::string> skip{m_coords.lat_name, m_coords.lon_name};
        for (size_t f = 0; f < m_files.size(); ++f) {
            for (const auto& v : m_files[f].variables()) {
                if (skip.count(v.name) > 0 || find(v.name)) {
                    continue; // a coordinate, or a name an earlier file has
                }
                m_vars.push_back(v);
                m_file_of.push_back(f);
            }
        }
        if (m_vars.empty()) {
            throw InputError(nc::prefix(m_path) + ": no data variable on the 2-D lat/lon grid",
                             "Data variables need the dimensions of lat/lon");
        }
    }

    const fs::path& path() const override { return m_path; }
    // Read on first use: gen reads the slabs of a swath it has scanned without its lat/lon.
    const Geometry& geometry() const override {
        if (!m_geometry) {
            m_geometry = read_coords(m_coords);
        }
        return *m_geometry;
    }
    Geometry take_geometry() override {
        geometry();
        Geometry g = std::move(*m_geometry);
        m_geometry.reset();
        return g;
    }
    std::unique_ptr<SwathRows> swath_rows() const override { return NcSwathRows::open(m_coords); }
    Geometry geometry_shape() const override {
        LatLon2D g;
        g.height = m_coords.height;
        g.width = m_coords.width;
        return g;
    }
    const std::vector<TimeStep>& steps() const override { return m_files.front().steps(); }
    grid::time::Calendar calendar() const override { return m_files.front().calendar(); }
    const std::vector<VarInfo>& variables() const override { return m_vars; }
    nlohmann::json global_attrs() const override { return m_files.front().global_attrs(); }
    // A folder: its name, the total size and the latest mtime of the files read.
    nlohmann::json identity() const override {
        if (m_files.size() == 1 && m_files.front().path() == m_path) {
            return Input::identity();
        }
        unsigned long long size = 0;
        std::string mtime;
        for (const auto& f : m_files) {
            const auto id = f.identity();
            size += id.at("size").get<unsigned long long>();
            mtime = std::max(mtime, id.at("mtime").get<std::string>());
        }
        return {{"name", text::valid_utf8(m_path.filename().string())},
                {"size", size},
                {"mtime", mtime}};
    }

    void read(const std::string& var, size_t step, float* out,
              const ForEach& for_each) const override {
        const auto& f = file_of(var);
        // A file without time reads the same for every step.
        f.read(var, std::min(step, f.steps().size() - 1), out, for_each);
    }
    void read_words(const std::string& var, size_t step, FlagWords& out,
                    const ForEach& for_each) const override {
        const auto& f = file_of(var);
        f.read_words(var, std::min(step, f.steps().size() - 1), out, for_each);
    }
    void read_cells(const std::string& var, size_t step, float* out, const ForEach& for_each,
                    const CellSet& cells) const override {
        const auto& f = file_of(var);
        f.read_cells(var, std::min(step, f.steps().size() - 1), out, for_each, cells);
    }
    void read_words_cells(const std::string& var, size_t step, FlagWords& out,
                          const ForEach& for_each, const CellSet& cells) const override {
        const auto& f = file_of(var);
        f.read_words_cells(var, std::min(step, f.steps().size() - 1), out, for_each, cells);
    }
    using Input::read;

private:
    const CfInput& file_of(const std::string& var) const {
        for (size_t i = 0; i < m_vars.size(); ++i) {
            if (m_vars[i].name == var) {
                return m_files[m_file_of[i]];
            }
        }
        std::vector<std::string> names;
        for (const auto& v : m_vars) {
            names.push_back(v.name);
        }
        throw InputError(nc::prefix(m_path) + ": no data variable '" + var + "'",
                         "Variables on the 2-D lat/lon grid: " + text::join(names, ", "));
    }

    fs::path m_path;
    Coords m_coords;
    mutable std::optional<Geometry> m_geometry;
    std::vector<CfInput> m_files; // the first gives the time
    std::vector<VarInfo> m_vars;
    std::vector<size_t> m_file_of;
};

std::vector<std::string> xy_names(const fs::path& path, const nlohmann::json& params) {
    if (!params.is_object() || !params.contains("xy_names")) {
        return {};
    }
    const auto& j = params["xy_names"];
    if (!j.is_array() || j.size() != 2 || !j[0].is_string() || !j[1].is_string()) {
        throw ConfigError("input_processor_params.xy_names must be two names [lon, lat] (for " +
                          path.string() + ")");
    }
    return {j[0].get<std::string>(), j[1].get<std::string>()};
}

} // namespace

std::unique_ptr<Input> open_curvilinear(const fs::path& path, const nlohmann::json& params) {
    auto xy = xy_names(path, params);
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
        Coords c = find_coords(path, xy);
        std::vector<CfInput> files;
        files.push_back(CfInput::open_on_dims(path, c.row_dim, c.col_dim, LatLonAxes{}, true));
        return std::make_unique<SwathInput>(path, std::move(c), std::move(files));
    }
    // A Sentinel-3 .SEN3 folder.
    const fs::path geo = path / "geo_coordinates.nc";
    if (!fs::is_regular_file(geo, ec)) {
        throw InputError(nc::prefix(path) + ": a .SEN3 folder without geo_coordinates.nc",
                         "Give the complete product folder (it holds the 2-D latitude/longitude)");
    }
    if (xy.empty()) {
        xy = {"longitude", "latitude"};
    }
    Coords c = find_coords(geo, xy);
    std::vector<CfInput> files;
    files.push_back(CfInput::open_on_dims(geo, c.row_dim, c.col_dim, LatLonAxes{}, true));
    std::vector<fs::path> others;
    for (const auto& e : fs::directory_iterator(path)) {
        if (e.is_regular_file() && e.path().extension() == ".nc" && e.path() != geo) {
            others.push_back(e.path());
        }
    }
    std::sort(others.begin(), others.end());
    for (const auto& p : others) {
        try {
            files.push_back(CfInput::open_on_dims(p, c.row_dim, c.col_dim, LatLonAxes{}, false));
        } catch (const InputError& e) {
            // tie_*.nc, time_coordinates.nc: not on (rows, columns).
            spdlog::debug("{}: skipped: {}", p.string(), e.what());
        }
    }
    return std::make_unique<SwathInput>(path, std::move(c), std::move(files));
}

} // namespace baims::io
