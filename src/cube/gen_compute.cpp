// gen's compute: reading a slice and computing its chunks.

#include "gen_compute.hpp"

#include "parallel.hpp"

#include "baims/core/error.hpp"
#include "baims/core/huge_pages.hpp"
#include "baims/core/interrupt.hpp"
#include "baims/core/log.hpp"
#include "baims/core/text.hpp"
#include "baims/grid/time.hpp"
#include "baims/zarr/codec.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>

namespace baims::cube::gen {
namespace {

// io::ForEach on the run's thread pool.
io::ForEach pool_for_each(int threads) {
    return [threads](size_t n, const std::function<void(size_t)>& task) {
        parallel_for(n, threads, [&](size_t i, size_t) { task(i); });
    };
}

// The window of source cells that the maps of input number `input` for vars read (all of it
// without maps, or when a map cannot be made: compute_slice then reports that). outside: set
// when the input has maps for vars and they use no cell (none in the output region).
io::Window read_window(const io::Input& file, const InputInfo& in, size_t input,
                       const std::vector<OutVar>& vars, bool exprs, MapCache* maps, int threads,
                       bool& outside) {
    const io::Window all{0, io::rows(in.geometry), 0, io::cols(in.geometry)};
    outside = false;
    if (!maps) {
        return all;
    }
    io::Window w{all.row1, 0, all.col1, 0};
    bool mapped = false;
    try {
        for (const auto& v : vars) {
            if (!exprs && !file.find(v.input)) {
                continue; // not read from this input
            }
            const io::Window u = maps->window(in, input, v.resampling, threads);
            mapped = true;
            if (!u.empty()) {
                w = {std::min(w.row0, u.row0), std::max(w.row1, u.row1), std::min(w.col0, u.col0),
                     std::max(w.col1, u.col1)};
            }
        }
    } catch (const ConfigError&) {
        return all; // a map that cannot be made for the output: compute_slice says so
    }
    outside = mapped && w.empty();
    // An InputError (a swath whose lat/lon cannot be read when its map is built) goes to
    // load_slice's caller as this slice's error: the input is skipped (exit 8), or the run stops
    // with --fail-fast (exit 4), as the scan does with an unreadable input.
    return w;
}

} // namespace

const SourceMap& MapCache::get(const InputInfo& in, size_t input, Resampling m, int threads) {
    std::lock_guard lock(m_mutex);
    const auto key = std::make_pair(input, static_cast<int>(m));
    if (auto it = m_maps.find(key); it != m_maps.end()) {
        return *it->second;
    }
    if (auto it = m_failed.find(key); it != m_failed.end()) {
        std::rethrow_exception(it->second);
    }
    try {
        std::shared_ptr<const SourceMap> map;
        const auto find = [&](const std::string& digest) {
            if (digest.empty()) {
                return; // a lone input's: no map to share
            }
            for (const auto& e : m_distinct) {
                if (e.method == m && e.digest == digest) {
                    map = e.map;
                }
            }
        };
        auto d = m_digests.find(input);
        if (d != m_digests.end()) {
            find(d->second);
        }
        // A swath's coordinates, read again here when needed and freed on return. Its nearest
        // or bilinear map is built from its packed lat/lon read a block of rows at a time when
        // that applies (map_swath_rows: the ~160 MB of the whole arrays are never in memory),
        // else from the whole geometry. A swath that another input of its shape may share a map
        // with also needs its digest: computed from the blocks as the map is built (DigestingRows)
        // when no earlier swath of its shape has its head key (io::HeadRows: the first block, read
        // once for the key and the map), else in a read of its own first (equal digests then
        // share the map without building it).
        std::optional<io::Geometry> read;
        std::optional<PixelMap> banded;
        size_t banded_rows = 0, digest_rows = 0;
        const io::Geometry* g = &in.geometry;
        const bool lone = input < m_lone.size() && m_lone[input];
        const bool bandable = m == Resampling::Nearest || m == Resampling::Bilinear;
        std::unique_ptr<io::Input> file;
        // A new reader of the swath's packed lat/lon; null when the file cannot give them so.
        const auto open_rows = [&]() -> std::unique_ptr<io::SwathRows> {
            auto rows = file->swath_rows();
            if (rows &&
                (rows->height != io::rows(in.geometry) || rows->width != io::cols(in.geometry))) {
                throw InputError(
                    "input '" + in.path + "' changed while gen ran: its geometry is 2-D lat/lon " +
                        std::to_string(rows->height) + "x" + std::to_string(rows->width) +
                        ", was " + io::describe(in.geometry),
                    "Run again once the input is complete");
            }
            return rows;
        };
        // The maps of swaths that no input holds any more (release), kept for a later input on
        // the same coordinates: this input shares none of them (it builds its own), so they go
        // before its map is built (bench/swath_inputs.sh: the peak of one map less).
        const auto drop_unheld = [&] {
            std::erase_if(m_distinct, [&](const Entry& e) {
                if (!e.swath || e.map.use_count() > 1) {
                    return false;
                }
                // (tests/conformance/test_gen_swath.py reads this line)
                log::debug(std::string("resampling map (") + to_string(e.method) + ") " +
                           (e.digest.empty() ? "of a lone swath"
                                             : "with digest " + e.digest.substr(0, 16)) +
                           " dropped before the map of input '" + in.path +
                           "' is built: no input holds it");
                m_windows.erase(e.map.get());
                return true;
            });
        };
        const auto build_banded = [&](io::SwathRows& rows) {
            drop_unheld();
            banded = map_swath_rows(rows, m_grid, m, pool_for_each(threads), m_out_crs);
            banded_rows = rows.block_rows;
        };
        const auto set_digest = [&](std::string digest) {
            d = m_digests.emplace(input, std::move(digest)).first;
            find(d->second);
        };
        if (!map && io::shape_only(in.geometry)) {
            file = io::open_input(in.processor, in.path, in.params);
            if (!lone && d == m_digests.end()) {
                const auto rows = open_rows();
                std::optional<io::HeadRows> headed;
                if (rows) {
                    headed.emplace(*rows); // its first block, read once for the key and the map
                }
                if (headed && !headed->key().empty()) {
                    m_heads[input] = headed->key();
                    if (may_share(input, headed->key())) {
                        std::string digest = io::digest(*headed);
                        if (!digest.empty()) {
                            digest_rows = headed->block_rows;
                            set_digest(std::move(digest)); // may find the map to share
                        }
                    } else if (bandable) {
                        io::DigestingRows digesting(*headed);
                        build_banded(digesting);
                        if (banded) {
                            set_digest(digesting.digest());
                        }
                    }
                }
            }
            // Not built above and not shared: banded where it applies (a swath of unknown
            // digest that needs one is read whole below, and takes its digest from that).
            if (!map && !banded && bandable && (lone || d != m_digests.end())) {
                if (const auto rows = open_rows()) {
                    build_banded(*rows);
                }
            }
        }
        if (!map && !banded && io::shape_only(in.geometry)) {
            read = file->take_geometry();
            ++m_geometry_reads;
            if (io::rows(*read) != io::rows(in.geometry) ||
                io::cols(*read) != io::cols(in.geometry)) {
                throw InputError("input '" + in.path + "' changed while gen ran: its geometry is " +
                                     io::describe(*read) + ", was " + io::describe(in.geometry),
                                 "Run again once the input is complete");
            }
            g = &*read;
        }
        if (d == m_digests.end()) {
            if (lone) {
                set_digest(std::string());
            } else {
                set_digest(io::digest(*g, pool_for_each(threads)));
            }
        }
        if (!lone && d->second.empty()) {
            // (a banded map comes with its digest: map_swath_rows reads every block in order)
            throw InternalError("no digest of swath input '" + in.path + "'");
        }
        const bool built = !map;
        if (built) {
            drop_unheld();
            SourceMap made = banded ? SourceMap(std::move(*banded))
                                    : map_source(*g, m_grid, m, pool_for_each(threads), m_out_crs);
            if (m_compact && m == Resampling::Nearest && io::shape_only(in.geometry)) {
                if (auto* pm = std::get_if<PixelMap>(&made)) {
                    compact_nearest(*pm, io::rows(*g), io::cols(*g), pool_for_each(threads));
                }
            }
            map = std::make_shared<const SourceMap>(std::move(made));
            m_windows[map.get()] =
                used_window(*map, io::rows(*g), io::cols(*g), pool_for_each(threads));
            m_distinct.push_back({d->second, m, read.has_value() || banded.has_value(), map});
        }
        // (tests/conformance/test_gen_swath.py reads these lines)
        log::debug(std::string("resampling map (") + to_string(m) + ") of input '" + in.path +
                   "': " + (built ? "built" : "shared") +
                   (d->second.empty() ? ", no digest (no other input of its kind and shape)"
                                      : ", digest " + d->second.substr(0, 16)) +
                   (read ? ", its " + io::describe(*read) + " read again and freed" : "") +
                   (digest_rows ? ", its " + io::describe(in.geometry) + " read in blocks of " +
                                      std::to_string(digest_rows) + " rows for its digest"
                                : "") +
                   (banded ? ", its " + io::describe(in.geometry) + " read again in blocks of " +
                                 std::to_string(banded_rows) + " rows"
                           : ""));
        return *m_maps.emplace(key, std::move(map)).first->second;
    } catch (const Error&) {
        m_failed.emplace(key, std::current_exception());
        throw;
    }
}

void MapCache::set_inputs(const std::vector<InputInfo>& inputs) {
    std::lock_guard lock(m_mutex);
    // (kind, rows, columns) -> how many inputs have it
    std::map<std::array<size_t, 3>, size_t> n;
    const auto shape = [](const io::Geometry& g) {
        return std::array<size_t, 3>{g.index(), io::rows(g), io::cols(g)};
    };
    for (const auto& in : inputs) {
        ++n[shape(in.geometry)];
    }
    m_lone.assign(inputs.size(), false);
    m_shapes.clear();
    for (size_t i = 0; i < inputs.size(); ++i) {
        m_lone[i] = n[shape(inputs[i].geometry)] == 1;
        m_shapes.push_back(shape(inputs[i].geometry));
    }
}

bool MapCache::may_share(size_t input, const std::string& head) const {
    for (const auto& [j, digest] : m_digests) {
        if (j == input || digest.empty() ||
            (input < m_shapes.size() && j < m_shapes.size() && m_shapes[j] != m_shapes[input])) {
            continue;
        }
        const auto h = m_heads.find(j);
        if (h == m_heads.end() || h->second == head) {
            return true; // its head unknown (its coordinates read whole), or equal
        }
    }
    return false;
}

void MapCache::release(size_t input) {
    std::lock_guard lock(m_mutex);
    for (auto it = m_maps.begin(); it != m_maps.end();) {
        it = it->first.first == input ? m_maps.erase(it) : std::next(it);
    }
}

namespace {

// A number for messages: up to 10 significant digits, no trailing zeros ("9.9513", "4321000").
std::string num(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.10g", x);
    return buf;
}

// "lo..hi" of the values of an axis (either order).
std::string span(const std::vector<double>& v) {
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    return num(*lo) + ".." + num(*hi);
}

// Where an input's cell centres lie, for messages: " (cells at longitude a..b, latitude c..d)";
// empty for a swath (its lat/lon are not kept).
std::string cells_text(const io::Geometry& g) {
    if (const auto* a = std::get_if<io::LatLonAxes>(&g); a && !a->lat.empty() && !a->lon.empty()) {
        return " (cells at longitude " + span(a->lon) + ", latitude " + span(a->lat) + ")";
    }
    if (const auto* p = std::get_if<io::ProjectedAxes>(&g); p && !p->x.empty() && !p->y.empty()) {
        return " (cells at x " + span(p->x) + ", y " + span(p->y) + " of its " + p->name + " grid)";
    }
    return {};
}

// " (a swath at longitude a..b, latitude c..d)": the range of a swath's valid positions, from
// its coordinates read again (a block of rows at a time when they are packed integers); empty
// when they cannot be read. For the message of a run refused for having nothing in the output
// region, where the cost of a read does not matter.
std::string swath_text(const InputInfo& in) {
    double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
    const auto take = [&](double lon, double lat) {
        if (std::isfinite(lon) && std::isfinite(lat)) {
            x0 = std::min(x0, lon);
            x1 = std::max(x1, lon);
            y0 = std::min(y0, lat);
            y1 = std::max(y1, lat);
        }
    };
    try {
        const auto file = io::open_input(in.processor, in.path, in.params);
        bool done = false;
        if (const auto rows = file->swath_rows()) {
            std::vector<std::int32_t> la, lo;
            done = true;
            for (size_t k = 0; done && k * rows->block_rows < rows->height; ++k) {
                const size_t n =
                    std::min(rows->block_rows, rows->height - k * rows->block_rows) * rows->width;
                la.resize(n);
                lo.resize(n);
                std::uint32_t jump = 0;
                done = rows->read(k, la.data(), lo.data(), jump);
                for (size_t i = 0; done && i < n; ++i) {
                    take(io::LatLon2D::unpack(lo[i], rows->lon_scale, rows->lon_offset),
                         io::LatLon2D::unpack(la[i], rows->lat_scale, rows->lat_offset));
                }
            }
        }
        if (!done) {
            const io::Geometry g = file->take_geometry();
            if (const auto* s = std::get_if<io::LatLon2D>(&g)) {
                for (size_t i = 0; i < s->height * s->width; ++i) {
                    take(s->lon_at(i), s->lat_at(i));
                }
            }
        }
    } catch (const Error&) {
        return {};
    }
    if (x0 > x1) {
        return {};
    }
    char buf[160];
    std::snprintf(buf, sizeof buf, " (a swath at longitude %.2f..%.2f, latitude %.2f..%.2f)", x0,
                  x1, y0, y1);
    return buf;
}

} // namespace

std::string MapCache::where_text(const InputInfo& in) const {
    return io::shape_only(in.geometry) ? swath_text(in) : cells_text(in.geometry);
}

std::string MapCache::region_text() const {
    const grid::Box& b = m_grid.extent();
    return "[" + num(b.xmin) + ", " + num(b.ymin) + ", " + num(b.xmax) + ", " + num(b.ymax) +
           "], in " + (m_units.empty() ? "degrees of longitude and latitude" : m_units);
}

std::string MapCache::check_region_text() const {
    return std::string("check that output_region ") +
           (m_units.empty() ? "" : "is given in the units of output_crs and ") + "covers the input";
}

void MapCache::no_cell_in_region(const InputInfo& in, size_t input) {
    std::lock_guard lock(m_mutex);
    if (!m_outside.insert(input).second) {
        return;
    }
    log::warn("input '" + in.path + "'" + cells_text(in.geometry) +
              " has no cell in the output region " + region_text() +
              ": its slices are empty. If that is not meant, " + check_region_text());
}

const io::CellSet* MapCache::cells(const InputInfo& in, size_t input, int threads) {
    if (!m_compact || !io::shape_only(in.geometry)) {
        return nullptr;
    }
    try {
        const auto* pm = std::get_if<PixelMap>(&get(in, input, Resampling::Nearest, threads));
        return pm ? pm->cells.get() : nullptr;
    } catch (const ConfigError&) {
        return nullptr; // a map that cannot be made for the output: compute_slice says so
    }
}

io::Window MapCache::window(const InputInfo& in, size_t input, Resampling m, int threads) {
    const SourceMap& map = get(in, input, m, threads);
    std::lock_guard lock(m_mutex);
    return m_windows.at(&map);
}

namespace {
// An output variable that a source of the slice does not have (and no expression makes) leaves
// that input's cells of this time step empty: said per input and time step, unless no input has
// it at all (cube_vars says that once) or the slice replaces a time step of the cube that no
// source of it has the variable for (the cube's data of that step is kept: gen says so). Before,
// a product whose new version renamed a variable gave time steps without it, with exit 0 and no
// message.
void warn_missing_vars(const Slice& s, const std::vector<InputInfo>& inputs,
                       const std::vector<OutVar>& vars,
                       const std::vector<std::vector<Slab>>& data) {
    for (size_t si = 0; si < s.sources.size(); ++si) {
        std::vector<std::string> missing;
        for (size_t v = 0; v < vars.size(); ++v) {
            if (!data[v][si].empty()) {
                continue;
            }
            const auto& d = data[v];
            const bool kept = s.replace && std::all_of(d.begin(), d.end(),
                                                       [](const Slab& x) { return x.empty(); });
            const std::string& name = vars[v].input;
            const bool elsewhere =
                std::any_of(inputs.begin(), inputs.end(), [&](const InputInfo& i) {
                    return std::any_of(i.vars.begin(), i.vars.end(),
                                       [&](const io::VarInfo& x) { return x.name == name; });
                });
            if (elsewhere && !kept) {
                missing.push_back("'" + name + "'");
            }
        }
        if (missing.empty()) {
            continue;
        }
        const auto& in = inputs[s.sources[si].input];
        const char* it = missing.size() == 1 ? "it" : "them";
        log::warn("input '" + in.path + "' has no variable " + text::join(missing, ", ") +
                  " (other inputs have " + it + "): the time step " +
                  grid::time::format_iso(s.time, in.calendar) + " has no " +
                  text::join(missing, ", ") + " data from it. If the product renamed " + it +
                  ", map the new name to the old one in output_variables (NEW: OLD)");
    }
}
} // namespace

Loaded load_slice(const Slice& s, const std::vector<InputInfo>& inputs,
                  const std::vector<OutVar>& vars, const Expressions* exprs, int threads,
                  Loaded recycle, MapCache* maps) {
    Loaded L = std::move(recycle);
    L.error.clear();
    L.hint.clear();
    L.outside = false;
    L.data.resize(vars.size());
    try {
        std::vector<size_t> outside; // the sources with no cell in the output region
        for (size_t si = 0; si < s.sources.size(); ++si) {
            const auto& src = s.sources[si];
            const auto& in = inputs[src.input];
            const auto file = io::open_input(in.processor, in.path, in.params);
            bool out = false;
            const io::Window window =
                read_window(*file, in, src.input, vars, exprs != nullptr, maps, threads, out);
            if (out) {
                outside.push_back(si);
            }
            // A swath whose values are read as the cells of its compact nearest map: every value
            // of this source (variables, the expressions' inputs and flag words) is one per cell
            // of the set, in flat order, which is what the map's entries and the expressions (per
            // cell) take.
            const io::CellSet* cells = maps ? maps->cells(in, src.input, threads) : nullptr;
            if (cells && cells->count == 0) {
                cells = nullptr; // no cell in the region: read as before (nothing is used)
            }
            const size_t npix =
                cells ? cells->count : io::rows(in.geometry) * io::cols(in.geometry);
            auto read = [&](const std::string& name, Slab& buf) {
                if (!file->find(name)) {
                    buf.clear();
                    return false;
                }
                // A fresh slab (a swath's is ~80 MB) on huge pages, its pages faulted in by all
                // threads: the zero-fill by resize then only writes memory.
                reserve_touched(buf, npix, pool_for_each(threads));
                buf.resize(npix);
                if (cells) {
                    file->read_cells(name, src.step, buf.data(), pool_for_each(threads), *cells);
                } else {
                    file->read_window(name, src.step, buf.data(), pool_for_each(threads), window);
                }
                return true;
            };
            std::vector<Slab*> outs;
            for (size_t v = 0; v < vars.size(); ++v) {
                L.data[v].resize(s.sources.size());
                read(vars[v].input, L.data[v][si]);
                outs.push_back(&L.data[v][si]);
            }
            auto read_words = [&](const std::string& name, io::FlagWords& words) {
                if (!file->find(name)) {
                    return false;
                }
                if (cells) {
                    file->read_words_cells(name, src.step, words, pool_for_each(threads), *cells);
                } else {
                    file->read_words(name, src.step, words, pool_for_each(threads));
                }
                if (words.valid.size() != npix ||
                    (words.w32.size() != npix && words.w64.size() != npix)) {
                    throw InternalError("input '" + in.path + "': the flag words of '" + name +
                                        "' are not one per cell");
                }
                return true;
            };
            if (exprs) {
                exprs->apply(in.path, npix, read, read_words, outs, L.expr_scratch, threads);
            }
        }
        warn_missing_vars(s, inputs, vars, L.data);
        if (s.replace && !outside.empty() && outside.size() == s.sources.size()) {
            // They would replace the cube's data of this time step with nothing: an operator's
            // mistake (the wrong file, or region) must not empty a time step. The slice is
            // skipped like an unreadable input (exit 8; --fail-fast: exit 4).
            std::vector<std::string> paths;
            for (const size_t si : outside) {
                paths.push_back("'" + inputs[s.sources[si].input].path + "'");
            }
            throw InputError((paths.size() == 1 ? "input " : "inputs ") + text::join(paths, ", ") +
                             (paths.size() == 1 ? " has" : " have") +
                             " no cell in the output region: the cube's time step " +
                             grid::time::format_iso(s.time, inputs[s.sources[0].input].calendar) +
                             " is kept, not replaced by an empty one");
        }
        for (const size_t si : outside) {
            maps->no_cell_in_region(inputs[s.sources[si].input], s.sources[si].input);
        }
        L.outside = !outside.empty() && outside.size() == s.sources.size();
    } catch (const Error& e) {
        L.error = e.what();
        L.hint = e.hint();
    }
    return L;
}

void compute_slice(const ComputeContext& ctx, const Slice& s, const Loaded& L, ChunkSink& sink) {
    const size_t W = ctx.grid.width(), H = ctx.grid.height();
    const size_t ny = (H + ctx.cy - 1) / ctx.cy, nx = (W + ctx.cx - 1) / ctx.cx;
    const size_t per_var = ny * nx;
    const size_t tasks = ctx.vars.size() * per_var;
    // The resampling maps of the slice's sources, computed here (with all threads) when new, so
    // that the chunk tasks only look them up.
    std::vector<std::vector<const SourceMap*>> maps(ctx.vars.size());
    for (size_t v = 0; v < ctx.vars.size(); ++v) {
        for (size_t si = 0; si < s.sources.size(); ++si) {
            const size_t input = s.sources[si].input;
            maps[v].push_back(
                L.data[v][si].empty()
                    ? nullptr
                    : &ctx.maps.get(ctx.inputs[input], input, ctx.vars[v].resampling, ctx.threads));
        }
    }
    struct Buffers {
        std::vector<float> chunk, tmp;
        std::string encoded;               // reused: no allocation and zero-fill per chunk
        std::vector<unsigned char> packed; // the chunk in its stored type (packing)
    };
    std::vector<Buffers> buffers(static_cast<size_t>(std::max(ctx.threads, 1)));
    parallel_for(tasks, ctx.threads, [&](size_t task, size_t tid) {
        if ((task & 15) == 0) {
            check_interrupted();
        }
        const size_t v = task / per_var, by = (task % per_var) / nx, bx = task % nx;
        if (!in_partition(task % per_var, per_var, ctx.part, ctx.parts)) {
            return;
        }
        const auto& ov = ctx.vars[v];
        auto& b = buffers[tid];
        const size_t row0 = by * ctx.cy, nrows = std::min(ctx.cy, H - row0);
        const size_t col0 = bx * ctx.cx, ncols = std::min(ctx.cx, W - col0);
        const bool ragged = nrows < ctx.cy || ncols < ctx.cx;
        b.chunk.resize(ctx.cy * ctx.cx);
        if (ragged) {
            std::fill(b.chunk.begin(), b.chunk.end(), NaNf);
        }
        bool first = true;
        for (size_t si = 0; si < s.sources.size(); ++si) {
            const auto& data = L.data[v][si];
            if (data.empty()) {
                continue;
            }
            const size_t src_w = io::cols(ctx.inputs[s.sources[si].input].geometry);
            const SourceMap& map = *maps[v][si];
            if (first) {
                resample_block(data.data(), src_w, map, ov.resampling, row0, nrows, col0, ncols,
                               b.chunk.data(), ctx.cx);
                first = false;
                continue;
            }
            // mosaic: fill the gaps from the next source
            b.tmp.resize(ctx.cy * ctx.cx);
            resample_block(data.data(), src_w, map, ov.resampling, row0, nrows, col0, ncols,
                           b.tmp.data(), ctx.cx);
            for (size_t r = 0; r < nrows; ++r) {
                for (size_t k = r * ctx.cx; k < r * ctx.cx + ncols; ++k) {
                    if (std::isnan(b.chunk[k])) {
                        b.chunk[k] = b.tmp[k];
                    }
                }
            }
        }
        if (first) {
            // No source of this slice has the variable: nothing is written for it, so a slice
            // that replaces a time step keeps that variable's existing chunks (SPEC "Partial
            // inputs") and a new time step has none (fill).
            return;
        }
        if (std::all_of(b.chunk.begin(), b.chunk.end(), [](float x) { return std::isnan(x); })) {
            sink.put(v, by, bx, std::string_view());
            return;
        }
        if (ov.enc.identity()) {
            sink.put(v, by, bx,
                     zarr::encode_into(ov.var.meta.compressor, b.chunk.data(),
                                       b.chunk.size() * sizeof(float), sizeof(float), b.encoded,
                                       1));
            return;
        }
        const size_t item = ov.enc.itemsize();
        b.packed.resize(b.chunk.size() * item);
        encode_values(b.chunk.data(), b.chunk.size(), ov.enc, b.packed.data());
        sink.put(v, by, bx,
                 zarr::encode_into(ov.var.meta.compressor, b.packed.data(), b.packed.size(), item,
                                   b.encoded, 1));
    });
}

} // namespace baims::cube::gen
