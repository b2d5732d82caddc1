#pragma once
// Where the cells of an input lie: the source geometry that `gen` resamples from.
//
// Three kinds, each a plain value (comparable with ==, so that inputs on the same grid share one
// resampling map):
//   LatLonAxes     1-D latitude and longitude axes (a regular or irregular lat/lon grid). The
//                  resampler maps each axis once (separable: the fast path).
//   ProjectedAxes  1-D x and y axes in a CRS given to PROJ (projected grids: lcc, stere, tmerc,
//                  aea, laea, …; rotated-pole grids). Output pixel centres are mapped into x/y.
//   LatLon2D       2-D latitude and longitude of every cell (curvilinear swaths).
// A slab read from an input (Input::read) has rows(g) * cols(g) values, row-major: row r,
// column c is cell (r, c) of the geometry (LatLonAxes: lat[r], lon[c]; ProjectedAxes: y[r],
// x[c]; LatLon2D: lat[r * width + c], lon[r * width + c]).
// No PROJ types here: LonLatToCrs keeps them inside its implementation.

#include "baims/core/huge_pages.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace baims::io {

struct LatLonAxes {
    std::vector<double> lat; // degrees north, as stored (ascending or descending)
    std::vector<double> lon; // degrees east, as stored (may be 0..360)
    bool operator==(const LatLonAxes&) const = default;
};

struct ProjectedAxes {
    // Cell centres in the CRS's own axis units (metres for projections, after converting the
    // file's units such as km; degrees for a rotated pole), ascending or descending.
    std::vector<double> x, y;
    // What proj_create() accepts: a PROJ string ("+proj=lcc … +type=crs"), WKT or "EPSG:n".
    std::string crs;
    // For messages: e.g. "lambert_conformal_conic".
    std::string name;
    bool operator==(const ProjectedAxes&) const = default;
};

struct LatLon2D {
    size_t height = 0, width = 0;
    std::vector<double> lat, lon; // height * width each, row-major; NaN: no position
    // Or (lat and lon empty) coordinates stored as integers, e.g. OLCI's int32 with scale 1e-6,
    // kept as stored: position = packed * scale + offset in double, the same double as decoding
    // into lat/lon gives, in half the memory; PACKED_NONE: no position. Read through lat_at and
    // lon_at, which serve both forms.
    // (Not zero-filled on resize: the reader writes every element.)
    using Packed = std::vector<std::int32_t, NoInitAllocator<std::int32_t>>;
    Packed lat_packed, lon_packed;
    double lat_scale = 1, lat_offset = 0, lon_scale = 1, lon_offset = 0;
    static constexpr std::int32_t PACKED_NONE = INT32_MIN;
    // What map_swath needs from packed coordinates before its pass 1, found by the reader
    // (swath_input.cpp) while each decoded chunk is still in the cache, so that map_swath does
    // not pass over the ~160 MB of integers once more for them. Derived from lat_packed and
    // lon_packed, and valid only for them: whoever changes those arrays clears these (or
    // sets them anew). Not set (empty): map_swath looks at the arrays itself.
    //   lon_row_jump[r]: the largest |difference| of the stored longitudes (PACKED_NONE taken as
    //                    the integer it is) between a cell of row r and its right neighbour or,
    //                    for r + 1 < height, the cell below it. Rows whose jump is small cannot
    //                    hold a pair across the antimeridian (map_swath).
    std::vector<std::uint32_t> lon_row_jump;
    // (The derived fields are compared too: a LatLon2D read by the reader differs from the same
    // coordinates set by hand. Nothing compares such pairs; io::digest looks at the coordinates.)
    bool operator==(const LatLon2D&) const = default;

    bool packed() const { return !lat_packed.empty(); }
    double lat_at(size_t i) const {
        return lat_packed.empty() ? lat[i] : unpack(lat_packed[i], lat_scale, lat_offset);
    }
    double lon_at(size_t i) const {
        return lon_packed.empty() ? lon[i] : unpack(lon_packed[i], lon_scale, lon_offset);
    }
    static double unpack(std::int32_t v, double scale, double offset) {
        return v == PACKED_NONE ? std::numeric_limits<double>::quiet_NaN()
                                : static_cast<double>(v) * scale + offset;
    }
};

using Geometry = std::variant<LatLonAxes, ProjectedAxes, LatLon2D>;

// A swath's packed lat/lon (LatLon2D's lat_packed/lon_packed encoding) read a block of rows at a
// time, in order, so that a map can be built without the whole arrays in memory
// (cube::map_swath_rows). Block k is rows [k * block_rows, min(height, (k + 1) * block_rows)).
class SwathRows {
public:
    virtual ~SwathRows() = default;
    size_t height = 0, width = 0;
    size_t block_rows = 0; // > 0: the file's chunk height (each chunk inflated once), or ~512
    double lat_scale = 1, lat_offset = 0, lon_scale = 1, lon_offset = 0;
    // Block k's stored integers into lat and lon (rows * width each, masked values as
    // LatLon2D::PACKED_NONE: the integers LatLon2D::lat_packed/lon_packed would hold), and the
    // largest |difference| of two stored longitudes (PACKED_NONE taken as the integer it is)
    // among horizontal neighbours in the block and vertical neighbours in the block or across
    // its top edge (the block above's last row: blocks are read in order, 0, 1, ...) into jump.
    // False when the coordinates cannot be held packed (a valid value equals PACKED_NONE): the
    // caller then reads the whole geometry.
    virtual bool read(size_t k, std::int32_t* lat, std::int32_t* lon, std::uint32_t& jump) = 0;

protected:
    // The size, block height, scales and offsets of o (for a reader that passes o's blocks on).
    void layout_of(const SwathRows& o) {
        height = o.height;
        width = o.width;
        block_rows = o.block_rows;
        lat_scale = o.lat_scale;
        lat_offset = o.lat_offset;
        lon_scale = o.lon_scale;
        lon_offset = o.lon_offset;
    }
};

// io::digest of a swath whose packed lat/lon are fed a block of rows at a time, in order (a
// SwathRows' blocks): hex() equals io::digest of the LatLon2D whose lat_packed/lon_packed hold the
// same integers with the same scales and offsets, without the whole arrays in memory.
class SwathDigest {
public:
    explicit SwathDigest(const SwathRows& rows);
    ~SwathDigest();
    SwathDigest(const SwathDigest&) = delete;
    SwathDigest& operator=(const SwathDigest&) = delete;
    // The next n rows (n * width integers of each coordinate).
    void add(const std::int32_t* lat, const std::int32_t* lon, size_t n);
    // True once every row has been added.
    bool complete() const;
    // The digest; throws InternalError before complete().
    std::string hex() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// A SwathRows that passes on the blocks of another (its fields copied from it) and feeds each
// block it reads, in order, to a SwathDigest: cube::map_swath_rows through it gives the map and
// the swath's digest in one read.
class DigestingRows final : public SwathRows {
public:
    explicit DigestingRows(SwathRows& inner);
    bool read(size_t k, std::int32_t* lat, std::int32_t* lon, std::uint32_t& jump) override;
    // io::digest of the swath; empty unless every block was read, in order, and given packed.
    std::string digest() const;

private:
    SwathRows& m_inner;
    SwathDigest m_digest;
    size_t m_next = 0; // the block expected next
    bool m_ok = true;
};

// io::digest of the swath a new SwathRows reads (all of its blocks); empty when a block cannot be
// held packed (SwathRows::read false).
std::string digest(SwathRows& rows);

// A SwathRows that reads the first block or blocks of another (a new one) at once, for key(), and
// gives them back when they are read (then frees them), the later blocks from the other: a key
// that costs no second read of those blocks.
class HeadRows final : public SwathRows {
public:
    explicit HeadRows(SwathRows& inner);
    // A key of the swath's size, scales, offsets and first rows (at most 8): swaths of different
    // keys have different io::digests, so gen computes a swath's whole digest before building
    // its map only when another swath of its shape has its key (DigestingRows gives the digest
    // of the others as their maps are built). Empty when a first block cannot be held packed.
    const std::string& key() const { return m_key; }
    bool read(size_t k, std::int32_t* lat, std::int32_t* lon, std::uint32_t& jump) override;

private:
    struct Block {
        std::vector<std::int32_t> lat, lon;
        std::uint32_t jump = 0;
    };
    SwathRows& m_inner;
    std::vector<Block> m_blocks; // blocks 0, 1, ... read for the key, until given back
    size_t m_given = 0;          // how many of them were given back
    std::string m_key;
};

size_t rows(const Geometry& g);
size_t cols(const Geometry& g);
// A LatLon2D with its size but without its coordinates (Input::geometry_shape, or after
// release_coordinates): enough for rows, cols and describe, not for a map.
bool shape_only(const Geometry& g);
// Frees a LatLon2D's coordinate arrays (the memory, not only the size), keeping its size; the other
// kinds are left as they are (their 1-D axes are small).
void release_coordinates(Geometry& g);
// What identifies a geometry's cells: 64 hex digits of a 256-bit hash of its kind, size, CRS and
// coordinate bytes (a LatLon2D's packed integers with their scale and offset, or its doubles).
// Equal geometries have equal digests; unequal ones different digests except with a chance of
// about 2^-64 per pair (four 64-bit multiply-rotate lanes; not a cryptographic hash: inputs
// are the user's own files). gen shares one resampling map between inputs of equal digest, so
// that it keeps no large geometry (a swath's ~160 MB of lat/lon) once its map is built.
// A LatLon2D's arrays are hashed in parts of 8 MiB (in parallel with for_each, if given; the
// digest is the same either way). Throws InternalError for a shape_only geometry.
using DigestForEach = std::function<void(size_t n, const std::function<void(size_t)>& task)>;
std::string digest(const Geometry& g, const DigestForEach& for_each = {});
// For messages: "lat/lon 720x1440", "lambert_conformal_conic x/y 569x619", "2-D lat/lon 40x50".
std::string describe(const Geometry& g);

// Longitude/latitude (degrees, WGS 84) to the x/y of a CRS; or, with `from`, the x/y of the CRS
// `from` (a projected cube's output CRS) to those of `crs`. Each object owns its own PROJ
// context, so one per thread may run at once. Throws InputError when PROJ cannot build the
// transformation (the message names `crs`).
class LonLatToCrs {
public:
    explicit LonLatToCrs(const std::string& crs, const std::string& from = "EPSG:4326");
    LonLatToCrs(LonLatToCrs&&) noexcept;
    LonLatToCrs& operator=(LonLatToCrs&&) noexcept;
    ~LonLatToCrs();

    // In place: x[i], y[i] hold lon, lat (x, y of `from`) on entry and the CRS's x, y on return
    // (NaN where the point cannot be mapped). One batch call (proj_trans_generic).
    void transform(double* x, double* y, size_t n) const;
    // The inverse: x[i], y[i] hold the CRS's x, y on entry and lon, lat on return (NaN where the
    // point cannot be mapped).
    void inverse(double* x, double* y, size_t n) const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace baims::io
