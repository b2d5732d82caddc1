#pragma once
// CF grid mappings (CF 1.11 Appendix F) to a CRS that PROJ understands.

#include "nc_file.hpp"

#include <string>
#include <vector>

namespace baims::io::nc {

struct GridMapping {
    std::string crs;      // "+proj=… +type=crs", or the WKT of crs_wkt / spatial_ref
    std::string name;     // grid_mapping_name, or the variable's name for a WKT-only mapping
    bool rotated = false; // rotated_latitude_longitude: x/y are rotated degrees
};

// The grid mappings this reader turns into a PROJ CRS from their parameters.
const std::vector<std::string>& known_grid_mappings();

// The CRS of the grid mapping variable v. The parameters of a known grid_mapping_name win over
// crs_wkt/spatial_ref (CF); without a known name, crs_wkt or spatial_ref is used as it is.
// Throws InputError naming the file and variable for an unknown grid_mapping_name without WKT,
// or a missing required parameter. Ellipsoid: earth_radius, or semi_major_axis with
// inverse_flattening or semi_minor_axis; WGS 84 when none is given (as GDAL and pyproj).
// false_easting/false_northing are metres (as GDAL and pyproj read them).
GridMapping grid_mapping_crs(const File& f, const Var& v);

} // namespace baims::io::nc
