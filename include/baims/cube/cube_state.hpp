#pragma once
// What a cube on disk holds, as far as `gen` needs it: grid, chunking, time axis, data variables
// and attributes. read_cube() reads it from any Zarr v2 cube with 1-D lat/lon (ours or xcube's)
// or with 1-D y/x and a `crs` grid-mapping variable holding crs_wkt (a projected cube of baims);
// write_cube_metadata() writes coordinates and metadata, consolidated metadata last.

#include "baims/grid/grid.hpp"
#include "baims/grid/time.hpp"
#include "baims/io/crs.hpp"
#include "baims/zarr/array_meta.hpp"
#include "baims/zarr/kv_store.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace baims::cube {

struct DataVar {
    zarr::ArrayMeta meta; // shape [nt, H, W], chunks [1, cy, cx]
    nlohmann::json attrs = nlohmann::json::object();
};

struct CubeState {
    grid::Grid grid;
    // nullopt: WGS 84 lat/lon (dims lat, lon); else the projected CRS of the grid (dims y, x;
    // grid extent in its units).
    std::optional<io::CubeCrs> crs;
    size_t chunk_y = 0, chunk_x = 0;
    std::vector<double> time; // days since 1970-01-01 of `calendar`
    grid::time::Calendar calendar = grid::time::Calendar::Gregorian; // of every slice
    std::vector<std::pair<double, double>> bounds; // NaN where unknown; empty = no time_bnds
    std::vector<std::string> var_order;
    std::map<std::string, DataVar> vars;
    nlohmann::json attrs = nlohmann::json::object(); // global attributes
    std::string time_bnds_dtype = "<f8";             // kept from an existing cube (xcube: <i8)
    // What made each time step (.baims-sources.json): per time index null (unknown: a cube made
    // elsewhere or before baims recorded it) or {"recipe": "<hex>", "inputs": [fingerprint with
    // "step", ...]}. Empty or of size nt().
    std::vector<nlohmann::json> sources;

    size_t nt() const { return time.size(); }
    // The names of the row and column dimensions: lat/lon, or y/x on a projected grid.
    const char* ydim() const { return crs ? "y" : "lat"; }
    const char* xdim() const { return crs ? "x" : "lon"; }
    bool has_bounds() const { return !bounds.empty(); }

    nlohmann::json to_json() const;
    static CubeState from_json(const nlohmann::json& j);
};

// nullopt when the store holds no Zarr group. Throws InputError for a cube gen cannot extend.
std::optional<CubeState> read_cube(const zarr::KvStore& store);

// The file beside the Zarr metadata that records the inputs of each time step (not a Zarr key:
// Zarr readers ignore it).
inline const std::string SOURCES_FILE = ".baims-sources.json";

// Writes .zgroup/.zattrs, every array's .zarray/.zattrs, the coordinate arrays (lat, lon,
// lat_bnds, lon_bnds, time, time_bnds, crs), .baims-sources.json and .zmetadata, in an order after
// every prefix of which the cube opens with consolidated metadata (see the .cpp). Data chunks are
// not touched.
void write_cube_metadata(zarr::KvStore& store, const CubeState& state);

// Replaces .baims-sources.json (atomically) with one record per time step.
void write_sources(zarr::KvStore& store, const std::vector<nlohmann::json>& sources);

// The update that changes no data, only the records of what made the steps (new mtimes, input
// attributes taken later): .baims-sources.json when `next`'s records differ from `cur`'s, then
// the root attributes (with .zmetadata) when they differ (input_attrs, derived from the records).
// Each file is replaced atomically, records first: a run cut off between the two leaves
// attributes that the next such update brings in line.
void write_records_update(zarr::KvStore& store, const CubeState& cur, const CubeState& next);

// Reads a small numeric array (any chunking, dtype f4/f8/i2/i4/i8) into doubles, C order.
std::vector<double> read_numeric_array(const zarr::KvStore& store, const std::string& name);

// The `_CRS` attribute GDAL reads, and the CF grid-mapping attributes, for EPSG:4326 (crs
// nullopt) or a projected CRS.
nlohmann::json gdal_crs_attr(const std::optional<io::CubeCrs>& crs = std::nullopt);
nlohmann::json cf_grid_mapping_attrs(const std::optional<io::CubeCrs>& crs = std::nullopt);

} // namespace baims::cube
