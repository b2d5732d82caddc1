#pragma once
// Resampling an input's source geometry (baims/io/geometry.hpp) onto the regular output grid.
// map_source() computes, once per (geometry, method), how the output samples the source (a
// SourceMap); resample_block() then fills any block of output pixels from a source slab.
//   LatLonAxes     separable: each axis is mapped once (AxisMap), then bands of output rows are
//                  filled from the source array (every method).
//   ProjectedAxes  per output pixel (PixelMap): its centre mapped through PROJ into the source x/y
//                  (resample_projected.cpp).
//   LatLon2D       per output pixel (PixelMap): the swath quads rasterised onto the output pixel
//                  centres, nothing outside the swath, no gaps inside; swaths across the
//                  antimeridian walked in 0..360 longitudes (resample_swath.cpp).
//   Both per-pixel kinds: nearest and bilinear from the output centre mapped into the source;
//   average and mode over the source cells whose centres fall inside the output pixel (each
//   source centre mapped onto the output grid), the nearest cell where none does.
// A cube on a projected grid (output_crs, io::CubeCrs) has no separable map: every geometry gets
// a PixelMap, its output pixel centres mapped from the output CRS through PROJ (out_crs below):
//   LatLonAxes     as a projected source in WGS 84 longitude/latitude (map_projected);
//   ProjectedAxes  output x/y to source x/y (map_projected);
//   LatLon2D       the swath's positions projected into the output CRS, then rasterised there.
//   average/mode map the source centres into the output CRS (no longitude wrapping there).
// NaN is "no data" everywhere.

#include "baims/core/huge_pages.hpp"
#include "baims/grid/grid.hpp"
#include "baims/io/geometry.hpp"
#include "baims/io/input.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace baims::cube {

enum class Resampling { Nearest, Bilinear, Average, Mode };

Resampling parse_resampling(const std::string& name); // throws ConfigError
std::string to_string(Resampling r);
const std::vector<std::string>& resampling_names();

// How one output axis samples one source axis.
struct AxisMap {
    // Nearest: the source index whose footprint holds the output centre, or -1.
    std::vector<std::int32_t> nearest;
    // Bilinear: value = (1-w)*v[lo] + w*v[hi]; lo = -1 outside the source footprint.
    std::vector<std::int32_t> lo, hi;
    std::vector<float> w;
    // Average / mode: for output pixel k, source cells idx[off[k]..off[k+1]) with overlap weights
    // (fractions of the output pixel; overlaps below 1e-9 of it are edges that meet, not cells).
    std::vector<std::uint32_t> off;
    std::vector<std::int32_t> idx;
    std::vector<float> wts;

    // True if no output pixel touches the source.
    bool empty() const;
};

// src: source centres (ascending or descending, need not be uniform; n >= 1).
// out: output centres; out_step: output pixel size (> 0).
// periodic: the axis is longitude; output centres may be shifted by +-360 to meet the source.
// A periodic source whose footprint spans the full circle has no edge: bilinear interpolates
// between its last and first centres across the seam (average and mode take the cells on both
// sides of it; nearest takes the cell holding the centre).
AxisMap map_axis(const std::vector<double>& src, const std::vector<double>& out, double out_step,
                 Resampling method, bool periodic);

// Fills out[nrows * out_w] (rows row0 .. row0+nrows of the output) from src (src_h x src_w,
// row-major). ymap/xmap are the row and column maps.
void resample_rows(const float* src, size_t src_w, const AxisMap& ymap, const AxisMap& xmap,
                   Resampling method, size_t row0, size_t nrows, size_t out_w, float* out);

// Fills a block of the output: rows row0..row0+nrows, columns col0..col0+ncols, written to out
// with a row stride of out_stride floats (e.g. straight into a chunk buffer).
void resample_block(const float* src, size_t src_w, const AxisMap& ymap, const AxisMap& xmap,
                    Resampling method, size_t row0, size_t nrows, size_t col0, size_t ncols,
                    float* out, size_t out_stride);

// Locates single points on one source axis with the rules of map_axis (non-periodic): built
// once, then used for many points (per-pixel maps).
class AxisLocator {
public:
    // src: source centres (ascending or descending, n >= 1); fallback_step: the cell size of a
    // one-cell axis.
    AxisLocator(const std::vector<double>& src, double fallback_step);
    // Nearest: the storage index of the cell holding x, or -1.
    std::int32_t nearest(double x) const;
    // Bilinear: false outside the footprint; else the storage indices and weight of hi.
    bool bilinear(double x, std::int32_t& lo, std::int32_t& hi, float& w) const;
    // The distance from x to the nearest edge where the result changes discontinuously: any
    // cell edge (nearest), or the footprint's ends and the nearest centre, where a weight
    // crosses 0 and a NaN neighbour drops in or out (bilinear).
    double edge_distance(double x, bool nearest) const;

    // Nearest and edge_distance(x, true) in one search.
    std::int32_t nearest(double x, double& edge_distance) const;
    // Bilinear and edge_distance(x, false) in one search (the same results; edge_distance is set
    // also outside the footprint).
    bool bilinear(double x, std::int32_t& lo, std::int32_t& hi, float& w,
                  double& edge_distance) const;
    // That for n points at once: hit[i] for x[i].
    struct Hit { // lo, hi and w only when inside
        std::int32_t lo, hi;
        float w;
        bool inside;
        double edge_distance;
    };
    void bilinear(const double* x, size_t n, Hit* hit) const;

private:
    // The sorted cell holding x (x inside the footprint).
    size_t cell(double x) const;
    std::vector<double> m_c, m_e; // centres ascending, edges
    std::vector<std::int32_t> m_perm;
    double m_inv_step = 0; // > 0: uniform cells, the first guess of cell() is arithmetic
};

// A PixelMap's per-pixel arrays: resize() leaves new entries unset (NoInitAllocator), for maps
// whose builder writes every entry (a bilinear map of 150 MB is then not zero-filled first).
template <typename T> using MapVector = std::vector<T, NoInitAllocator<T>>;

// Non-separable: one source position per output pixel (row-major over the whole output grid).
struct PixelMap {
    size_t width = 0, height = 0; // of the output grid
    // Nearest: the flat source index (row * source width + column) of each output pixel, or -1.
    MapVector<std::int32_t> nearest;
    // Bilinear: value = (1-wy)*((1-wx)*v00 + wx*v01) + wy*((1-wx)*v10 + wx*v11), with v00 at the
    // flat index lo (-1: outside the source footprint), v01 at lo + dcol, v10 at lo + drow and
    // v11 at lo + drow + dcol. step: dcol = step % 3 - 1 (-1, 0, 1 columns), drow = step / 3 - 1
    // (-1, 0, 1 rows, each times the source width). step >= 9 (a global lat/lon source onto a
    // projected grid, across its longitude seam): lo is on the last column, dcol = (step % 3 - 1)
    // times (source width - 1) (to the first column), drow = step / 3 % 3 - 1.
    MapVector<std::int32_t> lo;
    MapVector<std::uint8_t> step;
    MapVector<float> wx, wy;
    // Average / mode: the flat source indices of output pixel o are idx[off[o] .. off[o+1]), in
    // ascending order: the source cells whose centres fall inside the pixel (x in [left, right),
    // y in (bottom, top]); a pixel that holds no source centre (the output is finer than the
    // source there) has the one cell of the nearest map, or none outside the footprint.
    std::vector<std::uint32_t> off;
    std::vector<std::int32_t> idx;
    // The window used_window gives for this map, when its builder found it on the way
    // (map_projected's bilinear maps); whoever changes the entries afterwards resets it.
    std::optional<io::Window> window;
    // Set by compact_nearest: `nearest` then holds positions among these source cells (the
    // cells the map reads), and the source values it resamples are those cells' only, in flat
    // order (io::Input::read_cells), not the whole source array.
    std::shared_ptr<const io::CellSet> cells;
};

// Turns the nearest map m of a src_h x src_w source into one over the cells it reads (m.cells,
// m.window set): a swath's nearest map reads 8.9 of 19.9 M cells in bench/swath.sh, so that each
// variable's source values take 36 MB instead of 80. A map without nearest entries is left as it
// is.
void compact_nearest(PixelMap& m, size_t src_h, size_t src_w, const io::ForEach& for_each);

// The flat index (row * width + column) of the output pixel holding the point (lon, lat), or
// NO_CELL: x in [left, right) of the pixel, y in (bottom, top]; longitudes are tried as given and
// shifted by -360 and +360 (not with wrap_lon false: x/y of a projected output grid).
constexpr std::uint32_t NO_CELL = 0xffffffffu;
std::uint32_t output_cell(const grid::Grid& out, double lon, double lat, bool wrap_lon = true);

// Turns a nearest PixelMap m into an average/mode map: cell[i] is the output pixel
// (output_cell) of source cell i, or NO_CELL. m.nearest is consumed (left empty). Throws
// InputError when the lists would hold 2^32 entries or more.
void set_cell_lists(PixelMap& m, const std::vector<std::uint32_t>& cell);

struct SeparableMap {
    AxisMap y, x;
};

using SourceMap = std::variant<SeparableMap, PixelMap>;

// How the output grid `out` samples the source geometry `g` with `method`. for_each may spread the
// work over threads. out_crs: the output grid's CRS as PROJ takes it (io::CubeCrs::proj); empty
// for WGS 84 longitude/latitude (the lat/lon cube). Throws ConfigError for a method the
// geometry does not support, InputError for a geometry that cannot be mapped (e.g. PROJ rejects
// its CRS).
SourceMap map_source(const io::Geometry& g, const grid::Grid& out, Resampling method,
                     const io::ForEach& for_each, const std::string& out_crs = {});

// The source cells `map` reads (the resample_block of any output block reads no others), as a
// window of the src_h x src_w source array; empty when no output pixel touches the source.
// for_each may spread the work over threads.
io::Window used_window(const SourceMap& map, size_t src_h, size_t src_w,
                       const io::ForEach& for_each);

// The PixelMap of a projected source (resample_projected.cpp); out_crs as for map_source.
PixelMap map_projected(const io::ProjectedAxes& src, const grid::Grid& out, Resampling method,
                       const io::ForEach& for_each, const std::string& out_crs = {});

// The source x/y of the output pixel centres (lons[c], lat) of one row (a projected source's
// bilinear map, resample_projected.cpp), with few exact transforms: exact at nodes every 64th
// pixel and at the midpoints between them; in between, each interval takes the cubic through
// the four nearest nodes when it is within tol/2 source pixels (x / x_step, y / y_step) of the
// exact midpoint, else it is split in halves (nodes every 32nd pixel, ...) down to intervals
// under 16 pixels, which are projected exactly, as are intervals touching a point PROJ cannot map
// (NaN). The largest error of such a cubic on an interval is near its midpoint, so every
// position is within ~tol of the exact one (measured: tests/unit/cube/test_resample.cpp).
// tol <= 0: every pixel exact.
struct RowPositions {
    std::vector<double> x, y;        // per pixel of the row
    std::vector<std::uint8_t> exact; // 1 where x, y are PROJ's own
    std::vector<size_t> queue;       // scratch
    std::vector<double> qx, qy;      // scratch
};
// The tolerance of map_projected's bilinear rows (source pixels).
inline constexpr double ROW_TOL = 1e-6;
void project_row_positions(const io::LonLatToCrs& to_src, const std::vector<double>& lons,
                           double lat, double x_step, double y_step, double tol, RowPositions& r);

// Turns the nearest PixelMap m of a projected source into its average/mode map (every source centre
// mapped onto the output grid, then set_cell_lists; resample_projected.cpp).
void set_projected_cells(PixelMap& m, const io::ProjectedAxes& src, const grid::Grid& out,
                         const io::ForEach& for_each, const std::string& out_crs = {});

// The PixelMap of a curvilinear source (resample_swath.cpp); out_crs as for map_source.
PixelMap map_swath(const io::LatLon2D& src, const grid::Grid& out, Resampling method,
                   const io::ForEach& for_each, const std::string& out_crs = {});

// map_swath of the swath whose packed lat/lon `rows` reads (a block of rows at a time, from its
// first block: a new reader each call), without the whole arrays in memory: the same map as
// map_swath of the whole LatLon2D. nullopt when this path does not apply and map_swath must
// build the map from the whole geometry: a projected output, average or mode, an empty map, a
// swath across the antimeridian (neighbours more than 180 degrees of longitude apart: taken
// conservatively, its stored longitudes differing by more than ~90 degrees is enough), pass 1
// claims that need pass 2 (bilinear when two bands of a round looked at the same pixels, nearest
// when a claim found no nearest cell or the swath is too large for keys), or coordinates the
// reader cannot give packed.
std::optional<PixelMap> map_swath_rows(io::SwathRows& rows, const grid::Grid& out,
                                       Resampling method, const io::ForEach& for_each,
                                       const std::string& out_crs = {});

namespace detail {
// Test hook of resample_swath.cpp: the bilinear weights (s, t), clamped to [0, 1], of points
// p[2 i], p[2 i + 1] in the quads whose corners (a, b, c, d: the swath cells (r, c), (r, c + 1),
// (r + 1, c), (r + 1, c + 1)) are corners[8 i .. 8 i + 7] as x, y pairs, for i < n, as pass 1
// computes them after each row of quads: with the AVX2 kernel (four at a time; the scalar code
// for the lanes it leaves) when avx2 is true and the CPU has AVX2 (whatever BAIMS_SWATH_AVX2
// says), else with the scalar code. Returns how many of the n the AVX2 kernel answered.
size_t swath_weights(const double* corners, const double* p, size_t n, bool avx2, double* s,
                     double* t);
// Test hook of resample_swath.cpp: pass 1's pre-scan of a row of nq quads (quad_boxes), with
// AVX2 when avx2 is true and the CPU has it, else with SSE2 and scalar code: the quads' rounded
// bounds into qb[4 nq], the candidates into cand (nq entries); returns their number.
size_t swath_quad_boxes(const double* cu, const double* fu, const double* cv, const double* fv,
                        size_t nc, size_t nq, bool shifts, double oh1, double ow1, bool avx2,
                        double* qb, std::uint32_t* cand);
// Test hooks of resample_swath.cpp's per-claim kernels, from the AVX2 copy of the walk
// (resample_swath_avx2.cpp) when avx2 is true and that copy exists and the CPU has AVX2, else
// from the baseline copy (SSE2): the two must give the same answers.
// The keyed nearest search: n (0..15) of the first of the 4x4 cells x[j * stride + k],
// y[j * stride + k] (n = j * 4 + k) nearest to (px, py) with longitude scale kx; -1 when none
// has a distance below +inf.
int swath_nearest16(const double* x, const double* y, size_t stride, double px, double py,
                    double kx, bool avx2);
// The convex-hull pre-test of point (px, py) against the quad with corners a, b, c, d
// (corners[0 .. 8) as x, y pairs) of the given size: 0 outside, 1 maybe, 2 inside.
int swath_hull(const double* corners, double size, double px, double py, bool avx2);
// The decoding of n packed positions (v * scale + offset, PACKED_NONE as NaN) into out.
void swath_unpack(const std::int32_t* p, size_t n, double scale, double offset, bool avx2,
                  double* out);
// Pass 1's per-cell set-up of one row of nc cells at (x[j], y[j]) for the output extent's ymax,
// xmin and pixel size dy, dx: u = (ymax - y) / dy - 0.5, v = (x - xmin) / dx - 0.5 of each cell
// rounded down and up into fu, cu, fv, cv; the positions as x, y pairs into ps[2 nc]; odd set when
// some |u| or |v| is not below 1e300 (or NaN), bx0 and bx1 lowered and raised to the least and
// greatest x (NaN aside).
void swath_cell_row(const double* x, const double* y, size_t nc, double ymax, double xmin,
                    double dy, double dx, bool avx2, double* ps, double* fu, double* cu, double* fv,
                    double* cv, bool& odd, double& bx0, double& bx1);
// Whether the AVX2 copy of the walk is built in and the CPU has AVX2 (the hooks above compare
// something only then).
bool swath_avx2_copy();
} // namespace detail

// resample_block over any SourceMap; src is a slab of src_w columns (io::cols of the geometry).
void resample_block(const float* src, size_t src_w, const SourceMap& map, Resampling method,
                    size_t row0, size_t nrows, size_t col0, size_t ncols, float* out,
                    size_t out_stride);

} // namespace baims::cube
