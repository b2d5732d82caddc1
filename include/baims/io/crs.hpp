#pragma once
// The CRS of a cube on a projected grid (gen's output_crs other than EPSG:4326): what PROJ is
// given to map between it and the inputs, and what the cube stores so that CF readers (xarray),
// GDAL's Zarr driver and xcube find it (the `crs` grid-mapping variable and `_CRS`).
// No GDAL or PROJ types here.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace baims::io {

struct CubeCrs {
    std::string proj;  // what PROJ is given: "EPSG:3035", or WKT2 for a CRS without EPSG code
    std::string wkt;   // WKT1 (GDAL's form): crs_wkt, spatial_ref and `_CRS`
    std::string epsg;  // "3035", or "" when the CRS has none
    std::string name;  // "ETRS89-extended / LAEA Europe"
    std::string units; // of x/y, as CF units: "m", "km", "ft", ...
    // The attributes of the `crs` variable: grid_mapping_name and its parameters where the
    // projection has a CF name (docs/config.md lists them), the ellipsoid, crs_wkt, spatial_ref.
    nlohmann::json grid_mapping;
    // The `_CRS` attribute GDAL's Zarr driver reads: {"wkt": …, "url": …}.
    nlohmann::json gdal_crs;
};

// The cube CRS of an output_crs string (anything GDAL's SetFromUserInput takes: "EPSG:3035",
// "EPSG:32633", WKT, a PROJ string). nullopt for WGS 84 longitude/latitude (EPSG:4326, "WGS84"):
// the lat/lon cube. Throws ConfigError (message without the key) for text that is no CRS, and
// for any other geographic CRS.
std::optional<CubeCrs> parse_output_crs(const std::string& text);

// The cube CRS stored in a cube (the crs_wkt or spatial_ref of its `crs` variable). Throws
// InputError naming `where` when it cannot be read.
CubeCrs cube_crs_from_wkt(const std::string& wkt, const std::string& where);

// True when two cube CRSs are the same CRS (PROJ's equivalence, ignoring names).
bool same_crs(const CubeCrs& a, const CubeCrs& b);

} // namespace baims::io
