#include "raster.hpp"

#include "baims/core/error.hpp"
#include "baims/io/gdal.hpp"

#include <cpl_conv.h>
#include <ogr_srs_api.h>

#include <cmath>

namespace baims::io::gdal {

void DatasetClose::operator()(void* ds) const noexcept {
    if (ds) {
        GDALClose(static_cast<GDALDatasetH>(ds));
    }
}

Dataset open_raster(const std::filesystem::path& path) {
    register_drivers();
    ErrorScope errors;
    Dataset ds(
        GDALOpenEx(path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY, nullptr, nullptr, nullptr));
    if (!ds) {
        const auto why = errors.first_error();
        throw InputError(path.string() + ": cannot be read as a raster" +
                             (why.empty() ? std::string() : " (" + why + ")"),
                         "Check that the file exists and is a GeoTIFF/JPEG 2000 that GDAL reads");
    }
    return ds;
}

RasterGrid raster_grid(GDALDatasetH ds, const std::filesystem::path& path) {
    RasterGrid g;
    g.width = static_cast<size_t>(GDALGetRasterXSize(ds));
    g.height = static_cast<size_t>(GDALGetRasterYSize(ds));
    if (GDALGetGeoTransform(ds, g.gt) != CE_None) {
        throw InputError(path.string() + ": the raster has no geotransform",
                         "Give a georeferenced raster (GeoTIFF tags or a .aux.xml/world file)");
    }
    if (g.gt[2] != 0.0 || g.gt[4] != 0.0) {
        throw InputError(path.string() + ": the geotransform is rotated or sheared (" +
                             std::to_string(g.gt[2]) + ", " + std::to_string(g.gt[4]) + ")",
                         "Warp it to a north-up grid first (gdalwarp)");
    }
    if (!(g.gt[1] > 0.0) || g.gt[5] == 0.0) {
        throw InputError(path.string() + ": the geotransform has a zero or negative pixel width",
                         "Warp it to a north-up grid first (gdalwarp)");
    }
    OGRSpatialReferenceH srs = GDALGetSpatialRef(ds);
    if (!srs) {
        throw InputError(path.string() + ": the raster has no CRS",
                         "Assign one first (gdal_edit.py -a_srs EPSG:n)");
    }
    const char* name = OSRGetName(srs);
    g.crs_name = name ? name : "";
    const char* auth = OSRGetAuthorityName(srs, nullptr);
    const char* code = OSRGetAuthorityCode(srs, nullptr);
    if (auth && code && std::string(auth) == "EPSG") {
        g.crs = std::string("EPSG:") + code;
        g.wgs84_geographic = OSRIsGeographic(srs) && std::string(code) == "4326";
    } else {
        char* wkt = nullptr;
        const char* options[] = {"FORMAT=WKT2_2019", nullptr};
        if (OSRExportToWktEx(srs, &wkt, options) != OGRERR_NONE || !wkt) {
            CPLFree(wkt);
            throw InputError(path.string() + ": the raster's CRS cannot be written as WKT",
                             "Assign an EPSG CRS first (gdal_edit.py -a_srs EPSG:n)");
        }
        g.crs = wkt;
        CPLFree(wkt);
        if (OSRIsGeographic(srs)) {
            OGRSpatialReferenceH wgs84 = OSRNewSpatialReference(nullptr);
            OSRImportFromEPSG(wgs84, 4326);
            const char* opts[] = {"IGNORE_DATA_AXIS_TO_SRS_AXIS_MAPPING=YES", nullptr};
            g.wgs84_geographic = OSRIsSameEx(srs, wgs84, opts) != 0;
            OSRDestroySpatialReference(wgs84);
        }
    }
    g.x.resize(g.width);
    g.y.resize(g.height);
    for (size_t c = 0; c < g.width; ++c) {
        g.x[c] = g.gt[0] + (static_cast<double>(c) + 0.5) * g.gt[1];
    }
    for (size_t r = 0; r < g.height; ++r) {
        g.y[r] = g.gt[3] + (static_cast<double>(r) + 0.5) * g.gt[5];
    }
    return g;
}

Geometry geometry_of(const RasterGrid& g) {
    if (g.wgs84_geographic) {
        return LatLonAxes{g.y, g.x};
    }
    return ProjectedAxes{g.x, g.y, g.crs, g.crs_name};
}

namespace {

// Band `band` whole into `out` as `type` (width * height values).
void read_band_as(GDALDatasetH ds, int band, const std::filesystem::path& path, void* out,
                  GDALDataType type) {
    const int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    ErrorScope errors;
    GDALRasterBandH b = GDALGetRasterBand(ds, band);
    if (!b || GDALRasterIO(b, GF_Read, 0, 0, w, h, out, w, h, type, 0, 0) != CE_None) {
        throw InputError(path.string() + ": band " + std::to_string(band) + " cannot be read (" +
                             errors.first_error() + ")",
                         "Check that the file is complete");
    }
}

size_t band_size(GDALDatasetH ds) {
    return static_cast<size_t>(GDALGetRasterXSize(ds)) *
           static_cast<size_t>(GDALGetRasterYSize(ds));
}

} // namespace

void read_band(GDALDatasetH ds, int band, const std::filesystem::path& path,
               std::vector<double>& out) {
    out.resize(band_size(ds));
    read_band_as(ds, band, path, out.data(), GDT_Float64);
    GDALRasterBandH b = GDALGetRasterBand(ds, band);
    if (b && signed_byte(b)) {
        for (double& v : out) {
            v = v > 127.0 ? v - 256.0 : v; // GDAL gives the stored byte as 0..255
        }
    }
}

void read_band_words(GDALDatasetH ds, int band, const std::filesystem::path& path,
                     std::vector<uint64_t>& out) {
    out.resize(band_size(ds));
    GDALRasterBandH b = GDALGetRasterBand(ds, band);
    // Int64 words are the same 64 bits as their two's complement uint64.
    const bool is_signed = b && is_signed_integer(GDALGetRasterDataType(b));
    read_band_as(ds, band, path, out.data(), is_signed ? GDT_Int64 : GDT_UInt64);
    if (b && signed_byte(b)) {
        for (uint64_t& w : out) { // GDAL gives the stored byte as 0..255: sign-extended here
            w = static_cast<uint64_t>(
                static_cast<int64_t>(static_cast<int8_t>(static_cast<uint8_t>(w))));
        }
    }
}

bool is_signed_integer(GDALDataType t) {
    return t == GDT_Int16 || t == GDT_Int32 || t == GDT_Int64;
}

bool signed_byte(GDALRasterBandH band) {
    if (GDALGetRasterDataType(band) != GDT_Byte) {
        return false;
    }
    const char* p = GDALGetMetadataItem(band, "PIXELTYPE", "IMAGE_STRUCTURE");
    return p && std::string(p) == "SIGNEDBYTE";
}

std::optional<uint64_t> nodata_word(GDALRasterBandH band) {
    int has = 0;
    const GDALDataType t = GDALGetRasterDataType(band);
    if (t == GDT_UInt64) {
        const uint64_t v = GDALGetRasterNoDataValueAsUInt64(band, &has);
        return has ? std::optional<uint64_t>(v) : std::nullopt;
    }
    if (t == GDT_Int64) {
        const int64_t v = GDALGetRasterNoDataValueAsInt64(band, &has);
        return has ? std::optional<uint64_t>(static_cast<uint64_t>(v)) : std::nullopt;
    }
    const double v = GDALGetRasterNoDataValue(band, &has);
    double lo = 0.0, hi = 0.0;
    switch (t) {
    case GDT_Byte:
        lo = signed_byte(band) ? -128.0 : 0.0;
        hi = signed_byte(band) ? 127.0 : 255.0;
        break;
    case GDT_UInt16:
        hi = 65535.0;
        break;
    case GDT_Int16:
        lo = -32768.0;
        hi = 32767.0;
        break;
    case GDT_UInt32:
        hi = 4294967295.0;
        break;
    case GDT_Int32:
        lo = -2147483648.0;
        hi = 2147483647.0;
        break;
    default:
        return std::nullopt;
    }
    if (!has || !(v >= lo && v <= hi) || v != std::floor(v)) {
        return std::nullopt;
    }
    return static_cast<uint64_t>(static_cast<int64_t>(v));
}

std::string type_name(GDALDataType t, bool& integer) {
    integer = true;
    switch (t) {
    case GDT_Byte:
        return "ubyte";
    case GDT_UInt16:
        return "ushort";
    case GDT_Int16:
        return "short";
    case GDT_UInt32:
        return "uint";
    case GDT_Int32:
        return "int";
    case GDT_UInt64:
        return "uint64";
    case GDT_Int64:
        return "int64";
    case GDT_Float64:
        integer = false;
        return "double";
    default:
        integer = false;
        return "float";
    }
}

} // namespace baims::io::gdal
