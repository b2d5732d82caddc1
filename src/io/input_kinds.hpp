#pragma once
// The open functions of the input kinds, one per file (see baims/io/input.hpp). The table that
// names them by input_processor_name is in input.cpp.

#include "baims/io/input.hpp"

#include <filesystem>
#include <memory>

namespace baims::io {

// CF NetCDF (netcdf/cf_input.cpp): "default".
std::unique_ptr<Input> open_cf(const std::filesystem::path& path, const nlohmann::json& params);
// 2-D lat/lon swaths, NetCDF or Sentinel-3 .SEN3 (netcdf/swath_input.cpp): "curvilinear".
std::unique_ptr<Input> open_curvilinear(const std::filesystem::path& path,
                                        const nlohmann::json& params);
// GeoTIFF/COG, any GDAL raster (gdal/geotiff_input.cpp): "geotiff".
std::unique_ptr<Input> open_geotiff(const std::filesystem::path& path,
                                    const nlohmann::json& params);
// Sentinel-2 L2A SAFE products (gdal/sentinel2_input.cpp): "sentinel2-l2a".
std::unique_ptr<Input> open_sentinel2_l2a(const std::filesystem::path& path,
                                          const nlohmann::json& params);

} // namespace baims::io
