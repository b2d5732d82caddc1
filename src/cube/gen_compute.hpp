#pragma once
// gen's compute: per-input resampling maps, reading a slice's source arrays, and turning a slice
// into compressed chunks (resample, mosaic, pack, compress) handed to a ChunkSink.

#include "gen_expr.hpp"
#include "gen_types.hpp"

#include "baims/grid/grid.hpp"

#include <array>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string_view>
#include <utility>

namespace baims::cube::gen {

// Resampling maps (resample.hpp) per (input, method), computed once; inputs on equal geometries
// (equal io::digest) share one map. An input scanned with a shape_only geometry (a swath, without
// its 2-D lat/lon) is opened again to read its coordinates when one of its maps is built; they are
// freed when that map is done, so at most one swath's coordinates are held at a time.
class MapCache {
public:
    // out_crs: the output grid's CRS for PROJ (io::CubeCrs::proj), empty for lat/lon.
    // units: what the grid's coordinates are in, for messages ("metres of EPSG:3035"; empty:
    // degrees of longitude and latitude).
    explicit MapCache(const grid::Grid& g, std::string out_crs = {}, std::string units = {})
        : m_grid(g)
        , m_out_crs(std::move(out_crs))
        , m_units(std::move(units)) {}

    // The map of input number `input` (in) for method m; computed on first use, spread over
    // `threads` threads. Safe to call from several threads; the first call for a shape_only
    // input opens it (netCDF), so gen makes that call on its reading thread (load_slice). A map
    // that could not be made throws the same error again at every call (without reading again).
    const SourceMap& get(const InputInfo& in, size_t input, Resampling m, int threads);
    // The source cells that map reads (used_window), computed with it.
    io::Window window(const InputInfo& in, size_t input, Resampling m, int threads);
    // Swaths' nearest maps built from now on are compact (compact_nearest): gen asks for it when
    // every output variable is resampled with nearest, so that all of a swath's values are read
    // as the cells of that one map (load_slice). Off by default.
    void compact_swath_maps(bool on) { m_compact = on; }
    // The cells that input number `input`'s values are read as (its compact nearest map's), or
    // null: the whole array (not a swath, or compact_swath_maps off). Builds the map when new.
    const io::CellSet* cells(const InputInfo& in, size_t input, int threads);
    // gen is done with input number `input` (no later slice reads it): it holds its maps no
    // more. A map built from a swath's coordinates that no input holds is kept for a later input
    // on the same coordinates until get() builds a map that shares none (then it goes first);
    // the other maps stay for sharing (they are small or cheap next to a swath's). Bounds the
    // memory of a run over many swaths to the maps in use and one more.
    void release(size_t input);
    // Input number `input` (in) has no cell that its maps use: a warning, once per input, that
    // its slices are empty, naming the output region and its units, and where the input's cells
    // lie (not for a swath) (an output_region given in degrees for a projected output_crs gives
    // such a cube).
    void no_cell_in_region(const InputInfo& in, size_t input);
    // The output region and its units, for messages: "[0, 50, 5, 55], in metres of EPSG:3035
    // (…)" ("degrees of longitude and latitude" without an output_crs).
    std::string region_text() const;
    // Where an input's cells lie, for messages: " (cells at longitude a..b, latitude c..d)" or
    // " (cells at x a..b, y c..d of its <name> grid)" from its axes; for a swath " (a swath at
    // longitude a..b, latitude c..d)" from its 2-D lat/lon read again (a pass over them: for an
    // error's message only).
    std::string where_text(const InputInfo& in) const;
    // What to check when an input has no cell in it: "check that output_region [is given in
    // the units of output_crs and ]covers the input".
    std::string check_region_text() const;
    // How many times an input's geometry was read again for a map (tests).
    size_t geometry_reads() const { return m_geometry_reads; }
    // The run's inputs (gen, after the scan): an input whose kind of geometry and shape (rows,
    // columns) no other input has cannot share a map, so its io::digest (a pass over a swath's
    // ~160 MB of lat/lon) is not computed. Without this call every input's digest is.
    void set_inputs(const std::vector<InputInfo>& inputs);

private:
    // Whether an input of known digest and of the shape of number `input` may have coordinates
    // equal to its (an io::HeadRows key equal to `head`, or not known).
    bool may_share(size_t input, const std::string& head) const;

    struct Entry {
        std::string digest;
        Resampling method;
        bool swath; // built from coordinates read again (a shape_only geometry)
        std::shared_ptr<const SourceMap> map;
    };
    grid::Grid m_grid;
    std::string m_out_crs;
    std::string m_units;
    std::mutex m_mutex;
    bool m_compact = false;     // compact_swath_maps
    std::set<size_t> m_outside; // inputs warned about by no_cell_in_region
    std::map<std::pair<size_t, int>, std::shared_ptr<const SourceMap>> m_maps;
    std::map<std::pair<size_t, int>, std::exception_ptr> m_failed;
    // io::digest of each input's geometry; empty when not computed (a lone input: m_lone)
    std::map<size_t, std::string> m_digests;
    std::vector<bool> m_lone; // per input: no other input of the same kind and shape
    std::vector<std::array<size_t, 3>> m_shapes; // per input: kind, rows, columns (set_inputs)
    // io::HeadRows::key of the swaths read as blocks of packed rows (not lone ones)
    std::map<size_t, std::string> m_heads;
    std::vector<Entry> m_distinct; // one per distinct (digest, method)
    std::map<const SourceMap*, io::Window> m_windows;
    size_t m_geometry_reads = 0;
};

// The decoded source arrays of one slice: data[var][source] (empty when the input lacks it).
struct Loaded {
    std::vector<std::vector<Slab>> data;
    std::string error;              // non-empty: the slice could not be read
    std::string hint;               // what to do about it (may be empty)
    bool outside = false;           // no source of the slice has a cell in the output region
    std::vector<Slab> expr_scratch; // buffers of the expressions (gen_expr.hpp)
};

// Reads the source arrays of slice s (on the calling thread: netCDF/HDF5 calls stay on one
// thread; decompression runs on the run's thread pool). recycle: a Loaded whose buffers are
// reused (no reallocation, no zero-fill when sizes match). exprs (may be null): the
// processed_variables and valid_pixel_expressions, applied to each source as read.
// maps (may be null): each source is then read only inside the window of source cells that its
// maps for `vars` use (io::Input::read_window; the maps are computed here when new), the values
// outside it are left as they were (the expressions are per cell, the resampling reads none).
Loaded load_slice(const Slice& s, const std::vector<InputInfo>& inputs,
                  const std::vector<OutVar>& vars, const Expressions* exprs, int threads,
                  Loaded recycle = {}, MapCache* maps = nullptr);

// Where computed chunks go.
class ChunkSink {
public:
    virtual ~ChunkSink() = default;
    // bytes empty: the chunk is all fill.
    virtual void put(size_t var, size_t y, size_t x, std::string_view bytes) = 0;
};

struct ComputeContext {
    const grid::Grid& grid;
    size_t cy, cx;
    const std::vector<OutVar>& vars;
    const std::vector<InputInfo>& inputs;
    MapCache& maps;
    int threads;
    // --partition K/N (1-based; parts = 0: every chunk): only chunks whose row-major index in the
    // chunk grid lies in part K of N equal runs are computed and handed to the sink.
    size_t part = 0, parts = 0;
};

// True when chunk `index` (row-major in the chunk grid of `count` chunks) is in partition k of n.
inline bool in_partition(size_t index, size_t count, size_t k, size_t n) {
    return n == 0 || (index >= (k - 1) * count / n && index < k * count / n);
}

// Computes one slice: each task resamples one chunk of one variable straight into a chunk
// buffer, checks whether it is all NaN, compresses it and hands it to the sink (from several
// threads at once).
void compute_slice(const ComputeContext& ctx, const Slice& s, const Loaded& L, ChunkSink& sink);

} // namespace baims::cube::gen
