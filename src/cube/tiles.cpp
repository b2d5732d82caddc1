// baims tiles: the xcube .levels pyramid (docs/cli/tiles.md).
//
// Layout: <levels>/.zlevels (written last: the commit point of a full build), 0.link (relative
// path to the cube) or 0.zarr (a copy), k.zarr for k >= 1. Every level k is computed from level 0
// with 2^k x 2^k blocks, so median and mode are exact (a median of medians is not the median).
// Each level is written under k.zarr.tmp and renamed when complete.

#include "baims/cube/tiles.hpp"

#include "journal.hpp"
#include "parallel.hpp"

#include "baims/core/error.hpp"
#include "baims/core/fault.hpp"
#include "baims/core/fs.hpp"
#include "baims/core/log.hpp"
#include "baims/cube/cube_state.hpp"
#include "baims/zarr/array.hpp"
#include "baims/zarr/group.hpp"
#include "baims/zarr/kv_store.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

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
};

double raw_to_double(const zarr::DType& t, const char* p) {
    switch (t.kind) {
    case zarr::DataKind::Float:
        if (t.itemsize == 4) {
            float f;
            std::memcpy(&f, p, 4);
            return f;
        } else {
            double d;
            std::memcpy(&d, p, 8);
            return d;
        }
    case zarr::DataKind::Int: {
        int64_t v = 0;
        switch (t.itemsize) {
        case 1:
            v = *reinterpret_cast<const int8_t*>(p);
            break;
        case 2: {
            int16_t a;
            std::memcpy(&a, p, 2);
            v = a;
            break;
        }
        case 4: {
            int32_t a;
            std::memcpy(&a, p, 4);
            v = a;
            break;
        }
        default:
            std::memcpy(&v, p, 8);
        }
        return static_cast<double>(v);
    }
    case zarr::DataKind::UInt: {
        uint64_t v = 0;
        std::memcpy(&v, p, t.itemsize);
        return static_cast<double>(v);
    }
    case zarr::DataKind::Bool:
        return *p ? 1.0 : 0.0;
    }
    return NaN;
}

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

Source read_source(const zarr::KvStore& store, const std::string& path) {
    if (!store.exists(".zgroup")) {
        throw InputError("'" + path + "' is not a Zarr cube (no .zgroup)",
                         "Give the path of a Zarr v2 cube, e.g. made by baims gen");
    }
    Source s;
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

struct Plan {
    const Source* src;
    size_t tw, th;
    int nlevels;
};

// Computes one output chunk (outer index t, chunk cy, cx) of var v at factor f into out (raw, the
// output chunk's bytes). Returns false if it is all fill.
class Aggregator {
public:
    Aggregator(const Source& s, const Var& v, size_t f, size_t th, size_t tw)
        : m_s(s)
        , m_v(v)
        , m_f(f)
        , m_th(th)
        , m_tw(tw)
        , m_type(v.meta.dtype_info())
        , m_op(v.method == "first"  ? Op::First
               : v.method == "mean" ? Op::Mean
               : v.method == "min"  ? Op::Min
               : v.method == "max"  ? Op::Max
                                    : Op::Other) {}

    bool run(const zarr::KvStore& store, size_t t, size_t cy, size_t cx, const zarr::ArrayMeta& om,
             std::vector<char>& out) {
        const auto& m = m_v.meta;
        size_t nd = m.ndim();
        size_t ch = m.chunks[nd - 2], cw = m.chunks[nd - 1];
        size_t r0 = cy * m_th * m_f, c0 = cx * m_tw * m_f;
        size_t r1 = std::min(m_s.H, r0 + m_th * m_f), c1 = std::min(m_s.W, c0 + m_tw * m_f);
        size_t fh = r1 - r0, fw = c1 - c0;
        // first/mean/min/max stream into per-output-cell accumulators (memory: one output chunk);
        // median/mode need every value of a block: the level-0 block of the output chunk
        const bool streaming = m_v.method != "median" && m_v.method != "mode";
        size_t oh = om.chunks[om.ndim() - 2], ow = om.chunks[om.ndim() - 1];
        if (streaming) {
            m_acc.assign(oh * ow, NaN);
            m_cnt.assign(oh * ow, 0);
        } else {
            m_foot.assign(fh * fw, NaN);
        }
        // outer index → chunk index and offset of the leading dims
        std::vector<size_t> idx(nd), off(nd - 2);
        size_t rem = t;
        for (size_t i = nd - 2; i-- > 0;) {
            size_t pos = rem % m.shape[i];
            rem /= m.shape[i];
            idx[i] = pos / m.chunks[i];
            off[i] = pos % m.chunks[i];
        }
        size_t inner = 0; // element offset of the (y,x) plane inside the input chunk
        for (size_t i = 0; i + 2 < nd; ++i) {
            inner = inner * m.chunks[i] + off[i];
        }
        inner *= ch * cw;
        m_buf.resize(m.chunk_bytes());
        size_t isz = m_type.itemsize;
        for (size_t by = r0 / ch; by * ch < r1; ++by) {
            for (size_t bx = c0 / cw; bx * cw < c1; ++bx) {
                idx[nd - 2] = by;
                idx[nd - 1] = bx;
                if (!zarr::read_chunk(store, m_v.name, m, idx, m_buf.data())) {
                    continue; // absent: fill
                }
                size_t ya = std::max(r0, by * ch), yb = std::min(r1, (by + 1) * ch);
                size_t xa = std::max(c0, bx * cw), xb = std::min(c1, (bx + 1) * cw);
                for (size_t yy = ya; yy < yb; ++yy) {
                    const char* row = m_buf.data() + (inner + (yy - by * ch) * cw) * isz;
                    double* dst = streaming ? nullptr : &m_foot[(yy - r0) * fw];
                    size_t orow = ((yy - r0) / m_f) * ow;
                    bool top = (yy - r0) % m_f == 0;
                    if (m_op == Op::First && !top) {
                        continue; // only the top-left cell of each block matters
                    }
                    for (size_t xx = xa; xx < xb; ++xx) {
                        double d = raw_to_double(m_type, row + (xx - bx * cw) * isz);
                        for (double mv : m_v.missing) {
                            if (d == mv) {
                                d = NaN;
                            }
                        }
                        if (!streaming) {
                            dst[xx - c0] = d;
                        } else {
                            size_t o = orow + (xx - c0) / m_f;
                            if (m_op == Op::First) {
                                if ((xx - c0) % m_f == 0) {
                                    m_acc[o] = d;
                                }
                            } else if (!std::isnan(d)) {
                                double& a = m_acc[o];
                                if (m_cnt[o]++ == 0) {
                                    a = d;
                                } else if (m_op == Op::Mean) {
                                    a += d;
                                } else if (m_op == Op::Min) {
                                    a = std::min(a, d);
                                } else {
                                    a = std::max(a, d);
                                }
                            }
                        }
                    }
                }
            }
        }
        // aggregate
        out.resize(om.chunk_bytes());
        double fillv = om.fill_value.is_null() ? 0.0
                       : !m_v.missing.empty() && m_type.kind != zarr::DataKind::Float
                           ? m_v.missing.front()
                           : om.fill_as_double();
        bool any = false;
        std::vector<double> vals;
        for (size_t oy = 0; oy < oh; ++oy) {
            for (size_t ox = 0; ox < ow; ++ox) {
                double res = NaN;
                size_t ya = oy * m_f, xa = ox * m_f;
                if (ya < fh && xa < fw) {
                    size_t yb = std::min(fh, ya + m_f), xb = std::min(fw, xa + m_f);
                    if (streaming) {
                        size_t o = oy * ow + ox;
                        res = m_v.method == "mean" && m_cnt[o] > 0
                                  ? m_acc[o] / static_cast<double>(m_cnt[o])
                                  : m_acc[o];
                    } else {
                        vals.clear();
                        for (size_t yy = ya; yy < yb; ++yy) {
                            for (size_t xx = xa; xx < xb; ++xx) {
                                double d = m_foot[yy * fw + xx];
                                if (!std::isnan(d)) {
                                    vals.push_back(d);
                                }
                            }
                        }
                        res = reduce(vals);
                    }
                }
                char* p = out.data() + (oy * ow + ox) * isz;
                if (std::isnan(res)) {
                    double_to_raw(m_type, fillv, p);
                } else {
                    any = true;
                    double_to_raw(m_type, res, p);
                }
            }
        }
        return any || om.fill_value.is_null();
    }

private:
    double reduce(std::vector<double>& v) const {
        if (v.empty()) {
            return NaN;
        }
        const std::string& m = m_v.method;
        if (m == "mean") {
            double s = 0;
            for (double d : v) {
                s += d;
            }
            return s / static_cast<double>(v.size());
        }
        if (m == "min") {
            return *std::min_element(v.begin(), v.end());
        }
        if (m == "max") {
            return *std::max_element(v.begin(), v.end());
        }
        std::sort(v.begin(), v.end());
        if (m == "median") {
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

    const Source& m_s;
    const Var& m_v;
    size_t m_f, m_th, m_tw;
    zarr::DType m_type;
    enum class Op { First, Mean, Min, Max, Other };
    Op m_op;
    std::vector<double> m_foot, m_acc;
    std::vector<size_t> m_cnt;
    std::vector<char> m_buf;
};

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

// Chunks of outer indices `ts` of every variable at factor f into store (a level's store).
void write_level_data(const zarr::KvStore& cube, zarr::KvStore& out, const Source& s, size_t f,
                      size_t th, size_t tw, const std::vector<size_t>& ts, bool erase_empty,
                      int threads, TilesResult& r) {
    struct Task {
        const Var* v;
        size_t t, cy, cx;
    };
    std::vector<Task> tasks;
    for (const auto& v : s.vars) {
        auto om = level_var_meta(v, f, th, tw);
        auto grid = om.chunk_grid();
        size_t nd = om.ndim();
        for (size_t t : ts) {
            if (t >= v.nouter) {
                continue;
            }
            for (size_t cy = 0; cy < grid[nd - 2]; ++cy) {
                for (size_t cx = 0; cx < grid[nd - 1]; ++cx) {
                    tasks.push_back({&v, t, cy, cx});
                }
            }
        }
    }
    std::atomic<size_t> written{0}, empty{0};
    parallel_for(tasks.size(), threads, [&](size_t i, size_t) {
        const auto& task = tasks[i];
        auto om = level_var_meta(*task.v, f, th, tw);
        Aggregator agg(s, *task.v, f, th, tw);
        std::vector<char> buf;
        std::vector<size_t> idx(om.ndim(), 0);
        size_t rem = task.t;
        for (size_t d = om.ndim() - 2; d-- > 0;) {
            idx[d] = rem % om.shape[d];
            rem /= om.shape[d];
        }
        idx[om.ndim() - 2] = task.cy;
        idx[om.ndim() - 1] = task.cx;
        if (agg.run(cube, task.t, task.cy, task.cx, om, buf)) {
            zarr::write_chunk(out, task.v->name, om, idx, buf.data());
            ++written;
        } else {
            if (erase_empty) {
                out.erase(zarr::chunk_store_key(task.v->name, om, idx));
            }
            ++empty;
        }
        fault_point("tiles-chunk");
    });
    r.chunks_written += written;
    r.chunks_empty += empty;
}

// Metadata and coordinates of a level (not the data chunks); consolidated last.
void write_level_meta(const zarr::KvStore& cube, zarr::KvStore& out, const Source& s, size_t f,
                      size_t th, size_t tw) {
    zarr::write_group(out, level_attrs(s, f));
    auto yc = agg_centres(s.y, f), xc = agg_centres(s.x, f);
    auto yb = agg_bounds(s.y, s.ybnd, f), xb = agg_bounds(s.x, s.xbnd, f);
    for (const auto& [dim, c, b] : {std::tuple{s.ydim, &yc, &yb}, std::tuple{s.xdim, &xc, &xb}}) {
        json ca = s.consolidated.value(dim + "/.zattrs", json::object());
        ca["bounds"] = dim + "_bnds";
        auto cm = coord_meta(c->size(), false);
        zarr::write_array_meta(out, dim, cm, ca);
        zarr::write_whole(out, dim, cm, c->data());
        json ba = s.consolidated.value(dim + "_bnds/.zattrs", json::object());
        ba["_ARRAY_DIMENSIONS"] = json::array({dim, s.consolidated.contains(dim + "_bnds/.zattrs")
                                                        ? dims_of(ba).back()
                                                        : std::string("bnds")});
        auto bm = coord_meta(c->size(), true);
        zarr::write_array_meta(out, dim + "_bnds", bm, ba);
        zarr::write_whole(out, dim + "_bnds", bm, b->data());
    }
    for (const auto& o : s.others) {
        out.erase_dir(o);
        copy_tree(cube, out, o);
    }
    for (const auto& v : s.vars) {
        zarr::write_array_meta(out, v.name, level_var_meta(v, f, th, tw), v.attrs);
    }
}

json read_json_file(const zarr::KvStore& st, const std::string& key) {
    auto b = st.get(key);
    if (!b) {
        return nullptr;
    }
    try {
        return json::parse(*b);
    } catch (const json::exception&) {
        return nullptr;
    }
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
           " time slices" + (rebuilt ? "" : " updated");
}

TilesResult build_tiles(const TilesRequest& req) {
    ThreadPool pool(req.threads); // one pool of workers for the run's parallel_for calls
    ThreadPool::Scope pool_scope(pool);
    TilesResult r;
    sfs::path cube_path(req.cube);
    if (!sfs::is_directory(cube_path)) {
        throw InputError("'" + req.cube + "' is not a Zarr cube (no such directory)",
                         "Give the path of a Zarr v2 cube, e.g. made by baims gen");
    }
    zarr::FileStore cube(cube_path, false);
    Source s = read_source(cube, req.cube);
    for (const auto& [name, method] : req.agg) {
        check_agg_method(method);
        if (std::none_of(s.vars.begin(), s.vars.end(),
                         [&](const Var& v) { return v.name == name; })) {
            std::string known;
            for (const auto& v : s.vars) {
                known += (known.empty() ? "" : ", ") + v.name;
            }
            throw UsageError("--agg-methods names unknown variable '" + name + "' of '" + req.cube +
                                 "'",
                             "Data variables are: " + known);
        }
    }
    check_agg_method(req.agg_default);
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
    std::string out_dir = req.output.empty() ? default_output(req.cube) : req.output;
    if (req.dry_run) {
        r.slices = nt;
        return r;
    }
    sfs::create_directories(out_dir);
    fs::FileLock lock(sfs::path(out_dir) / LOCK_FILE, "pyramid '" + out_dir + "'");
    zarr::FileStore levels(out_dir, true);
    json zlevels = {{"version", "1.0"},
                    {"num_levels", n},
                    {"tile_size", json::array({tw, th})},
                    {"use_saved_levels", false},
                    {"agg_methods", agg_json}};
    json cube_sources = read_json_file(cube, SOURCES_FILE);

    // --update: per level, the time slices to recompute; a full rebuild if not possible.
    std::vector<std::vector<size_t>> todo(n);
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
        std::vector<double> ctime =
            cube.exists(tdim + "/.zarray") ? read_numeric_array(cube, tdim) : std::vector<double>{};
        for (int k = 1; incremental && k < n; ++k) {
            zarr::FileStore lv(sfs::path(out_dir) / (std::to_string(k) + ".zarr"), false);
            if (!lv.exists(tdim + "/.zarray") || ctime.empty()) {
                incremental = false;
                break;
            }
            auto ltime = read_numeric_array(lv, tdim);
            if (ltime.size() > ctime.size() ||
                !std::equal(ltime.begin(), ltime.end(), ctime.begin())) {
                log::info("tiles --update: the time axis changed other than by appending: "
                          "rebuilding the pyramid");
                incremental = false;
                break;
            }
            for (size_t t = 0; t < ctime.size(); ++t) {
                bool replaced = t < ltime.size() && new_sources.is_array() &&
                                old_sources.is_array() && t < new_sources.size() &&
                                (t >= old_sources.size() || new_sources[t] != old_sources[t]);
                if (t >= ltime.size() || replaced) {
                    todo[k].push_back(t);
                }
            }
        }
        if (!incremental) {
            log::info("tiles --update: no compatible pyramid at '" + out_dir +
                      "': building it in full");
        }
    }

    if (incremental) {
        r.rebuilt = false;
        std::set<size_t> all;
        for (int k = 1; k < n; ++k) {
            zarr::FileStore lv(sfs::path(out_dir) / (std::to_string(k) + ".zarr"), true);
            size_t f = size_t{1} << k;
            // new slices are beyond the old shape (invisible) until the metadata below
            write_level_data(cube, lv, s, f, th, tw, todo[k], true, req.threads, r);
            write_level_meta(cube, lv, s, f, th, tw);
            zarr::consolidate(lv);
            all.insert(todo[k].begin(), todo[k].end());
            fault_point("tiles-level");
        }
        if (!req.link) {
            zarr::FileStore l0(sfs::path(out_dir) / "0.zarr", true);
            copy_tree(cube, l0, "");
            zarr::consolidate(l0);
        }
        r.slices = all.size();
    } else {
        levels.erase(".zlevels");
        for (const auto& e : levels.list("")) {
            if (e.ends_with(".tmp")) {
                levels.erase_dir(e);
            }
        }
        std::vector<size_t> ts(nt);
        for (size_t t = 0; t < nt; ++t) {
            ts[t] = t;
        }
        sfs::path rel = sfs::relative(sfs::absolute(cube_path), sfs::absolute(out_dir));
        if (req.link) {
            levels.erase_dir("0.zarr");
            levels.put("0.link", rel.string());
        } else {
            levels.erase("0.link");
            levels.erase_dir("0.zarr.tmp");
            {
                zarr::FileStore l0(sfs::path(out_dir) / "0.zarr.tmp", false);
                copy_tree(cube, l0, "");
                l0.erase(LOCK_FILE);
                zarr::consolidate(l0);
            }
            levels.erase_dir("0.zarr");
            levels.rename("0.zarr.tmp", "0.zarr");
        }
        for (int k = 1; k < n; ++k) {
            std::string name = std::to_string(k) + ".zarr";
            size_t f = size_t{1} << k;
            {
                zarr::FileStore lv(sfs::path(out_dir) / (name + ".tmp"), false);
                write_level_meta(cube, lv, s, f, th, tw);
                write_level_data(cube, lv, s, f, th, tw, ts, false, req.threads, r);
                zarr::consolidate(lv);
            }
            fs::sync_filesystem(out_dir);
            levels.erase_dir(name);
            levels.rename(name + ".tmp", name);
            fault_point("tiles-level");
        }
        for (const auto& e : levels.list("")) { // levels of an earlier, deeper pyramid
            if (e.ends_with(".zarr") && e != "0.zarr") {
                int k = std::atoi(e.c_str());
                if (k >= n) {
                    levels.erase_dir(e);
                }
            }
        }
        r.slices = nt;
    }
    if (cube_sources.is_null()) {
        levels.erase(SOURCES_FILE);
    } else {
        levels.put(SOURCES_FILE, cube_sources.dump());
    }
    levels.sync();
    levels.put(".zlevels", zlevels.dump(2));
    levels.sync();
    return r;
}

} // namespace baims::cube
