// baims tiles: the xcube .levels pyramid (docs/cli/tiles.md).
//
// Layout: <levels>/.zlevels (written last: the commit point of a full build), 0.link (relative
// path to the cube) or 0.zarr (a copy), k.zarr for k >= 1. Every level k is aggregated from level 0
// with 2^k x 2^k blocks, so median and mode are exact (a median of medians is not the median); one
// pass over level 0 feeds all levels (PyramidTask). A build or an --update makes the complete new
// pyramid in <levels>.baims-swap (hard links to the files it keeps) and exchanges it with the old
// one in one step (docs/crash-safety.md, "baims tiles").

#include "baims/cube/tiles.hpp"

#include "journal.hpp"
#include "parallel.hpp"

#include "baims/core/error.hpp"
#include "baims/core/fault.hpp"
#include "baims/core/fs.hpp"
#include "baims/core/huge_pages.hpp"
#include "baims/core/log.hpp"
#include "baims/cube/cube_state.hpp"
#include "baims/cube/prune.hpp"
#include "baims/zarr/array.hpp"
#include "baims/zarr/group.hpp"
#include "baims/zarr/kv_store.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sys/mman.h>
#include <unistd.h>

namespace baims::cube {
namespace {

namespace sfs = std::filesystem;
using nlohmann::json;
constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
const std::set<std::string> METHODS = {"first", "mean", "median", "min", "max", "mode", "auto"};

struct Var {
    std::string name;
    zarr::ArrayMeta meta;
    json attrs;
    std::string method;
    size_t nouter = 1;           // product of the leading (non-spatial) dims
    std::vector<double> missing; // raw values that mean "no data" besides NaN
};

struct Source {
    std::string ydim, xdim;
    size_t H = 0, W = 0;
    std::vector<double> y, x;       // centres
    std::vector<double> ybnd, xbnd; // [n,2] flattened, or empty
    std::vector<Var> vars;
    std::vector<std::string> others; // arrays copied as they are (time, time_bnds, crs, ...)
    json attrs;
    json consolidated;
    std::string path; // as given, for messages
};

void double_to_raw(const zarr::DType& t, double v, char* p) {
    if (t.kind == zarr::DataKind::Float) {
        if (t.itemsize == 4) {
            float f = static_cast<float>(v);
            std::memcpy(p, &f, 4);
        } else {
            std::memcpy(p, &v, 8);
        }
        return;
    }
    double r = std::nearbyint(v);
    if (t.kind == zarr::DataKind::Int) {
        int64_t i = static_cast<int64_t>(r);
        std::memcpy(p, &i, t.itemsize); // little-endian: low bytes first
    } else if (t.kind == zarr::DataKind::UInt) {
        uint64_t u = static_cast<uint64_t>(r);
        std::memcpy(p, &u, t.itemsize);
    } else {
        *p = r != 0 ? 1 : 0;
    }
}

// One item of isz bytes (1, 2, 4 or 8): a fixed-size copy the compiler inlines.
inline void copy_item(char* dst, const char* src, size_t isz) {
    switch (isz) {
    case 1:
        *dst = *src;
        break;
    case 2:
        std::memcpy(dst, src, 2);
        break;
    case 4:
        std::memcpy(dst, src, 4);
        break;
    default:
        std::memcpy(dst, src, 8);
    }
}

// n items of isz bytes (1, 2, 4 or 8) equal to `item` from dst on (a loop that vectorises).
inline void fill_items(char* dst, size_t n, const char* item, size_t isz) {
    const auto fill = [&](auto tag) {
        using U = decltype(tag);
        U v;
        std::memcpy(&v, item, sizeof(U));
        for (size_t i = 0; i < n; ++i) {
            std::memcpy(dst + i * sizeof(U), &v, sizeof(U));
        }
    };
    switch (isz) {
    case 1:
        std::memset(dst, *item, n);
        break;
    case 2:
        fill(uint16_t{});
        break;
    case 4:
        fill(uint32_t{});
        break;
    default:
        fill(uint64_t{});
    }
}

std::vector<std::string> dims_of(const json& attrs) {
    std::vector<std::string> d;
    if (attrs.is_object() && attrs.contains("_ARRAY_DIMENSIONS") &&
        attrs["_ARRAY_DIMENSIONS"].is_array()) {
        for (const auto& e : attrs["_ARRAY_DIMENSIONS"]) {
            d.push_back(e.get<std::string>());
        }
    }
    return d;
}

// The cube's small files as read once: the reads of its metadata and coordinates (read_source,
// the array check, the time axis, each level's copy of the other arrays) go through this store,
// which asks the cube only for what no earlier read asked (the cube's writer lock is held, so
// nothing changes them meanwhile). Read-only; safe for concurrent use.
class ReadOnce : public zarr::KvStore {
public:
    explicit ReadOnce(const zarr::KvStore& inner)
        : m_inner(inner) {}
    std::optional<std::string> get(const std::string& key) const override {
        return once(m_got, key, [&] { return m_inner.get(key); });
    }
    // The keys asked are metadata files, read next when they exist (an array's .zarray) or absent
    // (an array's .zgroup): one open (and the read) instead of a stat first. A file that exists
    // but cannot be read is asked of the cube as before (get would throw).
    bool exists(const std::string& key) const override {
        try {
            return get(key).has_value();
        } catch (const Error&) {
            return m_inner.exists(key);
        }
    }
    std::vector<std::string> list(const std::string& dir) const override {
        return once(m_listed, dir, [&] { return m_inner.list(dir); });
    }
    void put(const std::string&, std::string_view) override { read_only(); }
    void erase(const std::string&) override { read_only(); }
    void rename(const std::string&, const std::string&) override { read_only(); }
    void erase_dir(const std::string&) override { read_only(); }
    std::string describe() const override { return m_inner.describe(); }

private:
    [[noreturn]] static void read_only() {
        throw InternalError("tiles: the cube is read through a read-only store");
    }
    // memo[key], from ask() the first time (not under the lock: two first asks may both ask)
    template <class Map, class Ask>
    typename Map::mapped_type once(Map& memo, const std::string& key, Ask ask) const {
        {
            std::lock_guard<std::mutex> l(m_mutex);
            if (auto it = memo.find(key); it != memo.end()) {
                return it->second;
            }
        }
        auto v = ask();
        std::lock_guard<std::mutex> l(m_mutex);
        memo.emplace(key, v);
        return v;
    }
    const zarr::KvStore& m_inner;
    mutable std::mutex m_mutex;
    mutable std::map<std::string, std::optional<std::string>> m_got;
    mutable std::map<std::string, std::vector<std::string>> m_listed;
};

Source read_source(const zarr::KvStore& store, const std::string& path) {
    if (!store.exists(".zgroup")) {
        throw InputError("'" + path + "' is not a Zarr cube (no .zgroup)",
                         "Give the path of a Zarr v2 cube, e.g. made by baims gen");
    }
    Source s;
    s.path = path;
    s.consolidated = zarr::consolidated_metadata(store)["metadata"];
    s.attrs = s.consolidated.value(".zattrs", json::object());
    std::vector<std::string> arrays;
    for (const auto& [key, _] : s.consolidated.items()) {
        const std::string suffix = "/.zarray";
        if (key.size() > suffix.size() && key.ends_with(suffix)) {
            arrays.push_back(key.substr(0, key.size() - suffix.size()));
        }
    }
    // spatial dims: the last two dims of the first array with >= 2 dims named lat/lon or y/x
    for (const auto& a : arrays) {
        auto d = dims_of(s.consolidated.value(a + "/.zattrs", json::object()));
        if (d.size() >= 2 && ((d[d.size() - 2] == "lat" && d.back() == "lon") ||
                              (d[d.size() - 2] == "y" && d.back() == "x"))) {
            s.ydim = d[d.size() - 2];
            s.xdim = d.back();
            break;
        }
    }
    if (s.ydim.empty()) {
        throw InputError("'" + path + "' has no data variable on (lat, lon) or (y, x)",
                         "Tiles needs a cube of gridded variables");
    }
    s.y = read_numeric_array(store, s.ydim);
    s.x = read_numeric_array(store, s.xdim);
    s.H = s.y.size();
    s.W = s.x.size();
    for (const auto& [b, dst, n] :
         {std::tuple{s.ydim + "_bnds", &s.ybnd, s.H}, std::tuple{s.xdim + "_bnds", &s.xbnd, s.W}}) {
        if (s.consolidated.contains(b + "/.zarray")) {
            auto v = read_numeric_array(store, b);
            if (v.size() == 2 * n) {
                *dst = std::move(v);
            }
        }
    }
    for (const auto& a : arrays) {
        auto attrs = s.consolidated.value(a + "/.zattrs", json::object());
        auto d = dims_of(attrs);
        if (a == s.ydim || a == s.xdim || a == s.ydim + "_bnds" || a == s.xdim + "_bnds") {
            continue;
        }
        bool spatial = std::find(d.begin(), d.end(), s.ydim) != d.end() ||
                       std::find(d.begin(), d.end(), s.xdim) != d.end();
        if (!spatial) {
            s.others.push_back(a);
            continue;
        }
        if (d.size() < 2 || d[d.size() - 2] != s.ydim || d.back() != s.xdim) {
            log::warn("tiles: skipping '" + a + "': its spatial dims are not the last two");
            continue;
        }
        Var v;
        v.name = a;
        v.meta = zarr::ArrayMeta::from_json(s.consolidated[a + "/.zarray"]);
        v.attrs = attrs;
        for (size_t i = 0; i + 2 < v.meta.ndim(); ++i) {
            v.nouter *= v.meta.shape[i];
        }
        if (!v.meta.fill_value.is_null() && !v.meta.fill_is_nan()) {
            v.missing.push_back(v.meta.fill_as_double());
        }
        for (const char* k : {"_FillValue", "missing_value"}) {
            if (attrs.contains(k) && attrs[k].is_number()) {
                v.missing.push_back(attrs[k].get<double>());
            }
        }
        s.vars.push_back(std::move(v));
    }
    if (s.vars.empty()) {
        throw InputError("'" + path + "' has no data variable on (" + s.ydim + ", " + s.xdim + ")",
                         "Tiles needs a cube of gridded variables");
    }
    return s;
}

// Level geometry.
size_t level_size(size_t n, size_t f) {
    return (n + f - 1) / f;
}

std::vector<double> agg_centres(const std::vector<double>& c, size_t f) {
    size_t n = level_size(c.size(), f);
    std::vector<double> out(n);
    for (size_t j = 0; j < n; ++j) {
        size_t a = j * f, b = std::min(c.size(), a + f);
        double sum = 0;
        for (size_t i = a; i < b; ++i) {
            sum += c[i];
        }
        out[j] = sum / static_cast<double>(b - a);
    }
    return out;
}

std::vector<double> agg_bounds(const std::vector<double>& c, const std::vector<double>& bnds,
                               size_t f) {
    size_t n0 = c.size();
    auto lo = [&](size_t i) {
        if (!bnds.empty()) {
            return bnds[2 * i];
        }
        double step = n0 > 1 ? (i + 1 < n0 ? c[i + 1] - c[i] : c[i] - c[i - 1]) : 1.0;
        return c[i] - step / 2;
    };
    auto hi = [&](size_t i) {
        if (!bnds.empty()) {
            return bnds[2 * i + 1];
        }
        double step = n0 > 1 ? (i > 0 ? c[i] - c[i - 1] : c[i + 1] - c[i]) : 1.0;
        return c[i] + step / 2;
    };
    size_t n = level_size(n0, f);
    std::vector<double> out(2 * n);
    for (size_t j = 0; j < n; ++j) {
        out[2 * j] = lo(j * f);
        out[2 * j + 1] = hi(std::min(n0, (j + 1) * f) - 1);
    }
    return out;
}

zarr::ArrayMeta coord_meta(size_t n, bool bnds) {
    zarr::ArrayMeta m;
    m.shape = bnds ? std::vector<size_t>{n, 2} : std::vector<size_t>{n};
    m.chunks = m.shape;
    m.dtype = "<f8";
    m.fill_value = "NaN";
    return m;
}

void copy_tree(const zarr::KvStore& from, zarr::KvStore& to, const std::string& dir) {
    for (const auto& e : from.list(dir)) {
        std::string k = zarr::join_key(dir, e);
        if (from.exists(k)) {
            to.put(k, *from.get(k));
        } else {
            copy_tree(from, to, k);
        }
    }
}

zarr::ArrayMeta level_var_meta(const Var& v, size_t f, size_t th, size_t tw) {
    zarr::ArrayMeta m = v.meta;
    size_t nd = m.ndim();
    m.shape[nd - 2] = level_size(m.shape[nd - 2], f);
    m.shape[nd - 1] = level_size(m.shape[nd - 1], f);
    for (size_t i = 0; i + 2 < nd; ++i) {
        m.chunks[i] = 1;
    }
    m.chunks[nd - 2] = std::min(th, m.shape[nd - 2]);
    m.chunks[nd - 1] = std::min(tw, m.shape[nd - 1]);
    return m;
}

enum class Op { First, Mean, Min, Max, Median, Mode };

Op op_of(const std::string& m) {
    return m == "first"    ? Op::First
           : m == "mean"   ? Op::Mean
           : m == "min"    ? Op::Min
           : m == "max"    ? Op::Max
           : m == "median" ? Op::Median
                           : Op::Mode;
}

// Median or mode of the valid values of a block (v is reordered).
double reduce_sorted(Op op, std::vector<double>& v) {
    if (v.empty()) {
        return NaN;
    }
    std::sort(v.begin(), v.end());
    if (op == Op::Median) {
        size_t n = v.size();
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
    // mode: the most frequent value; ties go to the smallest (as scipy.stats.mode)
    double best = v[0];
    size_t best_n = 0;
    for (size_t i = 0; i < v.size();) {
        size_t j = i;
        while (j < v.size() && v[j] == v[i]) {
            ++j;
        }
        if (j - i > best_n) {
            best_n = j - i;
            best = v[i];
        }
        i = j;
    }
    return best;
}

// An allocator whose resize() leaves new elements uninitialised: the buffers of a task are
// written in full before they are read, and zero-filling them first (std::vector's resize) was
// 12 % of a `first` run (memset and the page faults it takes).
// Large buffers are also faulted in at allocation with one madvise(MADV_POPULATE_WRITE)
// instead of one page fault per 4 KB page at first touch: on this project's VMs a page fault's
// trap costs more than the zeroing of the page (a third of an --update of one day was page
// faults of its fresh decode and level-row buffers, which the run then fills in full anyway).
inline void populate(void* p, size_t bytes) {
#ifdef MADV_POPULATE_WRITE
    constexpr size_t MIN = size_t{256} << 10;
    if (bytes < MIN) {
        return;
    }
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t a = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
    const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(page - 1);
    if (b > a) {
        ::madvise(reinterpret_cast<void*>(a), b - a, MADV_POPULATE_WRITE); // a hint: errors ignored
    }
#else
    (void)p;
    (void)bytes;
#endif
}

template <class T> struct NoInit : std::allocator<T> {
    template <class U> struct rebind { using other = NoInit<U>; };
    NoInit() = default;
    template <class U> NoInit(const NoInit<U>&) noexcept {}
    T* allocate(size_t n) {
        T* p = std::allocator<T>::allocate(n);
        populate(p, n * sizeof(T));
        return p;
    }
    template <class U, class... A> void construct(U* p, A&&... a) {
        if constexpr (sizeof...(A) == 0) {
            ::new (static_cast<void*>(p)) U;
        } else {
            ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
        }
    }
};
using Bytes = std::vector<char, NoInit<char>>;
using Doubles = std::vector<double, NoInit<double>>;

// Decoded chunk buffers of a worker thread, reused from task to task: no page faults and no
// zero-filling of a fresh megabyte per chunk (at most the chunks one band holds are kept).
std::vector<Bytes>& spare_buffers() {
    static thread_local std::vector<Bytes> spare;
    return spare;
}

Bytes spare_buffer(size_t bytes) {
    auto& spare = spare_buffers();
    Bytes b;
    if (!spare.empty()) {
        b = std::move(spare.back());
        spare.pop_back();
    }
    b.resize(bytes); // read_chunk fills every byte of a present chunk
    return b;
}

void give_back(Bytes&& b) {
    if (b.capacity() > 0 && spare_buffers().size() < 64) {
        spare_buffers().push_back(std::move(b));
    }
}

// Branch-free NaN tests and selects on the bits of a float (GCC does not if-convert floating
// point compares, so loops with `x == x ? x : 0` stay scalar; these vectorise).
template <class T> using BitsOf = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
template <class T> inline BitsOf<T> valid_mask(T x) { // all ones unless x is NaN
    using U = BitsOf<T>;
    U u;
    std::memcpy(&u, &x, sizeof(T));
    const U mag = u & (~U(0) >> 1), inf = std::bit_cast<U>(std::numeric_limits<T>::infinity());
    return U(0) - U(mag <= inf);
}
template <class T> inline T keep_bits(T x, BitsOf<T> m) { // x where m is all ones, else +0
    BitsOf<T> u;
    std::memcpy(&u, &x, sizeof(T));
    u &= m;
    std::memcpy(&x, &u, sizeof(T));
    return x;
}

// `first`'s picks: n values at src, src + S, src + 2S, ... (S items; S = 0: `stride` items) to
// dst, a NaN as the fill bits; nonzero when one of them was valid. A loop without calls or
// branches, so that GCC vectorises it (the stride-2 loads as shuffles).
template <class T, size_t S>
inline BitsOf<T> pick_valid(const char* src, size_t stride, char* dst, size_t n, BitsOf<T> fill) {
    using U = BitsOf<T>;
    const size_t s = (S != 0 ? S : stride) * sizeof(T);
    U seen = 0;
    for (size_t c = 0; c < n; ++c) {
        T v;
        std::memcpy(&v, src + c * s, sizeof(T));
        const U mk = valid_mask(v);
        U bits;
        std::memcpy(&bits, &v, sizeof(T));
        bits = (bits & mk) | (fill & ~mk);
        std::memcpy(dst + c * sizeof(T), &bits, sizeof(T));
        seen |= mk;
    }
    return seen;
}

// As pick_valid, with the raw values of `miss` as no data too.
template <class T>
BitsOf<T> pick_missing(const char* src, size_t stride, char* dst, size_t n, BitsOf<T> fill,
                       const std::vector<double>& miss) {
    using U = BitsOf<T>;
    U seen = 0;
    for (size_t c = 0; c < n; ++c) {
        T v;
        std::memcpy(&v, src + c * stride * sizeof(T), sizeof(T));
        U mk = valid_mask(v);
        for (double mv : miss) {
            mk &= static_cast<double>(v) == mv ? U(0) : ~U(0);
        }
        U bits;
        std::memcpy(&bits, &v, sizeof(T));
        bits = (bits & mk) | (fill & ~mk);
        std::memcpy(dst + c * sizeof(T), &bits, sizeof(T));
        seen |= mk;
    }
    return seen;
}

template <class T>
BitsOf<T> pick(const char* src, size_t stride, char* dst, size_t n, BitsOf<T> fill,
               const std::vector<double>& miss) {
    if (!miss.empty()) {
        return pick_missing<T>(src, stride, dst, n, fill, miss);
    }
    return stride == 2 ? pick_valid<T, 2>(src, 2, dst, n, fill)
                       : pick_valid<T, 0>(src, stride, dst, n, fill);
}

// Every level's chunks of one variable and outer index (time step) under one output chunk of the
// deepest level L = n-1 (the "top chunk"), in one pass over its level-0 footprint
// (tile_h * 2^L rows x tile_w * 2^L columns). The footprint is read in bands of F = 2^L rows:
// every 2^k x 2^k block of every level k lies inside one band, so each cell of each level is
// computed from the level-0 values directly (exact for every method, the same values as a
// separate pass per level), and each level-0 chunk is decoded once for all levels.
//
// Memory per thread (what the task holds at once):
//  - the band: F rows x (tile_w * F) columns of doubles;
//  - the decoded level-0 chunks a band touches that the next band needs again: at most one
//    chunk row across the footprint, ceil(tile_w * F / chunk_w) + 1 chunks;
//  - per level k one row of output chunks in the output dtype: 2^(L-k) chunks, in all 2^L - 1;
//  - for median and mode, one block: at most 4^L values.
// (512^2 tiles and chunks, float32, 4 levels: 256 KB + 9 MB + 7 MB.)
class PyramidTask {
public:
    PyramidTask(const Source& s, const Var& v, int n, size_t th, size_t tw, int threads)
        : m_s(s)
        , m_v(v)
        , m_L(n - 1)
        , m_F(size_t{1} << (n - 1))
        , m_th(th)
        , m_tw(tw)
        , m_type(v.meta.dtype_info())
        , m_op(op_of(v.method))
        , m_threads(threads) {
        for (int k = 0; k < n; ++k) {
            m_om.push_back(level_var_meta(v, size_t{1} << k, th, tw));
        }
        const auto& om = m_om.back();
        m_fillv = om.fill_value.is_null() ? 0.0
                  : !m_v.missing.empty() && m_type.kind != zarr::DataKind::Float
                      ? m_v.missing.front()
                      : om.fill_as_double();
        m_fill_raw.resize(m_type.itemsize);
        double_to_raw(m_type, m_fillv, m_fill_raw.data());
    }

    ~PyramidTask() {
        for (auto& [_, b] : m_cache) {
            give_back(std::move(b));
        }
    }
    PyramidTask(const PyramidTask&) = delete;
    PyramidTask& operator=(const PyramidTask&) = delete;

    struct Counts {
        std::atomic<size_t> written{0}, empty{0};
    };

    void run(const zarr::KvStore& cube, const std::vector<zarr::KvStore*>& outs, size_t t,
             size_t cy, size_t cx, Counts& counts) {
        const auto& m = m_v.meta;
        const size_t nd = m.ndim(), isz = m_type.itemsize;
        const size_t ch = m.chunks[nd - 2], cw = m.chunks[nd - 1];
        const size_t R0 = cy * m_th * m_F, C0 = cx * m_tw * m_F;
        const size_t R1 = std::min(m_s.H, R0 + m_th * m_F), C1 = std::min(m_s.W, C0 + m_tw * m_F);
        const size_t fw = C1 - C0;
        // outer index → input chunk index and offset of the leading dims; output chunk index
        std::vector<size_t> in_idx(nd), out_idx(nd);
        size_t inner = 0; // element offset of the (y,x) plane inside the input chunk
        {
            std::vector<size_t> off(nd - 2);
            size_t rem = t;
            for (size_t i = nd - 2; i-- > 0;) {
                size_t pos = rem % m.shape[i];
                rem /= m.shape[i];
                in_idx[i] = pos / m.chunks[i];
                off[i] = pos % m.chunks[i];
                out_idx[i] = pos; // output chunks are 1 along the leading dims
            }
            for (size_t i = 0; i + 2 < nd; ++i) {
                inner = inner * m.chunks[i] + off[i];
            }
            inner *= ch * cw;
        }
        if (m_op == Op::First && m_type.kind == zarr::DataKind::Float) {
            zarr::visit_dtype(m_type, [&](auto tag) {
                using T = typename decltype(tag)::type;
                if constexpr (std::is_floating_point_v<T>) {
                    first_pass<T>(cube, outs, in_idx, out_idx, inner, R0, R1, C0, C1, counts);
                }
            });
            return;
        }
        // per level: one row of output chunks (raw), which chunks of it hold a valid cell
        struct Level : LevelGeom {
            Bytes row;
            std::vector<char> any;
        };
        // the buffers of a worker thread, reused from task to task (no zero-filling or page
        // faults of fresh megabytes per task)
        static thread_local std::vector<Level> lv;
        static thread_local Doubles band, cur, nxt, ccnt, ncnt;
        lv.resize(static_cast<size_t>(m_L) + 1);
        for (int k = 1; k <= m_L; ++k) {
            auto& l = lv[static_cast<size_t>(k)];
            l.LevelGeom::operator=(level_geom(static_cast<size_t>(k), R0, R1, C0, C1));
            l.row.resize(l.oth * l.ow * isz);
            l.any.assign(l.ncols, 0);
        }
        std::vector<double> vals;
        // first, mean, min and max: level k's cells of a band from level k-1's (2x2 children:
        // first the top-left one, min/max of the valid ones, mean from sums and counts), so each
        // level costs a quarter of the one before; median and mode from the band's values.
        const bool tree = m_op != Op::Median && m_op != Op::Mode;
        // float cubes (NaN marks an absent chunk): level 1 straight from the decoded chunks, no
        // band of doubles; the same operations in the same order as halve() on that band, so
        // the same values to the bit
        // direct_group puts all of a band's level rows before they are flushed, so each level's
        // rows of a band must lie in one output chunk row: the F / 2^k rows of level k must
        // divide its tile height (any power-of-two tile); otherwise the band path below, which
        // flushes row by row, makes the same values.
        bool direct = tree && m_type.kind == zarr::DataKind::Float;
        for (int k = 1; direct && k <= m_L; ++k) {
            direct = lv[static_cast<size_t>(k)].oth % (m_F >> k) == 0;
        }
        if (!direct) {
            band.resize(m_F * fw);
        }
        // Float first/mean/min/max: every level's rows of a band from the decoded chunks, in two
        // column segments for a wide footprint, which an idle worker shares (an --update of one
        // day has one wide footprint and one narrow one). A segment starts on a multiple of F
        // level-0 columns, so no block of any level straddles two segments: every cell is made by
        // the same operations as without segments (the same bits).
        auto& levels = lv; // this thread's (a thread_local name in the lambda is the caller's own)
        const size_t seg =
            m_threads > 1 && fw >= 2 * m_F * 256 ? level_size(fw, 2 * m_F) * m_F : fw;
        const size_t nseg = level_size(fw, seg);
        // Chunk by chunk (a group of bands that covers the footprint's part of one level-0 chunk
        // row, and chunks whose width is a multiple of F): one segment per level-0 chunk column
        // (each starts on a multiple of F columns, as above), whose thread decodes that chunk
        // into a buffer of its own and makes the segment's cells from it right away. Each chunk
        // is decoded once as before, but a thread holds one decoded chunk instead of the task
        // holding the whole chunk row (8 MB for 512^2 float chunks and 4096 columns): fresh
        // memory that a short run (an --update of one day) pays for in page faults.
        const bool chunkwise = cw % m_F == 0;
        const size_t bx0 = C0 / cw, ncseg = level_size(C1, cw) - bx0;
        std::vector<std::vector<char>> seg_any(std::max(nseg, chunkwise ? ncseg : 0) *
                                               (static_cast<size_t>(m_L) + 1));
        // Every level's rows of the bands of level-0 rows [g0, g1) (a group of whole bands), each
        // segment's bands by one thread: one parallel_for per group rather than per band (a band of
        // one segment is a few microseconds of work, less than a worker's wake-up). by_chunk: the
        // segments are the chunk columns, each decoding its chunk of chunk row g0 / ch.
        // Several groups (`ends`: the end of each, the next one starting there) share one
        // parallel_for, one task per group and segment: one loop's barrier instead of one per
        // group; they must lie in one chunk row of every level (no flush between them).
        const auto direct_group = [&](size_t first, const std::vector<size_t>& ends,
                                      bool by_chunk) {
            const size_t per = by_chunk ? ncseg : nseg;
            const size_t slots = ends.size() * per * (static_cast<size_t>(m_L) + 1);
            if (seg_any.size() < slots) {
                seg_any.resize(slots);
            }
            parallel_for(ends.size() * per, m_threads, [&](size_t i, size_t) {
                static thread_local Doubles a, an, b, bn; // the running thread's
                const size_t gi = i / per, si = i % per;
                const size_t g0 = gi == 0 ? first : ends[gi - 1], g1 = ends[gi];
                const size_t c0 = by_chunk ? std::max(C0, (bx0 + si) * cw) : C0 + si * seg;
                const size_t c1 = std::min(C1, by_chunk ? (bx0 + si + 1) * cw : c0 + seg);
                DecodedChunk chunk(by_chunk);
                if (by_chunk) {
                    decode_own(cube, in_idx, g0 / ch, bx0 + si);
                }
                for (int k = 1; k <= m_L; ++k) {
                    seg_any[i * (static_cast<size_t>(m_L) + 1) + static_cast<size_t>(k)].assign(
                        levels[static_cast<size_t>(k)].ncols, 0);
                }
                for (size_t b0 = g0; b0 < g1; b0 += m_F) {
                    const size_t b1 = std::min(g1, b0 + m_F);
                    zarr::visit_dtype(m_type, [&](auto tag) {
                        using T = typename decltype(tag)::type;
                        if constexpr (std::is_floating_point_v<T>) {
                            level1<T>(b0, b1, c0, c1, inner, ch, cw, a, an);
                        }
                    });
                    size_t rows = level_size(b1 - b0, 2), cols = level_size(c1 - c0, 2);
                    for (int k = 1; k <= m_L; ++k) {
                        if (k >= 2) {
                            halve(a, an, rows, cols, b, bn);
                            std::swap(a, b);
                            std::swap(an, bn);
                            rows = level_size(rows, 2);
                            cols = level_size(cols, 2);
                        }
                        auto& l = levels[static_cast<size_t>(k)];
                        auto& any =
                            seg_any[i * (static_cast<size_t>(m_L) + 1) + static_cast<size_t>(k)];
                        const size_t off = (c0 - C0) >> k, lr0 = (b0 - R0) / l.f;
                        for (size_t lr = lr0; lr < level_size(b1 - R0, l.f); ++lr) {
                            put_row(&a[(lr - lr0) * cols],
                                    m_op == Op::Mean ? &an[(lr - lr0) * cols] : nullptr, l,
                                    l.row.data() + (lr % l.oth) * l.ow * isz, off, off + cols,
                                    any.data());
                        }
                    }
                }
            });
            for (int k = 1; k <= m_L; ++k) {
                auto& l = levels[static_cast<size_t>(k)];
                for (size_t i = 0; i < ends.size() * per; ++i) {
                    const auto& any =
                        seg_any[i * (static_cast<size_t>(m_L) + 1) + static_cast<size_t>(k)];
                    for (size_t j = 0; j < l.ncols; ++j) {
                        l.any[j] = static_cast<char>(l.any[j] | any[j]);
                    }
                }
            }
        };
        // true when a level's chunk row is complete after the band ending at b1 (it is flushed)
        const auto flushes_after = [&](size_t b1) {
            for (int k = 1; k <= m_L; ++k) {
                const auto& l = lv[static_cast<size_t>(k)];
                const size_t last = level_size(b1 - R0, l.f) - 1; // the band's last level row
                if (last % l.oth == l.oth - 1 || last == l.oh - 1) {
                    return true;
                }
            }
            return false;
        };
        // the end of the group of bands that starts at b0 (below)
        const auto group_from = [&](size_t b0) {
            size_t g1 = std::min(R1, b0 + m_F);
            while (g1 < R1 && g1 % ch != 0 && (g1 - 1) / ch == b0 / ch && !flushes_after(g1)) {
                g1 = std::min(R1, g1 + m_F);
            }
            return g1;
        };
        // a group [g0, g1) that is one level-0 chunk row's part of the footprint, made chunk by
        // chunk
        const auto whole_chunk_row = [&](size_t g0, size_t g1) {
            return chunkwise && g0 / ch == (g1 - 1) / ch && (g0 == R0 || g0 % ch == 0) &&
                   (g1 == R1 || g1 % ch == 0);
        };
        // the direct path: groups of bands that end at a level-0 chunk row's end (the decoded
        // chunks they need are those of one chunk row, or two where a band straddles) or where
        // a level's chunk row is flushed; every cell and chunk as band by band
        size_t group_end = R0;
        std::vector<RowFlush> due; // output chunk rows complete after the band
        for (size_t b0 = R0; b0 < R1; b0 += m_F) {
            const size_t b1 = std::min(R1, b0 + m_F);
            size_t rows = b1 - b0, cols = fw;
            if (direct) {
                if (b0 >= group_end) {
                    size_t g1 = group_from(b0);
                    if (whole_chunk_row(b0, g1)) {
                        // the next whole chunk rows up to the next flush join it (one loop)
                        std::vector<size_t> ends{g1};
                        while (g1 < R1 && !flushes_after(g1) &&
                               whole_chunk_row(g1, group_from(g1))) {
                            g1 = group_from(g1);
                            ends.push_back(g1);
                        }
                        direct_group(b0, ends, true); // every level's rows of the groups in place
                    } else {
                        load_chunks(cube, b0, g1, C0, C1, in_idx, ch, cw);
                        direct_group(b0, {g1}, false);
                        evict(g1, ch);
                    }
                    group_end = g1;
                }
            } else {
                fill_band(cube, band, b0, b1, C0, C1, in_idx, inner, ch, cw);
                if (tree) {
                    cur.resize(rows * cols);
                    std::copy(band.begin(), band.begin() + static_cast<long>(rows * cols),
                              cur.begin());
                    if (m_op == Op::Mean) {
                        ccnt.resize(cur.size());
                        for (size_t i = 0; i < cur.size(); ++i) {
                            const bool ok = !std::isnan(cur[i]);
                            ccnt[i] = ok ? 1.0 : 0.0;
                            cur[i] = ok ? cur[i] : 0.0;
                        }
                    }
                }
            }
            for (int k = 1; k <= m_L; ++k) {
                auto& l = lv[static_cast<size_t>(k)];
                const size_t f = l.f;
                if (tree && !direct) {
                    halve(cur, ccnt, rows, cols, nxt, ncnt);
                    std::swap(cur, nxt);
                    std::swap(ccnt, ncnt);
                    rows = level_size(rows, 2);
                    cols = level_size(cols, 2);
                }
                const size_t lr0 = (b0 - R0) / f;
                for (size_t lr = lr0; lr < level_size(b1 - R0, f); ++lr) {
                    char* dst = l.row.data() + (lr % l.oth) * l.ow * isz;
                    if (direct) {
                        // put by direct_group
                    } else if (tree) {
                        put_row(&cur[(lr - lr0) * cols],
                                m_op == Op::Mean ? &ccnt[(lr - lr0) * cols] : nullptr, l, dst, 0,
                                l.ow, l.any.data());
                    } else {
                        const size_t rs = lr * f - (b0 - R0), re = std::min(rs + f, b1 - b0);
                        for (size_t lc = 0; lc < l.ow; ++lc) {
                            const size_t cs = lc * f, ce = std::min(cs + f, fw);
                            const double res = cell(band, fw, rs, re, cs, ce, vals);
                            if (std::isnan(res)) {
                                copy_item(dst + lc * isz, m_fill_raw.data(), isz);
                            } else {
                                double_to_raw(m_type, res, dst + lc * isz);
                                l.any[lc / l.otw] = 1;
                            }
                        }
                    }
                    if (lr % l.oth == l.oth - 1 || lr == l.oh - 1) {
                        due.push_back({k, &l, &l.row, &l.any, lr / l.oth,
                                       std::min(l.oth, l.oh - (lr / l.oth) * l.oth)});
                        if (!direct) { // (a band may end two chunk rows of a level here)
                            flush(outs, due, out_idx, counts);
                            std::fill(l.any.begin(), l.any.end(), 0);
                            due.clear();
                        }
                    }
                }
            }
            // the direct path: the chunk rows of every level that end with this band in one
            // parallel loop (the last band ends one of each level); a band holds at most one
            // chunk row's end per level there (its rows of level k divide the tile height)
            if (!due.empty()) {
                flush(outs, due, out_idx, counts);
                for (const auto& d : due) {
                    auto& any = lv[static_cast<size_t>(d.k)].any;
                    std::fill(any.begin(), any.end(), 0);
                }
                due.clear();
            }
        }
    }

private:
    // Level k of the footprint rows [R0, R1) x columns [C0, C1): its cell factor, size, chunk
    // size, first output chunk row and column, and number of output chunk columns.
    struct LevelGeom {
        size_t f = 0, oh = 0, ow = 0, oth = 0, otw = 0, row0 = 0, col0 = 0, ncols = 0;
    };
    // An output chunk row of level k to write: chunk row crow of the level, nr valid rows of
    // `row` (the level's row of chunks), `any`: its chunks that hold a valid cell.
    struct RowFlush {
        int k;
        const LevelGeom* g;
        const Bytes* row;
        const std::vector<char>* any;
        size_t crow, nr;
    };
    LevelGeom level_geom(size_t k, size_t R0, size_t R1, size_t C0, size_t C1) const {
        const auto& om = m_om[k];
        const size_t nd = om.ndim();
        LevelGeom l;
        l.f = size_t{1} << k;
        l.oh = level_size(R1 - R0, l.f);
        l.ow = level_size(C1 - C0, l.f);
        l.oth = om.chunks[nd - 2];
        l.otw = om.chunks[nd - 1];
        l.row0 = R0 / l.f / l.oth;
        l.col0 = C0 / l.f / l.otw;
        l.ncols = level_size(l.ow, l.otw);
        return l;
    }

    // `first` of a float cube: level k's cell (i, j) is the level-0 value at (R0 + i 2^k,
    // C0 + j 2^k), the top-left cell of its block (what halve() makes of first of first), with
    // NaN and missing values as the fill value (as put_row()). Each level-0 chunk is decoded
    // once and every level's values are picked from it right away, while it is in the cache, by
    // the thread that decoded it (the band-by-band pass read chunks decoded up to 64 bands
    // before, from memory: 49 % of the time of its own code was those misses,
    // bench/results/2026-12-02-tiles-first.md); no decoded chunk is kept. Memory per thread: one
    // decoded chunk, and per level a ring of output chunk rows (one row when the level-0 chunk
    // rows end on the level's chunk rows, as with tiles of the chunk size).
    template <class T>
    void first_pass(const zarr::KvStore& cube, const std::vector<zarr::KvStore*>& outs,
                    const std::vector<size_t>& in_idx, const std::vector<size_t>& out_idx,
                    size_t inner, size_t R0, size_t R1, size_t C0, size_t C1, Counts& counts) {
        using U = BitsOf<T>;
        const auto& m = m_v.meta;
        const size_t nd = m.ndim(), L = static_cast<size_t>(m_L);
        const size_t ch = m.chunks[nd - 2], cw = m.chunks[nd - 1];
        U fill;
        std::memcpy(&fill, m_fill_raw.data(), sizeof(T));
        struct Lv : LevelGeom {
            size_t nring = 1, next = 0;         // ring slots; the next output chunk row to write
            std::vector<std::vector<char>> any; // per ring slot: chunks with a valid cell
            size_t flag = 0;                    // offset of the level's flags of a level-0 chunk
        };
        static thread_local std::vector<Bytes> rings; // per level: the ring of chunk rows
        auto& ring = rings; // this thread's (a thread_local name in the lambda is the runner's)
        ring.resize(L + 1);
        std::vector<Lv> lv(L + 1);
        size_t nflags = 0; // per level-0 chunk: the `any` flags of its picks, every level's
        for (size_t k = 1; k <= L; ++k) {
            auto& l = lv[k];
            l.LevelGeom::operator=(level_geom(k, R0, R1, C0, C1));
            // the most output chunk rows the level rows of one level-0 chunk row fall in
            for (size_t by = R0 / ch; by * ch < R1; ++by) {
                const size_t lo = level_size(std::max(R0, by * ch) - R0, l.f);
                const size_t hi = level_size(std::min(R1, (by + 1) * ch) - R0, l.f);
                if (hi > lo) {
                    l.nring = std::max(l.nring, (hi - 1) / l.oth - lo / l.oth + 1);
                }
            }
            ring[k].resize(l.nring * l.ncols * l.oth * l.otw * sizeof(T));
            l.any.assign(l.nring, std::vector<char>(l.ncols, 0));
            l.flag = nflags;
            nflags += l.nring * l.ncols;
        }
        const auto& miss = m_v.missing;
        // Level k's (i, j) is level k-1's (2i, 2j) to the bit (a no-data value became the fill
        // bits there, and the fill bits stay as they are). Its validity can be read off level
        // k-1's value as well when the fill value is itself no data (NaN, or one of `miss`):
        // then level k is picked from level k-1's values (a quarter of a chunk's bytes, in the
        // cache), else from the decoded chunk.
        bool cascade = false;
        {
            T fv;
            std::memcpy(&fv, &fill, sizeof(T));
            cascade = valid_mask(fv) == 0;
            for (double mv : miss) {
                cascade = cascade || static_cast<double>(fv) == mv;
            }
        }
        // level k's cell (lr, c) in the ring: chunk c / otw of the slot of row lr
        const auto cell = [&](size_t k, size_t lr, size_t c) {
            const auto& l = lv[k];
            return ring[k].data() +
                   ((((lr / l.oth) % l.nring * l.ncols + c / l.otw) * l.oth + lr % l.oth) * l.otw +
                    c % l.otw) *
                       sizeof(T);
        };
        const size_t bx0 = C0 / cw, nbx = level_size(C1, cw) - bx0;
        std::vector<char> flags;
        for (size_t by = R0 / ch; by * ch < R1; ++by) {
            const size_t ya = std::max(R0, by * ch), yb = std::min(R1, (by + 1) * ch);
            flags.assign(nbx * nflags, 0);
            // the chunks of the row in parallel: an idle worker takes some (an --update of one
            // day has few footprints); each writes its own columns of the level rows
            parallel_for(nbx, m_threads, [&](size_t i, size_t) {
                static thread_local Bytes buf; // the running thread's decoded chunk
                buf.resize(m.chunk_bytes());
                const size_t bx = bx0 + i;
                const size_t xa = std::max(C0, bx * cw), xb = std::min(C1, (bx + 1) * cw);
                std::vector<size_t> at = in_idx;
                at[nd - 2] = by;
                at[nd - 1] = bx;
                bool present = false;
                try {
                    present = zarr::read_chunk(cube, m_v.name, m, at, buf.data());
                } catch (const InputError& e) { // as load_chunks()
                    if (!e.hint().empty()) {
                        throw;
                    }
                    throw InputError(e.what(), "Restore that chunk (or rerun baims gen for "
                                               "its time step); the pyramid was left as it was");
                }
                const char* data = buf.data() + inner * sizeof(T);
                char* fl = flags.data() + i * nflags;
                for (size_t k = 1; k <= L; ++k) {
                    const auto& l = lv[k];
                    const size_t f = l.f;
                    const size_t x0 = C0 + level_size(xa - C0, f) * f; // first picked column
                    if (x0 >= xb) {
                        continue;
                    }
                    // level k from level k-1's picks of this chunk (just made, in the cache)
                    // rather than from the decoded chunk, when they can be told apart (below)
                    const bool up = k >= 2 && cascade && present;
                    const size_t lc0 = (x0 - C0) / f, lc1 = level_size(xb - C0, f);
                    for (size_t y = R0 + level_size(ya - R0, f) * f; y < yb; y += f) {
                        const size_t lr = (y - R0) / f;
                        const char* src = data + ((y - by * ch) * cw + (x0 - bx * cw)) * sizeof(T);
                        char* any = fl + l.flag + ((lr / l.oth) % l.nring) * l.ncols;
                        for (size_t j = lc0 / l.otw; j * l.otw < lc1; ++j) {
                            const size_t ca = std::max(lc0, j * l.otw);
                            const size_t cb = std::min(lc1, (j + 1) * l.otw);
                            char* cd = cell(k, lr, ca);
                            if (!present) { // absent: no valid cell
                                for (size_t c = ca; c < cb; ++c) {
                                    std::memcpy(cd + (c - ca) * sizeof(T), &fill, sizeof(T));
                                }
                                continue;
                            }
                            U seen = 0;
                            if (!up) {
                                seen = pick<T>(src + (ca - lc0) * f * sizeof(T), f, cd, cb - ca,
                                               fill, miss);
                            } else {
                                // cell c is level k-1's (2 lr, 2 c): runs of cells whose
                                // sources lie in one chunk of level k-1
                                const size_t potw = lv[k - 1].otw;
                                for (size_t c = ca; c < cb;) {
                                    const size_t ce =
                                        std::min(cb, ((2 * c / potw + 1) * potw + 1) / 2);
                                    seen |= pick<T>(cell(k - 1, 2 * lr, 2 * c), 2,
                                                    cd + (c - ca) * sizeof(T), ce - c, fill, miss);
                                    c = ce;
                                }
                            }
                            if (seen) {
                                any[j] = 1;
                            }
                        }
                    }
                }
            });
            for (size_t k = 1; k <= L; ++k) {
                auto& l = lv[k];
                for (size_t i = 0; i < nbx; ++i) {
                    const char* fl = flags.data() + i * nflags + l.flag;
                    for (size_t slot = 0; slot < l.nring; ++slot) {
                        for (size_t j = 0; j < l.ncols; ++j) {
                            l.any[slot][j] =
                                static_cast<char>(l.any[slot][j] | fl[slot * l.ncols + j]);
                        }
                    }
                }
                // the output chunk rows whose level rows are all in place
                const size_t done = level_size(yb - R0, l.f);
                while (l.next * l.oth < l.oh && ((l.next + 1) * l.oth <= done || done == l.oh)) {
                    const size_t slot = l.next % l.nring;
                    flush_chunks(*outs[k], static_cast<int>(k),
                                 ring[k].data() + slot * l.ncols * l.oth * l.otw * sizeof(T),
                                 l.any[slot], l.next, std::min(l.oth, l.oh - l.next * l.oth), l.ow,
                                 l.oth, l.otw, l.row0, l.col0, out_idx, counts);
                    std::fill(l.any[slot].begin(), l.any[slot].end(), 0);
                    ++l.next;
                }
            }
        }
    }

    // One row of a level's cells (values; for mean sums and counts) into the level's chunk row
    // in the output dtype: NaN (no valid value) as the fill value; marks the chunks that get a
    // valid cell.
    // Columns [i0, i1) of the level (v and n hold them from index 0); `any` has a flag per chunk.
    template <class L>
    void put_row(const double* v, const double* n, L& l, char* dst, size_t i0, size_t i1,
                 char* any) const {
        const size_t isz = m_type.itemsize;
        auto cellv = [&](size_t i) { return n ? (n[i] > 0 ? v[i] / n[i] : NaN) : v[i]; };
        const auto typed = [&](auto tag) {
            using T = typename decltype(tag)::type;
            using U = BitsOf<T>;
            U fill;
            std::memcpy(&fill, m_fill_raw.data(), sizeof(T));
            for (size_t j = i0 / l.otw; j * l.otw < i1; ++j) {
                const size_t ca = std::max(i0, j * l.otw), cb = std::min(i1, (j + 1) * l.otw);
                U seen = 0;
                const auto put = [&](size_t i, double res) {
                    // the mask from the value in T (NaN stays NaN, and a double beyond T's range
                    // becomes an infinity, valid as before): masks of one width, which the
                    // compiler vectorises
                    const T r = static_cast<T>(res);
                    const U m = valid_mask(r);
                    U out;
                    std::memcpy(&out, &r, sizeof(T));
                    out = (out & m) | (fill & ~m);
                    std::memcpy(dst + i * sizeof(T), &out, sizeof(T));
                    seen |= m & 1;
                };
                if (n) { // a mean of no value is 0 / 0, a NaN: the fill value, as in cellv
                    for (size_t i = ca; i < cb; ++i) {
                        put(i, v[i - i0] / n[i - i0]);
                    }
                } else {
                    for (size_t i = ca; i < cb; ++i) {
                        put(i, v[i - i0]);
                    }
                }
                if (seen) {
                    any[j] = 1;
                }
            }
        };
        if (m_type.kind == zarr::DataKind::Float) {
            if (isz == 4) {
                typed(std::type_identity<float>{});
            } else {
                typed(std::type_identity<double>{});
            }
            return;
        }
        for (size_t lc = i0; lc < i1; ++lc) {
            const double res = cellv(lc - i0);
            if (std::isnan(res)) {
                copy_item(dst + lc * isz, m_fill_raw.data(), isz);
            } else {
                double_to_raw(m_type, res, dst + lc * isz);
                any[lc / l.otw] = 1;
            }
        }
    }

    // Decodes the level-0 chunks of rows [b0, b1) x columns [c0, c1) that are not decoded yet
    // (an absent chunk is kept as an empty buffer).
    void load_chunks(const zarr::KvStore& cube, size_t b0, size_t b1, size_t c0, size_t c1,
                     std::vector<size_t>& idx, size_t ch, size_t cw) {
        const auto& m = m_v.meta;
        const size_t nd = m.ndim();
        std::vector<std::pair<size_t, size_t>> keys;
        for (size_t by = b0 / ch; by * ch < b1; ++by) {
            for (size_t bx = c0 / cw; bx * cw < c1; ++bx) {
                if (!m_cache.contains({by, bx})) {
                    keys.emplace_back(by, bx);
                }
            }
        }
        if (keys.empty()) {
            return;
        }
        // decoded in parallel: a worker without a task of its own (an --update of one day has
        // few footprints) takes some of them
        std::vector<Bytes> bufs(keys.size());
        for (auto& b : bufs) {
            b = spare_buffer(m.chunk_bytes());
        }
        std::vector<char> present(keys.size(), 0);
        parallel_for(keys.size(), m_threads, [&](size_t i, size_t) {
            std::vector<size_t> at = idx;
            at[nd - 2] = keys[i].first;
            at[nd - 1] = keys[i].second;
            try {
                present[i] = zarr::read_chunk(cube, m_v.name, m, at, bufs[i].data()) ? 1 : 0;
            } catch (const InputError& e) { // "reading chunk <key> of '<var>' in …: …"
                if (!e.hint().empty()) {
                    throw;
                }
                throw InputError(e.what(), "Restore that chunk (or rerun baims gen for "
                                           "its time step); the pyramid was left as it was");
            }
        });
        for (size_t i = 0; i < keys.size(); ++i) {
            if (!present[i]) {
                give_back(std::move(bufs[i]));
                bufs[i] = {}; // absent: fill
            }
            m_cache.emplace(keys[i], std::move(bufs[i]));
        }
    }

    // The level-0 chunk a thread decoded for a chunk-wise segment of the direct path (run()):
    // level0_row() reads it instead of the task's cache while `active`.
    struct OwnChunk {
        Bytes data;
        bool present = false, active = false;
    };
    static OwnChunk& own_chunk() {
        static thread_local OwnChunk c;
        return c;
    }
    // Marks the thread's own chunk in use for a segment's lifetime (when `on`).
    struct DecodedChunk {
        explicit DecodedChunk(bool on)
            : m_on(on) {}
        ~DecodedChunk() {
            if (m_on) {
                own_chunk().active = false;
            }
        }
        DecodedChunk(const DecodedChunk&) = delete;
        DecodedChunk& operator=(const DecodedChunk&) = delete;
        bool m_on;
    };
    // Decodes chunk (by, bx) of the outer index in idx into the thread's own chunk.
    void decode_own(const zarr::KvStore& cube, const std::vector<size_t>& idx, size_t by,
                    size_t bx) const {
        const auto& m = m_v.meta;
        const size_t nd = m.ndim();
        auto& own = own_chunk();
        own.data.resize(m.chunk_bytes()); // read_chunk fills every byte of a present chunk
        std::vector<size_t> at = idx;
        at[nd - 2] = by;
        at[nd - 1] = bx;
        try {
            own.present = zarr::read_chunk(cube, m_v.name, m, at, own.data.data());
        } catch (const InputError& e) { // as load_chunks()
            if (!e.hint().empty()) {
                throw;
            }
            throw InputError(e.what(), "Restore that chunk (or rerun baims gen for "
                                       "its time step); the pyramid was left as it was");
        }
        own.active = true;
    }

    // Chunks that end inside the band ending at b1 are not needed again.
    void evict(size_t b1, size_t ch) {
        for (auto it = m_cache.begin(); it != m_cache.end();) {
            if ((it->first.first + 1) * ch <= b1) {
                give_back(std::move(it->second));
                it = m_cache.erase(it);
            } else {
                ++it;
            }
        }
    }

    // Level-0 row y, columns [c0, c1), as T: a pointer into the decoded chunk when one chunk
    // holds it, else assembled in `scratch` (NaN for absent chunks).
    template <class T>
    const T* level0_row(size_t y, size_t c0, size_t c1, size_t inner, size_t ch, size_t cw,
                        std::vector<T, NoInit<T>>& scratch) const {
        const size_t by = y / ch;
        const size_t fw = c1 - c0;
        scratch.resize(fw);
        for (size_t bx = c0 / cw; bx * cw < c1; ++bx) {
            const auto& own = own_chunk();
            const Bytes& data = own.active ? own.data : m_cache.at({by, bx});
            const bool present = own.active ? own.present : !data.empty();
            const size_t xa = std::max(c0, bx * cw), xb = std::min(c1, (bx + 1) * cw);
            if (!present) {
                std::fill_n(&scratch[xa - c0], xb - xa, std::numeric_limits<T>::quiet_NaN());
                continue;
            }
            const char* src =
                data.data() + (inner + (y - by * ch) * cw + (xa - bx * cw)) * sizeof(T);
            if (xa == c0 && xb == c1) {
                return reinterpret_cast<const T*>(src); // decoded chunks are T-aligned
            }
            std::memcpy(&scratch[xa - c0], src, (xb - xa) * sizeof(T));
        }
        return scratch.data();
    }

    // Level 1 of level-0 rows [b0, b1) x columns [c0, c1) of a float cube into out (sums and
    // counts for mean): what halve() makes of the band fill_band() makes, without that band.
    template <class T>
    void level1(size_t b0, size_t b1, size_t c0, size_t c1, size_t inner, size_t ch, size_t cw,
                Doubles& out, Doubles& ocnt) const {
        static thread_local std::vector<T, NoInit<T>> sa, sb;
        const size_t fw = c1 - c0, nr = level_size(b1 - b0, 2), nc = level_size(fw, 2);
        out.resize(nr * nc);
        if (m_op == Op::Mean) {
            ocnt.resize(nr * nc);
        }
        const auto& miss = m_v.missing;
        auto val = [&](T x) {
            double d = static_cast<double>(x);
            for (double mv : miss) {
                d = d == mv ? NaN : d;
            }
            return d;
        };
        const size_t full = fw / 2; // cells with both columns
        for (size_t r = 0; r < nr; ++r) {
            const size_t y = b0 + 2 * r;
            const T* a = level0_row<T>(y, c0, c1, inner, ch, cw, sa);
            double* o = &out[r * nc];
            if (m_op == Op::First) {
                for (size_t c = 0; c < nc; ++c) {
                    o[c] = val(a[2 * c]);
                }
                continue;
            }
            const T* b = y + 1 < b1 ? level0_row<T>(y + 1, c0, c1, inner, ch, cw, sb) : nullptr;
            if (m_op == Op::Mean) {
                double* oc = &ocnt[r * nc];
                // as the band: a missing value is a sum of 0 with a count of 0, added in the
                // order of halve()
                auto sum_cell = [&](size_t c, bool right, bool below) {
                    const size_t x = 2 * c;
                    double d = val(a[x]);
                    bool ok = !std::isnan(d);
                    double sum = ok ? d : 0.0, n = ok ? 1.0 : 0.0;
                    if (right) {
                        d = val(a[x + 1]);
                        ok = !std::isnan(d);
                        sum += ok ? d : 0.0;
                        n += ok ? 1.0 : 0.0;
                    }
                    if (below) {
                        d = val(b[x]);
                        ok = !std::isnan(d);
                        sum += ok ? d : 0.0;
                        n += ok ? 1.0 : 0.0;
                        if (right) {
                            d = val(b[x + 1]);
                            ok = !std::isnan(d);
                            sum += ok ? d : 0.0;
                            n += ok ? 1.0 : 0.0;
                        }
                    }
                    o[c] = sum;
                    oc[c] = n;
                };
                if (b && miss.empty()) {
                    // the hot loop in two passes the compiler vectorises: the top row's pair,
                    // then the bottom row's two values added in turn (the order of halve())
                    for (size_t c = 0; c < full; ++c) {
                        const T p = a[2 * c], q = a[2 * c + 1];
                        const auto pm = valid_mask(p), qm = valid_mask(q);
                        o[c] = static_cast<double>(keep_bits(p, pm)) +
                               static_cast<double>(keep_bits(q, qm));
                        oc[c] = static_cast<double>(pm & 1) + static_cast<double>(qm & 1);
                    }
                    for (size_t c = 0; c < full; ++c) {
                        const T u = b[2 * c], w = b[2 * c + 1];
                        const auto um = valid_mask(u), wm = valid_mask(w);
                        o[c] = (o[c] + static_cast<double>(keep_bits(u, um))) +
                               static_cast<double>(keep_bits(w, wm));
                        oc[c] = (oc[c] + static_cast<double>(um & 1)) + static_cast<double>(wm & 1);
                    }
                } else {
                    for (size_t c = 0; c < full; ++c) {
                        sum_cell(c, true, b != nullptr);
                    }
                }
                if (full < nc) {
                    sum_cell(full, false, b != nullptr);
                }
                continue;
            }
            const bool mn = m_op == Op::Min;
            auto pick = [mn](double p, double q) { return mn ? std::fmin(p, q) : std::fmax(p, q); };
            for (size_t c = 0; c < nc; ++c) {
                const size_t x = 2 * c;
                double v = val(a[x]);
                if (x + 1 < fw) {
                    v = pick(v, val(a[x + 1]));
                }
                if (b) {
                    v = pick(v, val(b[x]));
                    if (x + 1 < fw) {
                        v = pick(v, val(b[x + 1]));
                    }
                }
                o[c] = v;
            }
        }
    }

    // Level-0 rows [b0, b1) x columns [c0, c1) into band (NaN for missing values and absent
    // chunks). A decoded chunk is kept while the next band still needs it.
    void fill_band(const zarr::KvStore& cube, Doubles& band, size_t b0, size_t b1, size_t c0,
                   size_t c1, std::vector<size_t> idx, size_t inner, size_t ch, size_t cw) {
        const size_t isz = m_type.itemsize, fw = c1 - c0;
        // `first` reads only the top-left cell of each block: even rows (and columns) of a band
        const size_t step = m_op == Op::First ? 2 : 1;
        load_chunks(cube, b0, b1, c0, c1, idx, ch, cw);
        for (size_t by = b0 / ch; by * ch < b1; ++by) {
            for (size_t bx = c0 / cw; bx * cw < c1; ++bx) {
                const auto& data = m_cache.at({by, bx});
                const size_t ya = std::max(b0, by * ch), yb = std::min(b1, (by + 1) * ch);
                const size_t xa = std::max(c0, bx * cw), xb = std::min(c1, (bx + 1) * cw);
                if (data.empty()) { // absent: all missing (the chunks tile the band exactly)
                    for (size_t yy = ya; yy < yb; ++yy) {
                        std::fill_n(&band[(yy - b0) * fw + (xa - c0)], xb - xa, NaN);
                    }
                    continue;
                }
                zarr::visit_dtype(m_type, [&](auto tag) {
                    using T = typename decltype(tag)::type;
                    for (size_t yy = ya; yy < yb; ++yy) {
                        if ((yy - b0) % step != 0) {
                            continue;
                        }
                        const char* row = data.data() + (inner + (yy - by * ch) * cw) * isz;
                        double* out = &band[(yy - b0) * fw + (xa - c0)];
                        const char* in = row + (xa - bx * cw) * isz;
                        const size_t nx = xb - xa;
                        for (size_t i = 0; i < nx; ++i) {
                            T raw;
                            std::memcpy(&raw, in + i * sizeof(T), sizeof(T));
                            out[i] = static_cast<double>(raw);
                        }
                        for (double mv : m_v.missing) {
                            for (size_t i = 0; i < nx; ++i) {
                                out[i] = out[i] == mv ? NaN : out[i];
                            }
                        }
                    }
                });
            }
        }
        evict(b1, ch);
    }

    // The 2x2 reduction of a rows x cols grid of cells (values; for mean sums, with counts in
    // cnt) into a ceil(rows/2) x ceil(cols/2) one; children beyond the edge are absent.
    void halve(const Doubles& in, const Doubles& cnt, size_t rows, size_t cols, Doubles& out,
               Doubles& ocnt) const {
        const size_t nr = level_size(rows, 2), nc = level_size(cols, 2);
        out.resize(nr * nc);
        if (m_op == Op::Mean) {
            ocnt.resize(nr * nc);
        }
        for (size_t r = 0; r < nr; ++r) {
            const double* a = &in[2 * r * cols];
            const double* b = 2 * r + 1 < rows ? &in[(2 * r + 1) * cols] : nullptr;
            double* o = &out[r * nc];
            if (m_op == Op::First) {
                for (size_t c = 0; c < nc; ++c) {
                    o[c] = a[2 * c];
                }
                continue;
            }
            if (m_op == Op::Mean) {
                const double* ca = &cnt[2 * r * cols];
                const double* cb = b ? &cnt[(2 * r + 1) * cols] : nullptr;
                double* oc = &ocnt[r * nc];
                for (size_t c = 0; c < nc; ++c) {
                    const size_t x = 2 * c;
                    double sum = a[x], n = ca[x];
                    if (x + 1 < cols) {
                        sum += a[x + 1];
                        n += ca[x + 1];
                    }
                    if (b) {
                        sum += b[x];
                        n += cb[x];
                        if (x + 1 < cols) {
                            sum += b[x + 1];
                            n += cb[x + 1];
                        }
                    }
                    o[c] = sum;
                    oc[c] = n;
                }
                continue;
            }
            const bool mn = m_op == Op::Min;
            auto pick = [mn](double p, double q) { return mn ? std::fmin(p, q) : std::fmax(p, q); };
            for (size_t c = 0; c < nc; ++c) {
                const size_t x = 2 * c;
                double v = a[x];
                if (x + 1 < cols) {
                    v = pick(v, a[x + 1]);
                }
                if (b) {
                    v = pick(v, b[x]);
                    if (x + 1 < cols) {
                        v = pick(v, b[x + 1]);
                    }
                }
                o[c] = v;
            }
        }
    }

    // The aggregate of band rows [rs, re) x columns [cs, ce); NaN if no valid value.
    double cell(const Doubles& band, size_t fw, size_t rs, size_t re, size_t cs, size_t ce,
                std::vector<double>& vals) const {
        if (m_op == Op::First) {
            return band[rs * fw + cs]; // NaN/fill included (xcube's first)
        }
        if (m_op == Op::Median || m_op == Op::Mode) {
            vals.clear();
            for (size_t y = rs; y < re; ++y) {
                for (size_t x = cs; x < ce; ++x) {
                    double d = band[y * fw + x];
                    if (!std::isnan(d)) {
                        vals.push_back(d);
                    }
                }
            }
            return reduce_sorted(m_op, vals);
        }
        double acc = NaN;
        size_t cnt = 0;
        for (size_t y = rs; y < re; ++y) {
            for (size_t x = cs; x < ce; ++x) {
                double d = band[y * fw + x];
                if (std::isnan(d)) {
                    continue;
                }
                if (cnt++ == 0) {
                    acc = d;
                } else if (m_op == Op::Mean) {
                    acc += d;
                } else if (m_op == Op::Min) {
                    acc = std::min(acc, d);
                } else {
                    acc = std::max(acc, d);
                }
            }
        }
        return m_op == Op::Mean && cnt > 0 ? acc / static_cast<double>(cnt) : acc;
    }

    // Writes the chunks of one output chunk row of level k (nr valid rows of `row`); chunks
    // without a valid cell are not written.
    // Writes the chunks of output chunk rows (of one level or several: one parallel loop for
    // all); chunks without a valid cell are not written.
    void flush(const std::vector<zarr::KvStore*>& outs, const std::vector<RowFlush>& rows,
               const std::vector<size_t>& idx, Counts& counts) const {
        std::vector<std::pair<size_t, size_t>> chunks; // (row, chunk column)
        for (size_t r = 0; r < rows.size(); ++r) {
            for (size_t j = 0; j < rows[r].any->size(); ++j) {
                chunks.emplace_back(r, j);
            }
        }
        const size_t isz = m_type.itemsize;
        // the output chunks of the rows, encoded in parallel, each assembled in the buffer of
        // the thread that runs its task: the buffer that thread decodes level-0 chunks into
        // (own_chunk(), never in use here: a thread that holds a decoded chunk runs no other
        // task meanwhile), so that a worker keeps one chunk-sized buffer, not two (fresh memory
        // is most of what a short run like an --update of one day pays for its buffers)
        parallel_for(chunks.size(), m_threads, [&](size_t c, size_t) {
            const auto& [ri, j] = chunks[c];
            const RowFlush& rf = rows[ri];
            const auto& om = m_om[static_cast<size_t>(rf.k)];
            const size_t nd = om.ndim(), nr = rf.nr, crow = rf.crow;
            const size_t ow = rf.g->ow, oth = rf.g->oth, otw = rf.g->otw;
            const Bytes& row = *rf.row;
            if ((*rf.any)[j] || om.fill_value.is_null()) {
                assert(!own_chunk().active);
                Bytes& chunk = own_chunk().data;
                chunk.resize(oth * otw * isz);
                const size_t ca = j * otw, cb = std::min(ow, ca + otw);
                // an edge chunk: the fill value beyond the level's end (only there: a loop per
                // item over the whole chunk was an eighth of an --update's instructions)
                for (size_t r = 0; r < nr; ++r) {
                    std::memcpy(chunk.data() + r * otw * isz, row.data() + (r * ow + ca) * isz,
                                (cb - ca) * isz);
                    if (cb - ca < otw) {
                        fill_items(chunk.data() + (r * otw + cb - ca) * isz, otw - (cb - ca),
                                   m_fill_raw.data(), isz);
                    }
                }
                if (nr < oth) {
                    fill_items(chunk.data() + nr * otw * isz, (oth - nr) * otw, m_fill_raw.data(),
                               isz);
                }
                std::vector<size_t> at = idx;
                at[nd - 2] = rf.g->row0 + crow;
                at[nd - 1] = rf.g->col0 + j;
                zarr::write_chunk(*outs[static_cast<size_t>(rf.k)], m_v.name, om, at, chunk.data());
                ++counts.written;
            } else {
                ++counts.empty;
            }
            fault_point("tiles-chunk");
        });
    }

    // flush() of a chunk row held chunk by chunk (ncols chunks of oth x otw cells from `row`):
    // each chunk is encoded where it is, without a copy; an edge chunk's cells beyond the
    // level's end (rows from nr, columns from ow) are set to the fill value there first.
    void flush_chunks(zarr::KvStore& out, int k, char* row, const std::vector<char>& any,
                      size_t crow, size_t nr, size_t ow, size_t oth, size_t otw, size_t row0,
                      size_t col0, const std::vector<size_t>& idx, Counts& counts) const {
        const auto& om = m_om[static_cast<size_t>(k)];
        const size_t nd = om.ndim(), isz = m_type.itemsize;
        parallel_for(any.size(), m_threads, [&](size_t j, size_t) {
            if (any[j] || om.fill_value.is_null()) {
                char* chunk = row + j * oth * otw * isz;
                const size_t nc = std::min(ow, (j + 1) * otw) - j * otw;
                if (nc < otw) {
                    for (size_t r = 0; r < nr; ++r) {
                        fill_items(chunk + (r * otw + nc) * isz, otw - nc, m_fill_raw.data(), isz);
                    }
                }
                if (nr < oth) {
                    fill_items(chunk + nr * otw * isz, (oth - nr) * otw, m_fill_raw.data(), isz);
                }
                std::vector<size_t> at = idx;
                at[nd - 2] = row0 + crow;
                at[nd - 1] = col0 + j;
                zarr::write_chunk(out, m_v.name, om, at, chunk);
                ++counts.written;
            } else {
                ++counts.empty;
            }
            fault_point("tiles-chunk");
        });
    }

    const Source& m_s;
    const Var& m_v;
    int m_L;
    size_t m_F, m_th, m_tw;
    zarr::DType m_type;
    Op m_op;
    int m_threads; // decodes and encodes of one band run in parallel (idle workers help)
    std::vector<zarr::ArrayMeta> m_om; // per level
    double m_fillv = 0;
    std::vector<char> m_fill_raw;
    std::map<std::pair<size_t, size_t>, Bytes> m_cache; // empty: absent chunk
};

// Chunks of outer indices `ts` of every variable on levels 1..n-1 (outs[k]: level k's store),
// one pass over level 0, in parallel over the top chunks. `meta` (the levels' metadata) is one
// more task of the same parallel run, so that no core waits for the other during it.
void write_levels_data(const zarr::KvStore& cube, const std::vector<zarr::KvStore*>& outs,
                       const Source& s, int n, size_t th, size_t tw, const std::vector<size_t>& ts,
                       int threads, TilesResult& r, const std::function<void()>& meta) {
    if (n < 2) {
        meta();
        return;
    }
    struct Task {
        const Var* v;
        size_t t, cy, cx;
    };
    std::vector<Task> tasks;
    const size_t F = size_t{1} << (n - 1);
    for (const auto& v : s.vars) {
        for (size_t t : ts) {
            if (t >= v.nouter) {
                continue;
            }
            for (size_t cy = 0; cy * th * F < s.H; ++cy) {
                for (size_t cx = 0; cx * tw * F < s.W; ++cx) {
                    tasks.push_back({&v, t, cy, cx});
                }
            }
        }
    }
    // the largest footprints first: the small ones at the cube's right and bottom edges fill
    // the end of the run on both cores (tasks are handed out in this order)
    auto area = [&](const Task& k) {
        return (std::min(s.H, (k.cy + 1) * th * F) - k.cy * th * F) *
               (std::min(s.W, (k.cx + 1) * tw * F) - k.cx * tw * F);
    };
    std::stable_sort(tasks.begin(), tasks.end(),
                     [&](const Task& p, const Task& q) { return area(p) > area(q); });
    PyramidTask::Counts counts;
    // The biggest footprint goes first, the metadata second: the first worker to wake up starts
    // the longest task at once (the other wakes a little later, ~1 ms on this project's VMs, and
    // takes the metadata task, then helps the biggest one's loops).
    const size_t meta_index = std::min<size_t>(1, tasks.size());
    parallel_for(tasks.size() + 1, threads, [&](size_t i, size_t) {
        if (i == meta_index) {
            meta();
            return;
        }
        const auto& task = tasks[i < meta_index ? i : i - 1];
        PyramidTask pt(s, *task.v, n, th, tw, threads);
        pt.run(cube, outs, task.t, task.cy, task.cx, counts);
    });
    r.chunks_written += counts.written;
    r.chunks_empty += counts.empty;
}

json level_attrs(const Source& s, size_t f) {
    json a = s.attrs;
    auto res = [&](const std::vector<double>& c) {
        return c.size() > 1 ? std::abs(c.back() - c.front()) / static_cast<double>(c.size() - 1)
                            : NaN;
    };
    double ry = res(s.y), rx = res(s.x);
    if (!std::isnan(ry)) {
        a["geospatial_lat_resolution"] = ry * static_cast<double>(f);
    }
    if (!std::isnan(rx)) {
        a["geospatial_lon_resolution"] = rx * static_cast<double>(f);
    }
    return a;
}

// Metadata and coordinates of a level (not the data chunks); consolidated last. With `written`,
// the metadata documents of the level are also added to it under their keys (the copied arrays'
// as the cube's read of them parsed them: the same bytes), for zarr::consolidate(out, *written)
// where `out` was empty before (consolidated_from_hand).
void write_level_meta(const zarr::KvStore& cube, zarr::KvStore& out, const Source& s, size_t f,
                      size_t th, size_t tw, json* written = nullptr) {
    zarr::write_group(out, level_attrs(s, f), written);
    auto yc = agg_centres(s.y, f), xc = agg_centres(s.x, f);
    auto yb = agg_bounds(s.y, s.ybnd, f), xb = agg_bounds(s.x, s.xbnd, f);
    for (const auto& [dim, c, b] : {std::tuple{s.ydim, &yc, &yb}, std::tuple{s.xdim, &xc, &xb}}) {
        json ca = s.consolidated.value(dim + "/.zattrs", json::object());
        ca["bounds"] = dim + "_bnds";
        auto cm = coord_meta(c->size(), false);
        zarr::write_array_meta(out, dim, cm, ca, written);
        zarr::write_whole(out, dim, cm, c->data());
        json ba = s.consolidated.value(dim + "_bnds/.zattrs", json::object());
        ba["_ARRAY_DIMENSIONS"] = json::array({dim, s.consolidated.contains(dim + "_bnds/.zattrs")
                                                        ? dims_of(ba).back()
                                                        : std::string("bnds")});
        auto bm = coord_meta(c->size(), true);
        zarr::write_array_meta(out, dim + "_bnds", bm, ba, written);
        zarr::write_whole(out, dim + "_bnds", bm, b->data());
    }
    for (const auto& o : s.others) {
        out.erase_dir(o);
        copy_tree(cube, out, o);
        if (written) {
            for (const std::string& key : {o + "/.zarray", o + "/.zattrs"}) {
                if (auto it = s.consolidated.find(key); it != s.consolidated.end()) {
                    (*written)[key] = *it;
                }
            }
        }
    }
    for (const auto& v : s.vars) {
        zarr::write_array_meta(out, v.name, level_var_meta(v, f, th, tw), v.attrs, written);
    }
}

// True when the documents write_level_meta collects in `written` are exactly what
// zarr::consolidated_metadata() would read back from a store that held only the level's files:
// every array the level has is a top-level one (the consolidation of a store lists the arrays of
// its root and of sub-groups with a .zgroup; an array copied from a cube's sub-group, without the
// sub-group's .zgroup, is not in it) and a name it would not skip.
bool consolidated_from_hand(const Source& s) {
    auto top_level = [](const std::string& name) {
        return zarr::is_valid_key(name) && name.find('/') == std::string::npos && name[0] != '.';
    };
    bool ok = top_level(s.ydim) && top_level(s.xdim) && top_level(s.ydim + "_bnds") &&
              top_level(s.xdim + "_bnds");
    for (const auto& o : s.others) {
        ok = ok && top_level(o);
    }
    for (const auto& v : s.vars) {
        ok = ok && top_level(v.name);
    }
    return ok;
}

std::string known_vars(const Source& s) {
    std::string known;
    for (const auto& v : s.vars) {
        known += (known.empty() ? "" : ", ") + v.name;
    }
    return known;
}

std::string default_output(const std::string& cube) {
    sfs::path p = sfs::path(cube).lexically_normal();
    if (p.filename().empty()) {
        p = p.parent_path();
    }
    std::string name = p.filename().string();
    if (name.ends_with(".zarr")) {
        name = name.substr(0, name.size() - 5);
    }
    return (p.parent_path() / (name + ".levels")).string();
}

// Whether a top-level name of a pyramid folder is a level: "1.zarr", "0.link", "12.zarr".
bool is_level_name(const std::string& name) {
    const auto dot = name.find('.');
    return dot != std::string::npos && dot > 0 &&
           std::all_of(name.begin(), name.begin() + static_cast<std::ptrdiff_t>(dot),
                       [](char c) { return c >= '0' && c <= '9'; }) &&
           (name.substr(dot) == ".zarr" || name.substr(dot) == ".link");
}

// The pyramid folder (and the --png folder) must be folders of their own: a full build replaces
// a pyramid folder's level folders (N.zarr) and its metadata, and -o naming the cube, a folder
// inside it or a folder that holds it was a way to lose the cube (`tiles data/c.zarr -o data`
// removed every *.zarr folder of data/, the cube included, with exit 0). Refused before anything
// is written or locked (exit 2): the folder is the cube, lies inside it or holds it; the PNG
// folder is the cube's or the pyramid's, or holds or lies inside either; or the pyramid folder
// exists with other things in it than a pyramid's (no .zlevels, and a name that is not a level
// or baims' own).
void check_output_folders(const std::string& cube, const std::string& out_dir,
                          const std::string* png_dir) {
    const sfs::path c = fs::resolved(cube), o = fs::resolved(out_dir);
    const auto refuse = [](const std::string& what, const std::string& hint) {
        throw UsageError(what, hint);
    };
    const std::string own = "Give a folder of its own, e.g. '" + default_output(cube) + "'";
    if (fs::within(o, c)) {
        refuse("the pyramid folder '" + out_dir + "' " +
                   (o == c ? "is the cube itself" : "lies inside the cube '" + cube + "'"),
               own);
    }
    if (fs::within(c, o)) {
        refuse("the pyramid folder '" + out_dir + "' holds the cube '" + cube +
                   "': a build replaces the folders in it",
               own);
    }
    if (png_dir) {
        const sfs::path p = fs::resolved(*png_dir);
        for (const auto& [other, name] : {std::pair{c, "the cube '" + cube + "'"},
                                          std::pair{o, "the pyramid folder '" + out_dir + "'"}}) {
            if (fs::within(p, other) || fs::within(other, p)) {
                refuse("--png '" + *png_dir + "' " +
                           (p == other             ? "is " + name
                            : fs::within(p, other) ? "lies inside " + name
                                                   : "holds " + name),
                       "Give the PNG tiles a folder of their own");
            }
        }
    }
    std::error_code ec;
    if (!sfs::is_directory(o, ec) || sfs::exists(o / ".zlevels", ec)) {
        return;
    }
    for (const auto& e : sfs::directory_iterator(o, ec)) {
        const std::string name = e.path().filename().string();
        if (!is_level_name(name) && !name.starts_with(".baims") &&
            !zarr::FileStore::is_temp_name(name)) {
            refuse("the pyramid folder '" + out_dir + "' exists and holds '" + name +
                       "', which is not part of a pyramid (it has no .zlevels)",
                   "Give an empty or new folder with -o, or the folder of a pyramid made before");
        }
    }
}

// The store of the new pyramid tree in <levels>.baims-swap, which no reader sees before the
// exchange: a put unlinks the name (a hard link to the old pyramid's file, which must stay as
// it is) and writes a new file in place, without a temporary file or an fsync: one syncfs before
// the exchange makes the tree durable, and a killed run's tree is removed by the next run.
// (unlink_first = false: a store whose keys are known to be free, e.g. the chunks an --update
// appends beyond the levels' end after unlinking every key of those steps. start_writeback: the
// kernel starts writing each file at once, so that the commit's syncfs finds the few chunks of
// an appended day on disk already; not for a full build: with it, the rebuild of the benchmark
// was slower on the loaded machine, 2.13 s wall vs 1.75, median of 7.)
class SwapStore : public zarr::FileStore {
public:
    explicit SwapStore(const sfs::path& root, bool unlink_first = true,
                       bool start_writeback = false)
        : zarr::FileStore(root, false)
        , m_unlink(unlink_first)
        , m_writeback(start_writeback) {}
    void put(const std::string& key, std::string_view data) override {
        const sfs::path p = root() / key;
        if (m_unlink) {
            ::unlink(p.c_str());
        }
        std::error_code ec;
        sfs::create_directories(p.parent_path(), ec);
        fs::write_file(p, data, m_writeback);
    }

private:
    bool m_unlink, m_writeback;
};

// Hard links every file under from/rel to the same name under to/rel for which keep(relative
// key, at the top level) is true; temporary files of killed atomic writes are left out.
template <class Keep>
void link_pyramid(const sfs::path& from, const sfs::path& to, const std::string& rel,
                  const Keep& keep) {
    std::error_code ec;
    sfs::create_directory(to / rel, ec);
    if (ec) {
        throw OutputError("cannot create '" + (to / rel).string() + "': " + ec.message(),
                          "The folder that holds the pyramid must be writable: tiles builds the "
                          "new pyramid beside the old one");
    }
    for (const auto& e : sfs::directory_iterator(from / rel)) {
        const std::string name = e.path().filename().string();
        const std::string key = rel.empty() ? name : rel + "/" + name;
        if (zarr::FileStore::is_temp_name(name) || !keep(key, rel.empty())) {
            continue;
        }
        if (e.is_directory()) {
            link_pyramid(from, to, key, keep);
        } else {
            hard_link(e.path(), to / key, "pyramid");
        }
    }
}

// Calls f with the store key of every chunk of outer index t of variable v on a level (om: the
// level's array meta; its chunks are 1 along the leading dims).
template <class F>
void for_each_chunk_key(const Var& v, const zarr::ArrayMeta& om, size_t t, const F& f) {
    const size_t nd = om.ndim();
    std::vector<size_t> idx(nd);
    for (size_t i = nd - 2, rem = t; i-- > 0;) {
        idx[i] = rem % om.shape[i];
        rem /= om.shape[i];
    }
    for (idx[nd - 2] = 0; idx[nd - 2] * om.chunks[nd - 2] < om.shape[nd - 2]; ++idx[nd - 2]) {
        for (idx[nd - 1] = 0; idx[nd - 1] * om.chunks[nd - 1] < om.shape[nd - 1]; ++idx[nd - 1]) {
            f(zarr::chunk_store_key(v.name, om, idx));
        }
    }
}

// Keys of the files under root/rel (recursively; temporary files of killed writes left out).
void list_files(const sfs::path& root, const std::string& rel, std::vector<std::string>& out) {
    std::error_code ec;
    for (sfs::directory_iterator it(root / rel, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        const std::string key = rel.empty() ? name : rel + "/" + name;
        if (zarr::FileStore::is_temp_name(name)) {
            continue;
        }
        std::error_code ec2;
        if (it->is_directory(ec2)) {
            list_files(root, key, out);
        } else {
            out.push_back(key);
        }
    }
}

// True when the file at p holds exactly `data`. The levels' metadata task of an --update compares
// ~60 small files this way: one read of size + 1 bytes (a regular file reads short only at its
// end) into a plain buffer instead of a stream's, 4 system calls per file of the same size
// instead of 5 and no stream set-up.
bool holds(const sfs::path& p, std::string_view data) {
    std::error_code ec;
    const auto size = sfs::file_size(p, ec);
    if (ec || size != data.size()) {
        return false;
    }
    // a regular file reads short only at its end: once data.size() bytes of the data.size() + 1
    // asked for are in, the file ends there (a longer file fills the one byte more). The buffer
    // is made before the file is opened: nothing between open and close can throw.
    std::string buf(data.size() + 1, '\0');
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return fs::read_file(p) == data; // says why it cannot be read
    }
    size_t got = 0;
    ssize_t n = 0;
    while (
        (got == 0 || got < data.size()) &&
        ((n = ::read(fd, buf.data() + got, buf.size() - got)) > 0 || (n < 0 && errno == EINTR))) {
        got += n > 0 ? static_cast<size_t>(n) : 0;
    }
    ::close(fd);
    if (n < 0) {
        return fs::read_file(p) == data;
    }
    return got == data.size() && std::string_view(buf.data(), got) == data;
}

// Stages the files of `files` (key under `prefix` -> bytes) that differ from the pyramid's
// (<levels>/.baims-staging/<staged_name(prefix/key)>, written in place: no reader opens the
// staging folder) and adds the operations that put them into place, in the order of gen's append
// (docs/crash-safety.md): the coordinate chunks that change are unlinked first (a chunk of the
// new length must not be read under the old metadata), then every .zarray/.zattrs/.zgroup that
// changes, then .zmetadata, then the new coordinate chunks, then the files of the coordinates
// that the new content does not have (the folders in `coord_dirs`). Files whose bytes are equal
// are not touched.
void stage_level(const sfs::path& out, const sfs::path& staging, const std::string& prefix,
                 const std::map<std::string, std::string>& files,
                 const std::vector<std::string>& coord_dirs, std::vector<FileOp>& ops) {
    std::vector<FileOp> pre, metas, zmeta, post, gone;
    bool made = false;
    for (const auto& [rel, data] : files) {
        const std::string key = prefix.empty() ? rel : prefix + "/" + rel;
        if (holds(out / key, data)) {
            continue;
        }
        const sfs::path p = staging / staged_name(key);
        if (!made) { // once per call, not per staged file
            std::error_code ec;
            sfs::create_directories(staging, ec);
            made = true;
        }
        // writeback started at once: the commit's first syncfs then finds these on disk (they
        // are written while the workers still compute the appended chunks)
        fs::write_file(p, data, true);
        const std::string name = sfs::path(key).filename().string();
        if (name == ".zmetadata") {
            zmeta.push_back({FileOp::Move, key});
        } else if (name[0] == '.' || prefix.empty()) {
            metas.push_back({FileOp::Move, key});
        } else {
            pre.push_back({FileOp::EraseIfStaged, key});
            post.push_back({FileOp::Move, key});
        }
    }
    for (const auto& dir : coord_dirs) {
        std::vector<std::string> live;
        list_files(out, prefix + "/" + dir, live);
        for (const auto& key : live) {
            if (!files.contains(key.substr(prefix.size() + 1))) {
                gone.push_back({FileOp::Erase, key});
            }
        }
    }
    for (auto* part : {&pre, &metas, &zmeta, &post, &gone}) {
        ops.insert(ops.end(), part->begin(), part->end());
    }
}

// --update when every step it computes lies after the end of every level (a daily append):
// done in place, at a cost proportional to the appended steps, not to the pyramid.
//  1. Every chunk key of the appended steps on every level is unlinked (a killed run's files;
//     an empty chunk is not written), then their chunks are written straight to those keys,
//     beyond the time length each level's .zarray/.zmetadata names: no reader looks there.
//  2. Each level's new metadata and coordinates, .zmetadata, .zlevels, 0.link and the sources
//     are made in memory; those that differ from the pyramid's files are written in
//     <levels>/.baims-staging/ (no reader opens it).
//  3. The journal of file moves (commit_file_ops, journal.hpp) is staged (with 2., while the
//     chunks are still being written), one syncfs makes it
//     durable with the chunks and staged files, it is moved into place (the commit point) and
//     applied. A kill before it leaves the old pyramid (the next run removes the staging folder
//     and writes the chunks again); after it, the next run completes it.
// Fault points: tiles-chunk, tiles-level (after each staged level), tiles-journal (after the
// syncfs, before the journal is moved into place), tiles-move (before each file operation),
// tiles-moved (before the journal goes).
void append_in_place(const zarr::KvStore& cube, const zarr::KvStore& meta_store,
                     const sfs::path& cube_path, const Source& s, int n, size_t th, size_t tw,
                     const std::vector<size_t>& ts, const json& cube_sources, const json& zlevels,
                     const TilesRequest& req, const sfs::path& out, TilesResult& r) {
    const sfs::path staging = out / STAGING_DIR;
    remove_tree(staging);
    std::vector<std::unique_ptr<SwapStore>> stores;
    std::vector<zarr::KvStore*> outs(static_cast<size_t>(n), nullptr);
    for (int k = 1; k < n; ++k) {
        const sfs::path dir = out / (std::to_string(k) + ".zarr");
        for (const auto& v : s.vars) {
            const auto om = level_var_meta(v, size_t{1} << k, th, tw);
            for (size_t t : ts) {
                if (t < v.nouter) {
                    for_each_chunk_key(v, om, t, [&](const std::string& key) {
                        if (::unlink((dir / key).c_str()) != 0 && errno != ENOENT) {
                            const int err = errno;
                            throw OutputError("cannot remove '" + (dir / key).string() +
                                                  "': " + std::strerror(err),
                                              "Check the pyramid's permissions");
                        }
                    });
                }
            }
        }
        stores.push_back(std::make_unique<SwapStore>(dir, false, true));
        outs[static_cast<size_t>(k)] = stores.back().get();
    }
    // each level's metadata and coordinates made in memory; the files that differ are staged
    std::vector<FileOp> ops;
    const bool by_hand = consolidated_from_hand(s);
    const auto meta = [&] {
        for (int k = 1; k < n; ++k) {
            zarr::MemoryStore lv;
            // .zmetadata from the documents in hand (the same bytes as reading back and parsing
            // the files just written: a third of this task's instructions)
            json written = json::object();
            write_level_meta(meta_store, lv, s, size_t{1} << k, th, tw,
                             by_hand ? &written : nullptr);
            if (by_hand) {
                zarr::consolidate(lv, std::move(written));
            } else {
                zarr::consolidate(lv);
            }
            std::map<std::string, std::string> files;
            std::set<std::string> dirs;
            for (const auto& key : lv.keys()) {
                files[key] = *lv.get(key);
                const auto slash = key.find('/');
                if (slash != std::string::npos) {
                    dirs.insert(key.substr(0, slash));
                }
            }
            for (const auto& v : s.vars) {
                dirs.erase(v.name); // a data variable's chunks are the data's business
            }
            stage_level(out, staging, std::to_string(k) + ".zarr", files,
                        {dirs.begin(), dirs.end()}, ops);
            fault_point("tiles-level");
        }
        std::map<std::string, std::string> top = {
            {"0.link", sfs::relative(sfs::absolute(cube_path), sfs::absolute(out)).string()},
            {".zlevels", zlevels.dump(2)}};
        if (!cube_sources.is_null()) {
            top[SOURCES_FILE] = cube_sources.dump();
        } else if (sfs::exists(out / SOURCES_FILE)) {
            ops.push_back({FileOp::Erase, SOURCES_FILE});
        }
        std::vector<FileOp> top_ops;
        stage_level(out, staging, "", top, {}, top_ops);
        // .zlevels last
        std::stable_partition(top_ops.begin(), top_ops.end(),
                              [](const FileOp& o) { return o.key != ".zlevels"; });
        ops.insert(ops.end(), top_ops.begin(), top_ops.end());
        // The journal too is staged here, beside the workers' chunks, rather than after them on
        // the main thread alone (~0.5 ms with the top-level files and the %old% links): it names
        // none of the chunks the workers write, and nothing of it is durable or seen by a reader
        // before the syncfs and the rename of commit_staged_file_ops below.
        if (!ops.empty()) {
            stage_file_ops(out, ops);
        }
    };
    write_levels_data(cube, outs, s, n, th, tw, ts, req.threads, r, meta);
    if (ops.empty()) { // nothing appended, nothing changed
        remove_tree(staging);
        return;
    }
    // the appended chunks and the staged files become durable with the journal, before it is
    // moved into place (one syncfs)
    commit_staged_file_ops(out, ops, "tiles-journal", "tiles-move", "tiles-moved");
}

} // namespace

std::string check_agg_method(const std::string& method) {
    if (!METHODS.contains(method)) {
        throw UsageError("unknown aggregation method '" + method + "'",
                         "Use one of first, mean, median, min, max, mode, auto");
    }
    return method;
}

std::string TilesResult::summary() const {
    return "pyramid of " + std::to_string(num_levels) +
           " levels: " + std::to_string(chunks_written) + " chunks written, " +
           std::to_string(chunks_empty) + " empty chunks skipped, " + std::to_string(slices) +
           " time slices" + (rebuilt ? "" : " updated") + (png ? "; " + png->summary() : "");
}

TilesResult build_tiles(const TilesRequest& req) {
    // freed chunk-sized blocks stay in the heap (page faults and mprotect of glibc's trimming
    // after every chunk were a tenth of a run's CPU)
    keep_freed_blocks_in_heap();
    prefer_huge_pages_for_main_heap();
    ThreadPool pool(req.threads); // one pool of workers for the run's parallel_for calls
    ThreadPool::Scope pool_scope(pool);
    TilesResult r;
    sfs::path cube_path(req.cube);
    if (!sfs::is_directory(cube_path)) {
        throw InputError("'" + req.cube + "' is not a Zarr cube (no such directory)",
                         "Give the path of a Zarr v2 cube, e.g. made by baims gen");
    }
    zarr::FileStore cube(cube_path, false);
    const ReadOnce cube_meta(cube); // metadata and coordinates (the data chunks: `cube`)
    Source s = read_source(cube_meta, req.cube);
    read_cube_arrays(cube_meta, cube_path);
    // (not structured bindings below: Clang before 16 cannot capture one in a lambda)
    for (const auto& entry : req.agg) {
        const std::string& name = entry.first;
        check_agg_method(entry.second);
        if (std::none_of(s.vars.begin(), s.vars.end(),
                         [&](const Var& v) { return v.name == name; })) {
            throw UsageError("--agg-methods names unknown variable '" + name + "' of '" + req.cube +
                                 "'",
                             "Data variables are: " + known_vars(s));
        }
    }
    check_agg_method(req.agg_default);
    if (req.png) {
        if (s.ydim != "lat" || s.xdim != "lon") {
            throw UsageError("--png needs a cube on (lat, lon); '" + req.cube + "' is on (" +
                                 s.ydim + ", " + s.xdim + ")",
                             "Build the PNG tiles from a geographic (lat/lon) cube");
        }
        check_cmap(req.png->cmap);
        for (const auto& entry : req.png->cmap_of) {
            const std::string& name = entry.first;
            check_cmap(entry.second);
            if (std::none_of(s.vars.begin(), s.vars.end(),
                             [&](const Var& v) { return v.name == name; })) {
                throw UsageError("--cmap names unknown variable '" + name + "' of '" + req.cube +
                                     "'",
                                 "Data variables are: " + known_vars(s));
            }
        }
    }
    json agg_json = json::object();
    for (auto& v : s.vars) {
        auto it = req.agg.find(v.name);
        v.method = it != req.agg.end() ? it->second : req.agg_default;
        if (v.method == "auto") {
            v.method = v.meta.dtype_info().kind == zarr::DataKind::Float ? "mean" : "mode";
        }
        agg_json[v.name] = v.method;
    }
    const auto& m0 = s.vars.front().meta;
    size_t th = req.tile_h ? req.tile_h : m0.chunks[m0.ndim() - 2];
    size_t tw = req.tile_w ? req.tile_w : m0.chunks[m0.ndim() - 1];
    int n = 1;
    for (size_t h = s.H, w = s.W; h > th && w > tw; h = level_size(h, 2), w = level_size(w, 2)) {
        if (req.num_levels_max > 0 && n >= req.num_levels_max) {
            break;
        }
        ++n;
    }
    r.num_levels = n;
    size_t nt = 1;
    for (const auto& v : s.vars) {
        nt = std::max(nt, v.nouter);
    }
    // "out.levels/": without the slash, so that the swap folder and 0.link's target are right
    const std::string out_dir =
        folder_path(req.output.empty() ? default_output(req.cube) : req.output).string();
    check_output_folders(req.cube, out_dir, req.png ? &req.png->dir : nullptr);
    if (req.dry_run) {
        r.slices = nt;
        return r;
    }
    // The pyramid folder must be writable before anything is touched.
    std::error_code ec;
    sfs::create_directories(out_dir, ec);
    if (ec) {
        throw OutputError("cannot create the pyramid folder '" + out_dir + "': " + ec.message(),
                          "Check that its parent folder is writable, or choose another with -o");
    }
    if (::access(out_dir.c_str(), W_OK) != 0) {
        throw OutputError("the pyramid folder '" + out_dir +
                              "' is not writable: " + std::strerror(errno),
                          "Check its permissions, or choose another with -o");
    }
    // The cube's writer lock (as gen, prune and optimise take it): a gen of this cube during the
    // build is refused, and tiles is refused during a gen. A cube this process cannot write
    // cannot be changed by its gen either; it is read without the lock.
    std::unique_ptr<fs::FileLock> cube_lock;
    if (::access(cube_path.c_str(), W_OK) == 0) {
        cube_lock = std::make_unique<fs::FileLock>(cube_path / LOCK_FILE,
                                                   "cube '" + cube_path.string() + "'");
    } else {
        log::debug("tiles: cube '" + req.cube + "' is read-only here: read without its lock");
    }
    fs::FileLock lock(sfs::path(out_dir) / LOCK_FILE, "pyramid '" + out_dir + "'");
    // and the --png folder's, before anything is written: a second run into it is refused here
    const auto png_lock = req.png ? png_folder_lock(req.png->dir) : nullptr;
    const sfs::path out(out_dir);
    // an append of a killed run past its commit point is completed first (and the staging
    // folder of one killed before it removed)
    complete_file_ops(out, "tiles-move", "tiles-moved");
    zarr::FileStore levels(out_dir, true);
    json zlevels = {{"version", "1.0"},
                    {"num_levels", n},
                    {"tile_size", json::array({tw, th})},
                    {"use_saved_levels", false},
                    {"agg_methods", agg_json}};
    json cube_sources = read_json_file(cube_meta, SOURCES_FILE);

    // --update: per level, the time slices to recompute; a full rebuild if not possible.
    std::vector<std::vector<size_t>> todo(n);
    std::vector<size_t> old_len(n, 0); // per level, its time length before the update
    // per level, the cube's index of each of the level's old time steps: steps inserted between
    // them (gen's insert) move the later ones; identity when days were only appended
    std::vector<std::vector<size_t>> moved_to(n);
    bool shifted = false;
    bool incremental = false;
    if (req.update) {
        json old = read_json_file(levels, ".zlevels");
        incremental = old.is_object() && old.value("num_levels", 0) == n &&
                      old.value("tile_size", json()) == zlevels["tile_size"] &&
                      old.value("agg_methods", json()) == agg_json && s.others.size() > 0;
        // per time step records: {"format": …, "steps": [...]} (or a bare array)
        auto steps = [](const json& j) {
            return j.is_object() && j.contains("steps") ? j["steps"] : j;
        };
        json old_sources = steps(read_json_file(levels, SOURCES_FILE));
        json new_sources = steps(cube_sources);
        std::string tdim = dims_of(s.vars.front().attrs).front();
        std::vector<double> ctime = cube_meta.exists(tdim + "/.zarray")
                                        ? read_numeric_array(cube_meta, tdim)
                                        : std::vector<double>{};
        for (int k = 1; incremental && k < n; ++k) {
            zarr::FileStore lv(sfs::path(out_dir) / (std::to_string(k) + ".zarr"), false);
            if (!lv.exists(tdim + "/.zarray") || ctime.empty()) {
                incremental = false;
                break;
            }
            auto ltime = read_numeric_array(lv, tdim);
            const auto uk = static_cast<size_t>(k);
            old_len[uk] = ltime.size();
            // every old step still in the cube, in order (others inserted between them or
            // appended); the moved steps' chunks are linked under their new index below, which
            // needs chunks of one step along a (time, y, x) variable
            auto& to = moved_to[uk];
            for (size_t j = 0; to.size() < ltime.size() && j < ctime.size(); ++j) {
                if (ctime[j] == ltime[to.size()]) {
                    to.push_back(j);
                }
            }
            bool moves = false;
            for (size_t i = 0; i < to.size(); ++i) {
                moves = moves || to[i] != i;
            }
            const bool movable = std::all_of(s.vars.begin(), s.vars.end(), [&](const Var& v) {
                return dims_of(v.attrs).size() == 2 ||
                       (dims_of(v.attrs).size() == 3 && dims_of(v.attrs).front() == tdim);
            });
            if (to.size() < ltime.size() || (moves && !movable)) {
                log::info("tiles --update: the time axis changed other than by appending or "
                          "inserting steps: rebuilding the pyramid");
                incremental = false;
                break;
            }
            shifted = shifted || moves;
            std::vector<long> from(ctime.size(), -1); // the old index of each step, -1: new
            for (size_t i = 0; i < to.size(); ++i) {
                from[to[i]] = static_cast<long>(i);
            }
            for (size_t t = 0; t < ctime.size(); ++t) {
                const long i = from[t];
                bool replaced = i >= 0 && new_sources.is_array() && old_sources.is_array() &&
                                t < new_sources.size() &&
                                (static_cast<size_t>(i) >= old_sources.size() ||
                                 new_sources[t] != old_sources[static_cast<size_t>(i)]);
                if (i < 0 || replaced) {
                    todo[k].push_back(t);
                }
            }
        }
        if (!incremental) {
            log::info("tiles --update: no compatible pyramid at '" + out_dir +
                      "': building it in full");
        }
    }

    std::set<size_t> all;
    for (int k = 1; k < n; ++k) {
        all.insert(todo[static_cast<size_t>(k)].begin(), todo[static_cast<size_t>(k)].end());
    }
    // the PNG folder after the pyramid's commit
    const auto with_png = [&](TilesResult& res) {
        if (req.png) {
            auto png = *req.png;
            png.threads = req.threads;
            png.lock_held = true;
            res.png = write_png_tiles(req.cube, out_dir, png);
        }
        return res;
    };
    // Only steps after every level's end (the daily append): in place, proportional to the day.
    bool in_place = incremental && !shifted && req.link && !sfs::exists(out / "0.zarr");
    for (int k = 1; k < n; ++k) {
        for (size_t t : todo[static_cast<size_t>(k)]) {
            in_place = in_place && t >= old_len[static_cast<size_t>(k)];
        }
    }
    const sfs::path swap = swap_dir(out);
    remove_tree(swap);
    if (in_place) {
        append_in_place(cube, cube_meta, cube_path, s, n, th, tw,
                        std::vector<size_t>(all.begin(), all.end()), cube_sources, zlevels, req,
                        out, r);
        r.rebuilt = false;
        r.slices = all.size();
        return with_png(r);
    }

    // Otherwise (a first build, a replaced step, another layout, a 0.zarr copy): the new
    // pyramid is built complete in the sibling folder <levels>.baims-swap (hard links
    // to every file of the old one it keeps, new files for the rest) and exchanged with the old
    // one in one renameat2(RENAME_EXCHANGE): a reader sees the old or the new pyramid, never a
    // mix, and no file of the old pyramid is written. A swap folder left by a killed run is
    // its unfinished new tree (before the exchange) or the old tree (after it): removed either
    // way, the pyramid itself says what is still to do.
    check_exchange_support(out, "pyramid");
    // chunk files of the time steps an --update recomputes, and what a full build replaces;
    // the chunks of old steps that moved (steps inserted before them) are linked under their new
    // index (moves: old key -> new key)
    std::set<std::string> skip;
    std::vector<std::pair<std::string, std::string>> moves;
    if (incremental) {
        for (int k = 1; k < n; ++k) {
            const auto uk = static_cast<size_t>(k);
            const std::set<size_t> redo(todo[uk].begin(), todo[uk].end());
            const std::string lvl = std::to_string(k) + ".zarr/";
            for (const auto& v : s.vars) {
                auto om = level_var_meta(v, size_t{1} << k, th, tw);
                if (om.ndim() == 2) { // no time dimension: recomputed whenever a step is
                    if (!redo.empty()) {
                        for_each_chunk_key(v, om, 0,
                                           [&](const std::string& key) { skip.insert(lvl + key); });
                    }
                    continue;
                }
                for (size_t t : redo) { // (and stray chunks a killed append left there)
                    for_each_chunk_key(v, om, t,
                                       [&](const std::string& key) { skip.insert(lvl + key); });
                }
                for (size_t i = 0; i < moved_to[uk].size(); ++i) {
                    const size_t t = moved_to[uk][i];
                    if (t == i && !redo.contains(t)) {
                        continue; // linked as it is
                    }
                    std::vector<std::string> old_keys;
                    for_each_chunk_key(v, om, i, [&](const std::string& key) {
                        skip.insert(lvl + key);
                        old_keys.push_back(lvl + key);
                    });
                    if (redo.contains(t)) {
                        continue; // replaced: recomputed
                    }
                    size_t c = 0;
                    for_each_chunk_key(v, om, t, [&](const std::string& key) {
                        moves.emplace_back(old_keys[c++], lvl + key);
                    });
                }
            }
        }
    }
    try {
        link_pyramid(out, swap, "", [&](const std::string& rel, bool top) {
            if (top && (rel.ends_with(".tmp") || rel == ".zlevels" || rel == SOURCES_FILE ||
                        rel == STAGING_DIR || rel == JOURNAL_KEY || rel == "0.link" ||
                        rel == "0.zarr" || (!incremental && is_level_name(rel)))) {
                return false;
            }
            return !skip.contains(rel);
        });
        for (const auto& [from, to] : moves) {
            if (sfs::exists(out / from)) { // an empty chunk is not written
                std::error_code dir_ec;    // hard_link says what failed
                sfs::create_directories((swap / to).parent_path(), dir_ec);
                ::unlink((swap / to).c_str()); // a stray chunk beyond the old end linked there
                hard_link(out / from, swap / to, "pyramid");
            }
        }
        fault_point("tiles-linked");
        SwapStore tree(swap);
        if (!req.link) {
            SwapStore l0(swap / "0.zarr");
            copy_tree(cube, l0, "");
            l0.erase(LOCK_FILE);
            zarr::consolidate(l0);
        }
        std::vector<std::unique_ptr<SwapStore>> stores;
        std::vector<zarr::KvStore*> outs(static_cast<size_t>(n), nullptr);
        for (int k = 1; k < n; ++k) {
            // a full build's level folders are new (nothing linked into them): no name to
            // unlink before a put
            stores.push_back(
                std::make_unique<SwapStore>(swap / (std::to_string(k) + ".zarr"), incremental));
            outs[static_cast<size_t>(k)] = stores.back().get();
        }
        // metadata, coordinates and .zmetadata of the levels (consolidated before their chunks
        // are written: it lists no chunk, and nothing reads the tree before the exchange)
        const auto meta = [&] {
            for (int k = 1; k < n; ++k) {
                auto& lv = *stores[static_cast<size_t>(k - 1)];
                write_level_meta(cube_meta, lv, s, size_t{1} << k, th, tw);
                zarr::consolidate(lv);
                fault_point("tiles-level");
            }
        };
        std::vector<size_t> ts;
        if (incremental) {
            ts.assign(all.begin(), all.end());
        } else {
            for (size_t t = 0; t < nt; ++t) {
                ts.push_back(t);
            }
        }
        // the chunks of these steps are not in the tree (not linked, or a new tree): an empty
        // chunk is simply not written
        write_levels_data(cube, outs, s, n, th, tw, ts, req.threads, r, meta);
        if (req.link) {
            sfs::path rel = sfs::relative(sfs::absolute(cube_path), sfs::absolute(out));
            tree.put("0.link", rel.string());
        }
        if (!cube_sources.is_null()) {
            tree.put(SOURCES_FILE, cube_sources.dump());
        }
        tree.put(".zlevels", zlevels.dump(2));
    } catch (...) {
        std::error_code ignored;
        sfs::remove_all(swap, ignored);
        throw;
    }
    // syncfs, exchange (the commit point), removal of the old pyramid
    commit_exchange(out, "tiles-exchange", "tiles-exchanged", "pyramid");
    r.rebuilt = !incremental;
    r.slices = incremental ? all.size() : nt;
    return with_png(r);
}

} // namespace baims::cube
