// baims tiles --png: XYZ web-mercator PNG tiles and an offline index.html (docs/cli/tiles.md).
//
// Zoom z shows pyramid level k = min(N-1, zmax - z), zmax being the first zoom whose pixels are no
// wider than the cube's cells. A pixel takes the value of the level-k cell under its centre
// (nearest neighbour: level-0 cell (row, col) → level-k cell (row >> k, col >> k)); missing values
// and pixels outside the cube are transparent.

#include "baims/cube/tiles_png.hpp"

#include "journal.hpp"
#include "parallel.hpp"

#include "baims/core/error.hpp"
#include "baims/core/fault.hpp"
#include "baims/core/fs.hpp"
#include "baims/core/log.hpp"
#include "baims/cube/cube_state.hpp"
#include "baims/grid/time.hpp"
#include "baims/io/png.hpp"
#include "baims/zarr/array.hpp"
#include "baims/zarr/group.hpp"
#include "baims/zarr/kv_store.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

namespace baims::cube {
namespace {

namespace sfs = std::filesystem;
using nlohmann::json;
constexpr double PI = 3.14159265358979323846;
constexpr double MAX_LAT = 85.0511287798066; // web mercator's limit
constexpr int TILE = 256;

struct Stop {
    double x;
    unsigned char r, g, b;
};

// Colour maps as stops, linear in between. viridis: matplotlib's viridis sampled at 0, 0.1, … 1;
// rdbu: blue (low) – white – red (high); gray: black – white.
const std::map<std::string, std::vector<Stop>>& cmaps() {
    static const std::map<std::string, std::vector<Stop>> m = {
        {"viridis",
         {{0.0, 68, 1, 84},
          {0.1, 72, 36, 117},
          {0.2, 65, 68, 135},
          {0.3, 53, 95, 141},
          {0.4, 42, 120, 142},
          {0.5, 33, 145, 140},
          {0.6, 34, 168, 132},
          {0.7, 68, 191, 112},
          {0.8, 122, 209, 81},
          {0.9, 189, 223, 38},
          {1.0, 253, 231, 37}}},
        {"rdbu",
         {{0.0, 5, 48, 97},
          {0.25, 67, 147, 195},
          {0.5, 247, 247, 247},
          {0.75, 214, 96, 77},
          {1.0, 103, 0, 31}}},
        {"gray", {{0.0, 0, 0, 0}, {1.0, 255, 255, 255}}},
    };
    return m;
}

struct PngVar {
    std::string name;
    json attrs;
    double vmin = 0, vmax = 1;
    double scale = 1, offset = 0;
    std::vector<double> missing; // raw values
    std::string range_from;      // "--vmin/--vmax", "valid_min/valid_max", "percentiles 2-98"
    bool is_float = true;        // stored type
    std::string cmap;
    std::vector<unsigned char> table; // cmap_table(cmap)
};

struct Level {
    std::unique_ptr<zarr::FileStore> store;
    json consolidated;
};

// The tiles of a zoom z (level k): tile ranges x0..x1, y0..y1, and the level-k cell row (column)
// under the centre of each pixel row (column) of them, -1 outside the cube.
struct Zoom {
    int z = 0, k = 0;
    long x0 = 0, x1 = -1, y0 = 0, y1 = -1;
    std::vector<long> rows, cols;
};

void make_dir(const sfs::path& dir) {
    std::error_code ec;
    sfs::create_directory(dir, ec);
    if (ec) {
        throw OutputError("cannot create '" + dir.string() + "': " + ec.message(),
                          "The folder that holds the --png folder must be writable: tiles builds "
                          "the new PNG folder beside the old one");
    }
}

// Plane t (outer index) of a 2-D+ variable of a level, decoded to physical values; NaN missing.
std::vector<float> read_plane(const zarr::KvStore& st, const zarr::ArrayMeta& m, const PngVar& v,
                              size_t t) {
    const size_t nd = m.ndim();
    const size_t H = m.shape[nd - 2], W = m.shape[nd - 1];
    const size_t ch = m.chunks[nd - 2], cw = m.chunks[nd - 1];
    std::vector<float> out(H * W, std::numeric_limits<float>::quiet_NaN());
    std::vector<size_t> idx(nd);
    size_t inner = 0;
    {
        std::vector<size_t> off(nd - 2);
        size_t rem = t;
        for (size_t i = nd - 2; i-- > 0;) {
            size_t pos = rem % m.shape[i];
            rem /= m.shape[i];
            idx[i] = pos / m.chunks[i];
            off[i] = pos % m.chunks[i];
        }
        for (size_t i = 0; i + 2 < nd; ++i) {
            inner = inner * m.chunks[i] + off[i];
        }
        inner *= ch * cw;
    }
    std::vector<char> buf(m.chunk_bytes());
    const auto type = m.dtype_info();
    for (size_t by = 0; by * ch < H; ++by) {
        for (size_t bx = 0; bx * cw < W; ++bx) {
            idx[nd - 2] = by;
            idx[nd - 1] = bx;
            if (!zarr::read_chunk(st, v.name, m, idx, buf.data())) {
                continue;
            }
            zarr::visit_dtype(type, [&](auto tag) {
                using T = typename decltype(tag)::type;
                for (size_t y = by * ch; y < std::min(H, (by + 1) * ch); ++y) {
                    for (size_t x = bx * cw; x < std::min(W, (bx + 1) * cw); ++x) {
                        T raw;
                        std::memcpy(&raw,
                                    buf.data() +
                                        (inner + (y - by * ch) * cw + (x - bx * cw)) * sizeof(T),
                                    sizeof raw);
                        double d = static_cast<double>(raw);
                        bool miss = std::isnan(d);
                        for (double mv : v.missing) {
                            miss = miss || d == mv;
                        }
                        if (!miss) {
                            out[y * W + x] = static_cast<float>(d * v.scale + v.offset);
                        }
                    }
                }
            });
        }
    }
    return out;
}

// valid_min/valid_max are in the stored type (CF): JSON integers on an integer variable, floats on
// a float one. Integers on an unpacked float variable are the packed range of its source (xcube's
// OSTIA cube: float kelvin with valid_min -300, valid_max 4500): not a range of its values.
bool valid_range_applies(const PngVar& v, bool is_float) {
    const json& a = v.attrs;
    if (!a.contains("valid_min") || !a.contains("valid_max") || !a["valid_min"].is_number() ||
        !a["valid_max"].is_number()) {
        return false;
    }
    bool ints = a["valid_min"].is_number_integer() && a["valid_max"].is_number_integer();
    return is_float ? !ints : true;
}

double number_attr(const json& a, const char* k, double dflt) {
    return a.contains(k) && a[k].is_number() ? a[k].get<double>() : dflt;
}

// numpy's percentile (linear interpolation) of sorted values
double percentile(const std::vector<float>& s, double p) {
    double pos = p / 100.0 * static_cast<double>(s.size() - 1);
    size_t i = static_cast<size_t>(std::floor(pos));
    double frac = pos - static_cast<double>(i);
    if (i + 1 >= s.size()) {
        return s.back();
    }
    return static_cast<double>(s[i]) +
           frac * (static_cast<double>(s[i + 1]) - static_cast<double>(s[i]));
}

// 64-bit FNV-1a, over 8-byte words (a fingerprint, not a checksum against attacks): the same
// bytes give the same value in every build.
struct Fnv {
    std::uint64_t h = 1469598103934665603ULL;
    void add(std::string_view s) {
        size_t i = 0;
        for (; i + 8 <= s.size(); i += 8) {
            std::uint64_t w;
            std::memcpy(&w, s.data() + i, 8);
            h = (h ^ w) * 1099511628211ULL;
        }
        for (; i < s.size(); ++i) {
            h = (h ^ static_cast<unsigned char>(s[i])) * 1099511628211ULL;
        }
        h = (h ^ s.size()) * 1099511628211ULL; // length: "ab"+"c" differs from "a"+"bc"
    }
    std::string hex() const {
        char b[17];
        std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
        return b;
    }
};

// What the tiles of variable v at outer index t are made of, on level k: its metadata and the
// stored bytes (compressed, not decoded) of every chunk of that index ("-" for an absent chunk).
void add_slice(Fnv& f, const zarr::KvStore& st, const json& consolidated, const std::string& name,
               size_t t) {
    json za = consolidated.at(name + "/.zarray");
    if (za.contains("shape") && za["shape"].is_array() && za["shape"].size() >= 2) {
        // the length of the time axis is not part of a slice (an appended day changes it)
        za["shape"] = json::array({za["shape"][za["shape"].size() - 2], za["shape"].back()});
    }
    f.add(za.dump());
    f.add(consolidated.value(name + "/.zattrs", json::object()).dump());
    const auto m = zarr::ArrayMeta::from_json(consolidated.at(name + "/.zarray"));
    const size_t nd = m.ndim();
    std::vector<size_t> idx(nd);
    for (size_t i = nd - 2, rem = t; i-- > 0;) {
        idx[i] = (rem % m.shape[i]) / m.chunks[i];
        rem /= m.shape[i];
    }
    for (idx[nd - 2] = 0; idx[nd - 2] * m.chunks[nd - 2] < m.shape[nd - 2]; ++idx[nd - 2]) {
        for (idx[nd - 1] = 0; idx[nd - 1] * m.chunks[nd - 1] < m.shape[nd - 1]; ++idx[nd - 1]) {
            const auto key = zarr::chunk_store_key(name, m, idx);
            f.add(key);
            auto b = st.get(key);
            f.add(b ? std::string_view(*b) : std::string_view("-"));
        }
    }
}

const char* const MANIFEST = ".baims-png.json";

double tile_x(double lon, int z) {
    return (lon + 180.0) / 360.0 * std::ldexp(1.0, z);
}
double tile_y(double lat, int z) {
    lat = std::clamp(lat, -MAX_LAT, MAX_LAT) * PI / 180.0;
    return (1.0 - std::log(std::tan(lat) + 1.0 / std::cos(lat)) / PI) / 2.0 * std::ldexp(1.0, z);
}

std::string html_page(const json& meta);

// 18 samples of a colour table for the legend's gradient
json colours_of(const std::vector<unsigned char>& table) {
    json c = json::array();
    for (int i = 0; i < 256; i += 15) {
        c.push_back(json::array({table[3 * i], table[3 * i + 1], table[3 * i + 2]}));
    }
    return c;
}

} // namespace

std::string PngResult::summary() const {
    return std::to_string(tiles) + " PNG tiles, zoom " + std::to_string(zmin) + "-" +
           std::to_string(zmax) +
           (unchanged ? ", " + std::to_string(unchanged) + " of " + std::to_string(steps) +
                            " variable time steps unchanged"
                      : "");
}

std::string cmap_names() {
    std::string s;
    for (const auto& [name, _] : cmaps()) {
        s += (s.empty() ? "" : ", ") + name;
    }
    return s;
}

std::string check_cmap(const std::string& name) {
    if (!cmaps().contains(name)) {
        throw UsageError("unknown colour map '" + name + "'", "Use one of " + cmap_names());
    }
    return name;
}

std::vector<unsigned char> cmap_table(const std::string& name) {
    const auto& stops = cmaps().at(check_cmap(name));
    std::vector<unsigned char> t(256 * 3);
    for (int i = 0; i < 256; ++i) {
        double x = i / 255.0;
        size_t j = 0;
        while (j + 2 < stops.size() && x > stops[j + 1].x) {
            ++j;
        }
        const Stop &a = stops[j], &b = stops[j + 1];
        double f = (x - a.x) / (b.x - a.x);
        auto lerp = [&](unsigned char p, unsigned char q) {
            return static_cast<unsigned char>(std::lround(p + f * (q - p)));
        };
        t[3 * i] = lerp(a.r, b.r);
        t[3 * i + 1] = lerp(a.g, b.g);
        t[3 * i + 2] = lerp(a.b, b.b);
    }
    return t;
}

sfs::path real_png_folder(const std::string& dir) {
    sfs::path d = folder_path(dir);
    std::error_code ec;
    if (!sfs::is_symlink(d, ec)) {
        return d;
    }
    // Follow the chain of links by hand: a link whose target does not exist yet gets it made.
    for (int hops = 0; hops < 40 && sfs::is_symlink(d, ec); ++hops) {
        const sfs::path target = sfs::read_symlink(d, ec);
        if (ec) {
            break;
        }
        d = target.is_absolute() ? target : d.parent_path() / target;
    }
    sfs::create_directories(d, ec);
    if (ec) {
        throw OutputError("cannot create the PNG folder '" + d.string() + "' (the target of the " +
                              "link '" + dir + "'): " + ec.message(),
                          "Check that its parent folder is writable, or choose another --png");
    }
    auto real = sfs::canonical(d, ec);
    return ec ? d : real;
}

std::unique_ptr<fs::FileLock> png_folder_lock(const std::string& dir) {
    return std::make_unique<fs::FileLock>(real_png_folder(dir) / LOCK_FILE,
                                          "PNG folder '" + folder_path(dir).string() + "'");
}

PngResult write_png_tiles(const std::string& cube, const std::string& levels_dir,
                          const PngRequest& req) {
    PngResult res;
    zarr::FileStore lstore(levels_dir, false);
    json zlevels = json::parse(*lstore.get(".zlevels"));
    const int n = zlevels.at("num_levels").get<int>();
    std::vector<Level> levels(static_cast<size_t>(n));
    for (int k = 0; k < n; ++k) {
        sfs::path p =
            k == 0 ? (lstore.exists("0.link") ? sfs::path(cube) : sfs::path(levels_dir) / "0.zarr")
                   : sfs::path(levels_dir) / (std::to_string(k) + ".zarr");
        auto& l = levels[static_cast<size_t>(k)];
        l.store = std::make_unique<zarr::FileStore>(p, false);
        l.consolidated = zarr::consolidated_metadata(*l.store)["metadata"];
    }
    const json& c0 = levels[0].consolidated;
    // variables: those of the pyramid, on (…, lat, lon)
    std::vector<PngVar> vars;
    std::string tdim;
    for (const auto& [name, _] : zlevels.at("agg_methods").items()) {
        PngVar v;
        v.name = name;
        v.attrs = c0.value(name + "/.zattrs", json::object());
        json dims = v.attrs.value("_ARRAY_DIMENSIONS", json::array());
        if (dims.size() < 2 || dims[dims.size() - 2] != "lat" || dims.back() != "lon") {
            throw UsageError("--png needs variables on (lat, lon); '" + name + "' of '" + cube +
                                 "' is on " + dims.dump(),
                             "Build the PNG tiles from a geographic (lat/lon) cube");
        }
        if (dims.size() >= 3) {
            tdim = dims[0].get<std::string>();
        }
        auto cm = req.cmap_of.find(name);
        v.cmap = cm != req.cmap_of.end() ? cm->second : req.cmap;
        v.table = cmap_table(v.cmap);
        v.scale = number_attr(v.attrs, "scale_factor", 1.0);
        v.offset = number_attr(v.attrs, "add_offset", 0.0);
        auto meta = zarr::ArrayMeta::from_json(c0.at(name + "/.zarray"));
        v.is_float = meta.dtype_info().kind == zarr::DataKind::Float;
        if (!meta.fill_value.is_null() && !meta.fill_is_nan()) {
            v.missing.push_back(meta.fill_as_double());
        }
        for (const char* k : {"_FillValue", "missing_value"}) {
            if (v.attrs.contains(k) && v.attrs[k].is_number()) {
                v.missing.push_back(v.attrs[k].get<double>());
            }
        }
        vars.push_back(std::move(v));
    }
    // geometry of level 0
    const auto lat = read_numeric_array(*levels[0].store, "lat");
    const auto lon = read_numeric_array(*levels[0].store, "lon");
    const size_t H = lat.size(), W = lon.size();
    if (H < 2 || W < 2) {
        throw UsageError("--png needs a cube of at least 2x2 cells", "");
    }
    const double dx = (lon.back() - lon.front()) / static_cast<double>(W - 1);
    const double dy = std::abs(lat.back() - lat.front()) / static_cast<double>(H - 1);
    const bool descending = lat.front() > lat.back();
    const double west = lon.front() - dx / 2, east = west + dx * static_cast<double>(W);
    const double north = std::max(lat.front(), lat.back()) + dy / 2;
    const double south = north - dy * static_cast<double>(H);
    res.zmax = std::clamp(static_cast<int>(std::ceil(std::log2(360.0 / (TILE * dx)))), 0, 22);
    res.zmin = std::max(0, res.zmax - (n - 1));
    // time labels
    std::vector<std::string> times;
    size_t nt = 1;
    if (!tdim.empty()) {
        auto tv = read_numeric_array(*levels[0].store, tdim);
        nt = tv.size();
        json ta = c0.value(tdim + "/.zattrs", json::object());
        std::string units = ta.value("units", "");
        for (double t : tv) {
            std::string label;
            if (units.find(" since ") != std::string::npos) {
                try {
                    auto u = grid::time::parse_cf_units(units, ta.value("calendar", "standard"));
                    label = grid::time::format_iso(u.to_days(t), u.calendar);
                } catch (const Error&) {
                }
            }
            times.push_back(label.empty() ? std::to_string(t) + " " + units : label);
        }
    } else {
        times.push_back("");
    }
    // value ranges
    const auto& deepest = levels[static_cast<size_t>(n - 1)];
    for (auto& v : vars) {
        if (req.vmin && req.vmax) {
            v.vmin = *req.vmin;
            v.vmax = *req.vmax;
            v.range_from = "--vmin/--vmax";
        } else if (valid_range_applies(v, v.is_float)) {
            v.vmin = v.attrs["valid_min"].get<double>() * v.scale + v.offset;
            v.vmax = v.attrs["valid_max"].get<double>() * v.scale + v.offset;
            v.range_from = "valid_min/valid_max";
        } else {
            auto meta = zarr::ArrayMeta::from_json(deepest.consolidated.at(v.name + "/.zarray"));
            std::vector<float> all;
            for (size_t t = 0; t < nt; ++t) {
                for (float f : read_plane(*deepest.store, meta, v, t)) {
                    if (!std::isnan(f)) {
                        all.push_back(f);
                    }
                }
            }
            std::sort(all.begin(), all.end());
            if (!all.empty()) {
                v.vmin = percentile(all, 2);
                v.vmax = percentile(all, 98);
            }
            v.range_from = "percentiles 2-98 of level " + std::to_string(n - 1);
        }
        if (req.vmin && !req.vmax) {
            v.vmin = *req.vmin;
        }
        if (req.vmax && !req.vmin) {
            v.vmax = *req.vmax;
        }
    }
    // tiles. The new content of DIR is made complete in the sibling folder DIR.baims-swap: hard
    // links to the tiles of every unchanged step (they keep their inode and mtime), new files for
    // the rendered steps, index.html and tiles.json; one syncfs, then renameat2(RENAME_EXCHANGE)
    // swaps the two folders in one step and the old tree is deleted. A reader sees the complete
    // old or the complete new folder; a swap folder left by a killed run (the unfinished new tree
    // before the exchange, the old tree after it) is removed by the next run.
    // "png/": the swap folder goes beside it; a link is followed (real_png_folder)
    const sfs::path dir = real_png_folder(req.dir);
    std::error_code ec;
    sfs::create_directories(dir, ec);
    if (ec) {
        throw OutputError("cannot create the PNG folder '" + req.dir + "': " + ec.message(),
                          "Check that its parent folder is writable, or choose another --png");
    }
    // the folder's writer lock (as the cube's and the pyramid's): a second tiles --png into the
    // same folder is refused (exit 5) while this one runs; linked into the new tree with the
    // other files that are not ours, so it stays the same file across the exchange
    const auto lock = req.lock_held ? nullptr : png_folder_lock(req.dir);
    const sfs::path swap = swap_dir(dir);
    remove_tree(swap);
    check_exchange_support(dir, "PNG folder");
    zarr::FileStore old(dir, false);
    json zooms = json::object();
    std::vector<Zoom> zs;
    for (int z = res.zmin; z <= res.zmax; ++z) {
        Zoom& g = zs.emplace_back();
        g.z = z;
        g.k = std::min(n - 1, res.zmax - z);
        g.x0 = static_cast<long>(std::floor(tile_x(west, z)));
        g.x1 = static_cast<long>(std::ceil(tile_x(east, z))) - 1;
        g.y0 = static_cast<long>(std::floor(tile_y(north, z)));
        g.y1 = static_cast<long>(std::ceil(tile_y(south, z))) - 1;
        zooms[std::to_string(z)] = json::array({g.x0, g.x1, g.y0, g.y1});
        // the level-k cell row (column) under the centre of every pixel row (column) of the
        // zoom's tiles, -1 outside the cube: the same for every variable and time step
        if (vars.empty()) {
            continue;
        }
        const auto& meta = levels[static_cast<size_t>(g.k)].consolidated;
        const auto am = zarr::ArrayMeta::from_json(meta.at(vars.front().name + "/.zarray"));
        const long Hk = static_cast<long>(am.shape[am.ndim() - 2]);
        const long Wk = static_cast<long>(am.shape[am.ndim() - 1]);
        const double scale = std::ldexp(1.0, z);
        for (long ty = g.y0; ty <= g.y1; ++ty) {
            for (int py = 0; py < TILE; ++py) {
                double my = (static_cast<double>(ty) + (py + 0.5) / TILE) / scale;
                double la = std::atan(std::sinh(PI * (1 - 2 * my))) * 180.0 / PI;
                double fr = descending ? (north - la) / dy : (la - south) / dy;
                long r = -1;
                if (fr >= 0 && fr < static_cast<double>(H)) {
                    r = static_cast<long>(static_cast<size_t>(fr) >> g.k);
                }
                g.rows.push_back(r < Hk ? r : -1);
            }
        }
        for (long tx = g.x0; tx <= g.x1; ++tx) {
            for (int px = 0; px < TILE; ++px) {
                double lo = (static_cast<double>(tx) + (px + 0.5) / TILE) / scale * 360.0 - 180.0;
                double fc = (lo - west) / dx;
                long c = -1;
                if (fc >= 0 && fc < static_cast<double>(W)) {
                    c = static_cast<long>(static_cast<size_t>(fc) >> g.k);
                }
                g.cols.push_back(c < Wk ? c : -1);
            }
        }
    }
    const int threads = std::max(1, req.threads);
    std::vector<std::vector<std::uint32_t>> bufs(static_cast<size_t>(threads));
    const std::string empty_png = [] {
        std::vector<std::uint8_t> none(TILE * TILE * 4, 0);
        return io::encode_png_rgba(none.data(), TILE, TILE);
    }();
    make_dir(swap);
    try {
        // files of DIR that are not ours (and folders of variables the cube no longer has) stay
        std::set<std::string> ours = {"index.html", "tiles.json"};
        for (const auto& v : vars) {
            ours.insert(v.name);
        }
        for (const auto& e : sfs::directory_iterator(dir)) {
            const std::string name = e.path().filename().string();
            if (ours.contains(name) || zarr::FileStore::is_temp_name(name)) {
                continue;
            }
            if (e.is_directory() && !e.is_symlink()) {
                link_tree(e.path(), swap / name, "PNG folder");
            } else {
                hard_link(e.path(), swap / name, "PNG folder"); // a symbolic link stays one
            }
        }
        for (const auto& v : vars) {
            make_dir(swap / v.name);
            for (size_t t = 0; t < nt; ++t) {
                // the manifest: what the tiles of this step were made of; equal → linked
                const std::string step = v.name + "/" + std::to_string(t);
                Fnv fp;
                for (const auto& g : zs) {
                    add_slice(fp, *levels[static_cast<size_t>(g.k)].store,
                              levels[static_cast<size_t>(g.k)].consolidated, v.name, t);
                }
                json manifest = {{"version", 1},
                                 {"fingerprint", fp.hex()},
                                 {"cmap", v.cmap},
                                 {"vmin", v.vmin},
                                 {"vmax", v.vmax},
                                 {"zmin", res.zmin},
                                 {"zmax", res.zmax},
                                 {"num_levels", n},
                                 {"bounds", json::array({west, south, east, north})}};
                ++res.steps;
                if (read_json_file(old, step + "/" + MANIFEST) == manifest) {
                    ++res.unchanged;
                    link_tree(dir / step, swap / step, "PNG folder");
                    fault_point("png-step");
                    continue;
                }
                make_dir(swap / step);
                for (const auto& g : zs) {
                    const auto& lv = levels[static_cast<size_t>(g.k)];
                    const auto meta =
                        zarr::ArrayMeta::from_json(lv.consolidated.at(v.name + "/.zarray"));
                    const size_t Wk = meta.shape[meta.ndim() - 1];
                    // the plane's values, then in place the RGBA bytes of every cell (0:
                    // transparent): one buffer of the level's size
                    std::vector<float> cells = read_plane(*lv.store, meta, v, t);
                    bool any = false;
                    for (float& cell : cells) {
                        std::uint32_t rgba = 0;
                        if (!std::isnan(cell)) {
                            double f = v.vmax > v.vmin ? (cell - v.vmin) / (v.vmax - v.vmin) : 0.5;
                            auto ci =
                                static_cast<size_t>(std::lround(255 * std::clamp(f, 0.0, 1.0)));
                            const std::uint8_t px[4] = {v.table[3 * ci], v.table[3 * ci + 1],
                                                        v.table[3 * ci + 2], 255};
                            std::memcpy(&rgba, px, 4);
                            any = true;
                        }
                        std::memcpy(&cell, &rgba, 4);
                    }
                    const sfs::path zdir = swap / step / std::to_string(g.z);
                    make_dir(zdir);
                    for (long tx = g.x0; tx <= g.x1; ++tx) {
                        make_dir(zdir / std::to_string(tx));
                    }
                    const size_t ntx = static_cast<size_t>(g.x1 - g.x0 + 1);
                    const size_t ntiles = ntx * static_cast<size_t>(g.y1 - g.y0 + 1);
                    parallel_for(ntiles, threads, [&](size_t i, size_t slot) {
                        const size_t ix = i % ntx, iy = i / ntx;
                        const long* rows = g.rows.data() + iy * TILE;
                        const long* cols = g.cols.data() + ix * TILE;
                        auto& buf = bufs[slot];
                        buf.resize(TILE * TILE); // every pixel is written below
                        std::uint32_t seen = 0;  // the OR of all pixels: 0 = all transparent
                        for (int py = 0; py < TILE; ++py) {
                            std::uint32_t* dst = buf.data() + static_cast<size_t>(py) * TILE;
                            if (rows[py] < 0 || !any) {
                                std::fill(dst, dst + TILE, 0U);
                                continue;
                            }
                            const float* src = cells.data() + static_cast<size_t>(rows[py]) * Wk;
                            for (int px = 0; px < TILE; ++px) {
                                dst[px] = 0;
                                if (cols[px] >= 0) {
                                    std::memcpy(&dst[px], src + cols[px], 4);
                                }
                                seen |= dst[px];
                            }
                        }
                        const bool opaque = seen != 0;
                        const auto file = zdir / std::to_string(g.x0 + static_cast<long>(ix)) /
                                          (std::to_string(g.y0 + static_cast<long>(iy)) + ".png");
                        fs::write_file(
                            file, opaque ? io::encode_png_rgba(
                                               reinterpret_cast<const std::uint8_t*>(buf.data()),
                                               TILE, TILE)
                                         : empty_png);
                        fault_point("png-tile");
                    });
                    res.tiles += ntiles;
                }
                fs::write_file(swap / step / MANIFEST, manifest.dump(2));
                fault_point("png-step");
            }
        }
        // the viewer
        json meta = {{"zmin", res.zmin},
                     {"zmax", res.zmax},
                     {"bounds", json::array({west, south, east, north})},
                     {"zooms", zooms},
                     {"times", times},
                     {"variables", json::array()}};
        for (const auto& v : vars) {
            meta["variables"].push_back({{"name", v.name},
                                         {"long_name", v.attrs.value("long_name", v.name)},
                                         {"units", v.attrs.value("units", "")},
                                         {"vmin", v.vmin},
                                         {"vmax", v.vmax},
                                         {"range", v.range_from},
                                         {"cmap", v.cmap},
                                         {"colours", colours_of(v.table)}});
        }
        fs::write_file(swap / "index.html", html_page(meta));
        fs::write_file(swap / "tiles.json", meta.dump(2));
    } catch (...) {
        std::error_code ignored;
        sfs::remove_all(swap, ignored);
        throw;
    }
    // syncfs, exchange (the commit point), removal of the old folder
    commit_exchange(dir, "png-exchange", "png-exchanged", "PNG folder");
    return res;
}

namespace {

std::string html_page(const json& meta) {
    // '</' cannot end the script early: the JSON has no '<' after this replacement
    std::string data = meta.dump();
    for (size_t p = 0; (p = data.find('<', p)) != std::string::npos;) {
        data.replace(p, 1, "\\u003c");
    }
    return R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>baims tiles</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{margin:0;font:14px sans-serif}
#bar{padding:6px;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
#map{position:relative;overflow:hidden;height:calc(100vh - 90px);background:#e8e8e8;cursor:grab}
#map img{position:absolute;width:256px;height:256px;user-select:none;-webkit-user-drag:none}
#legend canvas{vertical-align:middle;border:1px solid #888}
</style></head><body>
<div id="bar">
<label>variable <select id="var"></select></label>
<label>time <input id="time" type="range" min="0" value="0"> <span id="tlabel"></span></label>
<button id="zin">+</button><button id="zout">&minus;</button> <span id="zlabel"></span>
<span id="legend"><span id="lmin"></span> <canvas id="lbar" width="200" height="14"></canvas> <span id="lmax"></span></span>
<span id="status"></span>
</div>
<div id="map"></div>
<script>
// Written by baims tiles --png. Plain JS, no network: tiles are VAR/T/Z/X/Y.png beside this page.
const META = )HTML" +
           data + R"HTML(;
const q = new URLSearchParams(location.search);
const S = {v: 0, t: 0, z: META.zmin, cx: 0, cy: 0, loaded: 0, failed: 0, requested: 0, gen: 0};
// window.tilesReady: a promise of the status line, resolved when every tile of the last draw is
// decoded (ready to paint) or failed; body data-tiles="done" then (tests and scripts wait on it).
window.tilesReady = Promise.resolve('');
const vsel = document.getElementById('var'), trange = document.getElementById('time');
META.variables.forEach((v, i) => vsel.add(new Option(v.long_name + (v.units ? ' [' + v.units + ']' : ''), i)));
trange.max = META.times.length - 1;
function mx(lon, z) { return (lon + 180) / 360 * 256 * 2 ** z; }
function my(lat, z) { const r = Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI / 180;
  return (1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2 * 256 * 2 ** z; }
function centre(z) { const b = META.bounds; S.cx = (mx(b[0], z) + mx(b[2], z)) / 2; S.cy = (my(b[3], z) + my(b[1], z)) / 2; }
function legend() {
  const v = META.variables[S.v], c = document.getElementById('lbar').getContext('2d');
  const g = c.createLinearGradient(0, 0, 200, 0);
  v.colours.forEach((rgb, i) => g.addColorStop(i / (v.colours.length - 1), 'rgb(' + rgb.join(',') + ')'));
  c.fillStyle = g; c.fillRect(0, 0, 200, 14);
  document.getElementById('lmin').textContent = +v.vmin.toPrecision(4);
  document.getElementById('lmax').textContent = +v.vmax.toPrecision(4) + (v.units ? ' ' + v.units : '');
}
function status() {
  document.getElementById('status').textContent =
    'tiles requested ' + S.requested + ', drawn ' + S.loaded + ', failed ' + S.failed;
}
function draw() {
  const map = document.getElementById('map'), w = map.clientWidth, h = map.clientHeight;
  map.textContent = '';
  S.requested = S.loaded = S.failed = 0;
  const gen = ++S.gen;
  let ready;
  window.tilesReady = new Promise(r => { ready = r; });
  document.body.dataset.tiles = 'loading';
  const settle = () => {
    if (gen !== S.gen) return;   // an image of an earlier view
    status();
    if (S.loaded + S.failed === S.requested) {
      document.body.dataset.tiles = 'done';
      ready(document.getElementById('status').textContent);
    }
  };
  const r = META.zooms[S.z], v = META.variables[S.v].name;
  const left = S.cx - w / 2, top = S.cy - h / 2;
  for (let x = Math.max(r[0], Math.floor(left / 256)); x <= Math.min(r[1], Math.floor((left + w) / 256)); x++) {
    for (let y = Math.max(r[2], Math.floor(top / 256)); y <= Math.min(r[3], Math.floor((top + h) / 256)); y++) {
      const img = new Image();
      img.style.left = (x * 256 - left) + 'px'; img.style.top = (y * 256 - top) + 'px';
      img.src = v + '/' + S.t + '/' + S.z + '/' + x + '/' + y + '.png';
      map.appendChild(img); S.requested++;
      img.decode().then(() => { if (gen === S.gen) S.loaded++; },
                        () => { if (gen === S.gen) S.failed++; }).then(settle);
    }
  }
  document.getElementById('tlabel').textContent = META.times[S.t];
  document.getElementById('zlabel').textContent = 'zoom ' + S.z;
  legend(); settle();
}
function zoom(d) { const z = Math.max(META.zmin, Math.min(META.zmax, S.z + d));
  if (z !== S.z) { const f = 2 ** (z - S.z); S.cx *= f; S.cy *= f; S.z = z; draw(); } }
vsel.onchange = () => { S.v = +vsel.value; draw(); };
trange.oninput = () => { S.t = +trange.value; draw(); };
document.getElementById('zin').onclick = () => zoom(1);
document.getElementById('zout').onclick = () => zoom(-1);
const map = document.getElementById('map');
let drag = null;
map.onmousedown = e => { drag = [e.clientX, e.clientY]; };
window.onmouseup = () => { drag = null; };
window.onmousemove = e => { if (!drag) return; S.cx -= e.clientX - drag[0]; S.cy -= e.clientY - drag[1]; drag = [e.clientX, e.clientY]; draw(); };
map.onwheel = e => { e.preventDefault(); zoom(e.deltaY < 0 ? 1 : -1); };
window.onresize = draw;
// ?var=NAME&t=INDEX&z=ZOOM select the start view
const vi = META.variables.findIndex(v => v.name === q.get('var'));
if (vi >= 0) { S.v = vi; vsel.value = vi; }
if (q.has('t')) { S.t = Math.max(0, Math.min(META.times.length - 1, +q.get('t'))); trange.value = S.t; }
if (q.has('z')) S.z = Math.max(META.zmin, Math.min(META.zmax, +q.get('z')));
centre(S.z); draw();
</script></body></html>
)HTML";
}

} // namespace

} // namespace baims::cube
