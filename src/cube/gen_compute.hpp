#pragma once
// gen's compute: per-input axis maps, reading a slice's source arrays, and turning a slice into
// compressed chunks (resample, mosaic, pack, compress) handed to a ChunkSink.

#include "gen_types.hpp"

#include "baims/grid/grid.hpp"

#include <map>
#include <mutex>
#include <string_view>
#include <utility>

namespace baims::cube::gen {

// Per-input axis maps, computed once per (input, method).
class AxisCache {
public:
    AxisCache(const grid::Grid& g)
        : m_grid(g)
        , m_xs(g.x_centers())
        , m_ys(g.y_centers()) {}

    const std::pair<AxisMap, AxisMap>& get(const InputInfo& in, size_t input, Resampling m) {
        std::lock_guard lock(m_mutex);
        auto key = std::make_pair(input, static_cast<int>(m));
        auto it = m_maps.find(key);
        if (it == m_maps.end()) {
            auto ym = map_axis(in.lat, m_ys, m_grid.dy(), m, false);
            auto xm = map_axis(in.lon, m_xs, m_grid.dx(), m, true);
            it = m_maps.emplace(key, std::make_pair(std::move(ym), std::move(xm))).first;
        }
        return it->second;
    }

private:
    grid::Grid m_grid;
    std::vector<double> m_xs, m_ys;
    std::mutex m_mutex;
    std::map<std::pair<size_t, int>, std::pair<AxisMap, AxisMap>> m_maps;
};

// The decoded source arrays of one slice: data[var][source] (empty when the input lacks it).
struct Loaded {
    std::vector<std::vector<std::vector<float>>> data;
    std::string error; // non-empty: the slice could not be read
};

// Reads the source arrays of slice s (on the calling thread: netCDF/HDF5 calls stay on one
// thread; decompression runs on the run's thread pool). recycle: a Loaded whose buffers are
// reused (no reallocation, no zero-fill when sizes match).
Loaded load_slice(const Slice& s, const std::vector<InputInfo>& inputs,
                  const std::vector<OutVar>& vars, int threads, Loaded recycle = {});

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
    AxisCache& axes;
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
