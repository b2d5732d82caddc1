#include "baims/core/features.hpp"

#include <stdexcept>

namespace baims {

const std::vector<FeatureInfo>& unavailable_features() {
    static const std::vector<FeatureInfo> table = {
        {Feature::CurvilinearInput,
         "reading swaths with 2-D lat/lon (input_processor_name: curvilinear)",
         "Regrid the file to 1-D lat/lon first (for example gdalwarp -geoloc -t_srs EPSG:4326 "
         "-of netCDF) and give that to baims gen"},
        {Feature::GeoTiffInput, "GeoTIFF inputs (input_processor_name: geotiff)",
         "Convert them to CF NetCDF with 1-D lat/lon (for example gdal_translate -of netCDF) and "
         "use input_processor_name: default"},
        {Feature::Sentinel2Input, "Sentinel-2 SAFE inputs (input_processor_name: sentinel2-l2a)",
         "Use CF NetCDF inputs with 1-D lat/lon and input_processor_name: default"},
        {Feature::ProjectedOutput, "output in a CRS other than EPSG:4326 (x/y dimensions)",
         "Remove output_crs or set it to EPSG:4326; the cube's dimensions are time, lat and lon"},
        {Feature::Rechunk, "changing the chunk sizes of an existing cube in gen",
         "Rechunk the cube first with 'baims optimise CUBE --in-place --chunks lat=...,lon=...', "
         "remove output_writer_params.chunksizes (the cube keeps its own) or write to another "
         "output_path"},
        {Feature::TimeChunks, "extending a cube whose time chunks are not 1",
         "Write the cube again with time chunks of 1 (for example with xarray) or write to "
         "another output_path"},
        {Feature::ProcessedVariables, "processed_variables (derived variables)", "Remove it"},
        {Feature::ValidPixelExpression, "valid_pixel_expression (valid-pixel masking)",
         "Remove it"},
        {Feature::KeepInputAttrs, "keep_input_attrs",
         "Remove it; set the global attributes you need in output_metadata"},
        {Feature::VirtualOutput, "GDAL virtual paths other than /vsis3/ as output_path",
         "Write to a local path and copy the cube"},
    };
    return table;
}

namespace {
const FeatureInfo& info(Feature f) {
    for (const auto& e : unavailable_features()) {
        if (e.feature == f) {
            return e;
        }
    }
    throw std::logic_error("feature missing from the table of unavailable features");
}
} // namespace

std::string not_available(Feature f) {
    return info(f).what + " is not available in this version";
}

std::string instead(Feature f) {
    return info(f).instead;
}

} // namespace baims
