#pragma once
// GDAL raster helpers shared by the GDAL-based input kinds (geotiff_input.cpp,
// sentinel2_input.cpp). Internal to src/io: GDAL types appear here.

#include "baims/io/geometry.hpp"

#include <gdal.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace baims::io::gdal {

struct DatasetClose {
    void operator()(void* ds) const noexcept;
};
// An open GDAL dataset, closed when it goes out of scope.
using Dataset = std::unique_ptr<void, DatasetClose>;

// Opens a raster read-only. Throws InputError "<path>: cannot be read as a raster (<GDAL's
// reason>)".
Dataset open_raster(const std::filesystem::path& path);

// The grid of a raster: cell-centre axes from its north-up geotransform and its CRS.
struct RasterGrid {
    size_t width = 0, height = 0;
    double gt[6] = {0, 1, 0, 0, 0, 1};
    std::vector<double> x, y; // cell centres
    std::string crs;          // "EPSG:n" when GDAL identifies it, else WKT2
    std::string crs_name;     // for messages, e.g. "WGS 84 / UTM zone 33N"
    bool wgs84_geographic = false;
};

// Throws InputError (naming `path`) for a raster without a geotransform or CRS, or with a
// rotated or sheared geotransform.
RasterGrid raster_grid(GDALDatasetH ds, const std::filesystem::path& path);

// The geometry a grid gives: LatLonAxes for geographic WGS 84, else ProjectedAxes.
Geometry geometry_of(const RasterGrid& g);

// Reads band `band` (1-based) whole as float64 into `out` (width * height). Throws InputError
// naming `path` on a read failure.
void read_band(GDALDatasetH ds, int band, const std::filesystem::path& path,
               std::vector<double>& out);

// Reads integer band `band` (1-based) whole as its stored integers, exact at every width:
// width * height words, signed types sign-extended to 64 bits (two's complement). Throws
// InputError naming `path` on a read failure.
void read_band_words(GDALDatasetH ds, int band, const std::filesystem::path& path,
                     std::vector<uint64_t>& out);

// The nodata value of an integer band as a word of its type (as read_band_words gives them):
// 64-bit bands exactly; nullopt when the band has none or it is not a value of the type.
std::optional<uint64_t> nodata_word(GDALRasterBandH band);

// A signed integer type (Int16, Int32, Int64).
bool is_signed_integer(GDALDataType t);

// A Byte band holding signed bytes (-128..127): PIXELTYPE=SIGNEDBYTE in its IMAGE_STRUCTURE
// metadata (GDAL before 3.7 has no Int8 type). read_band and read_band_words give its values
// signed, nodata_word its nodata sign-extended.
bool signed_byte(GDALRasterBandH band);

// netCDF-style type name of a GDAL type ("ubyte", "ushort", "float", ...); integer storage:
// `integer` set.
std::string type_name(GDALDataType t, bool& integer);

} // namespace baims::io::gdal
