// The CRS of a projected cube (crs.hpp) through GDAL's OGRSpatialReference: parsing output_crs,
// the CF grid-mapping attributes and GDAL's `_CRS`.

#include "baims/io/crs.hpp"

#include "baims/core/error.hpp"

#include <cpl_conv.h>
#include <ogr_spatialref.h>
#include <ogr_srs_api.h>

#include <cmath>
#include <map>

namespace baims::io {
namespace {

std::string export_wkt(const OGRSpatialReference& srs, const char* format) {
    char* raw = nullptr;
    const char* options[] = {format, nullptr};
    std::string out;
    if (srs.exportToWkt(&raw, options) == OGRERR_NONE && raw) {
        out = raw;
    }
    CPLFree(raw);
    return out;
}

std::string cf_units(const OGRSpatialReference& srs) {
    const char* name = nullptr;
    const double to_metre = srs.GetLinearUnits(&name);
    if (std::abs(to_metre - 1.0) < 1e-12) {
        return "m";
    }
    if (std::abs(to_metre - 1000.0) < 1e-9) {
        return "km";
    }
    if (std::abs(to_metre - 0.3048) < 1e-12) {
        return "ft";
    }
    if (std::abs(to_metre - 1200.0 / 3937.0) < 1e-12) {
        return "US_survey_foot";
    }
    return name ? name : "m";
}

// grid_mapping_name and parameters (CF conventions, appendix F) for the projections that have a
// CF name; nothing for the others (readers then use crs_wkt / spatial_ref).
void cf_projection(const OGRSpatialReference& srs, nlohmann::json& a) {
    const char* proj = srs.GetAttrValue("PROJECTION");
    if (!proj) {
        return;
    }
    const std::string p = proj;
    auto parm = [&](const char* name, double def = 0.0) { return srs.GetProjParm(name, def); };
    auto false_en = [&] {
        a["false_easting"] = parm(SRS_PP_FALSE_EASTING);
        a["false_northing"] = parm(SRS_PP_FALSE_NORTHING);
    };
    if (p == SRS_PT_LAMBERT_AZIMUTHAL_EQUAL_AREA) {
        a["grid_mapping_name"] = "lambert_azimuthal_equal_area";
        a["longitude_of_projection_origin"] = parm(SRS_PP_LONGITUDE_OF_CENTER);
        a["latitude_of_projection_origin"] = parm(SRS_PP_LATITUDE_OF_CENTER);
        false_en();
    } else if (p == SRS_PT_TRANSVERSE_MERCATOR) {
        a["grid_mapping_name"] = "transverse_mercator";
        a["scale_factor_at_central_meridian"] = parm(SRS_PP_SCALE_FACTOR, 1.0);
        a["longitude_of_central_meridian"] = parm(SRS_PP_CENTRAL_MERIDIAN);
        a["latitude_of_projection_origin"] = parm(SRS_PP_LATITUDE_OF_ORIGIN);
        false_en();
    } else if (p == SRS_PT_LAMBERT_CONFORMAL_CONIC_2SP) {
        a["grid_mapping_name"] = "lambert_conformal_conic";
        a["standard_parallel"] = {parm(SRS_PP_STANDARD_PARALLEL_1),
                                  parm(SRS_PP_STANDARD_PARALLEL_2)};
        a["longitude_of_central_meridian"] = parm(SRS_PP_CENTRAL_MERIDIAN);
        a["latitude_of_projection_origin"] = parm(SRS_PP_LATITUDE_OF_ORIGIN);
        false_en();
    } else if (p == SRS_PT_LAMBERT_CONFORMAL_CONIC_1SP && parm(SRS_PP_SCALE_FACTOR, 1.0) == 1.0) {
        a["grid_mapping_name"] = "lambert_conformal_conic";
        a["standard_parallel"] = parm(SRS_PP_LATITUDE_OF_ORIGIN);
        a["longitude_of_central_meridian"] = parm(SRS_PP_CENTRAL_MERIDIAN);
        a["latitude_of_projection_origin"] = parm(SRS_PP_LATITUDE_OF_ORIGIN);
        false_en();
    } else if (p == SRS_PT_ALBERS_CONIC_EQUAL_AREA) {
        a["grid_mapping_name"] = "albers_conical_equal_area";
        a["standard_parallel"] = {parm(SRS_PP_STANDARD_PARALLEL_1),
                                  parm(SRS_PP_STANDARD_PARALLEL_2)};
        a["longitude_of_central_meridian"] = parm(SRS_PP_LONGITUDE_OF_CENTER);
        a["latitude_of_projection_origin"] = parm(SRS_PP_LATITUDE_OF_CENTER);
        false_en();
    } else if (p == SRS_PT_POLAR_STEREOGRAPHIC) {
        const double lat_ts = parm(SRS_PP_LATITUDE_OF_ORIGIN);
        const double k = parm(SRS_PP_SCALE_FACTOR, 1.0);
        a["grid_mapping_name"] = "polar_stereographic";
        a["straight_vertical_longitude_from_pole"] = parm(SRS_PP_CENTRAL_MERIDIAN);
        a["latitude_of_projection_origin"] = lat_ts < 0 ? -90.0 : 90.0;
        if (std::abs(lat_ts) == 90.0) {
            a["scale_factor_at_projection_origin"] = k;
        } else {
            a["standard_parallel"] = lat_ts;
        }
        false_en();
    } else if (p == SRS_PT_MERCATOR_1SP) {
        a["grid_mapping_name"] = "mercator";
        a["longitude_of_projection_origin"] = parm(SRS_PP_CENTRAL_MERIDIAN);
        a["scale_factor_at_projection_origin"] = parm(SRS_PP_SCALE_FACTOR, 1.0);
        false_en();
    } else if (p == SRS_PT_MERCATOR_2SP) {
        a["grid_mapping_name"] = "mercator";
        a["longitude_of_projection_origin"] = parm(SRS_PP_CENTRAL_MERIDIAN);
        a["standard_parallel"] = parm(SRS_PP_STANDARD_PARALLEL_1);
        false_en();
    } else if (p == SRS_PT_OBLIQUE_STEREOGRAPHIC || p == SRS_PT_STEREOGRAPHIC) {
        a["grid_mapping_name"] = "stereographic";
        a["longitude_of_projection_origin"] = parm(SRS_PP_CENTRAL_MERIDIAN);
        a["latitude_of_projection_origin"] = parm(SRS_PP_LATITUDE_OF_ORIGIN);
        a["scale_factor_at_projection_origin"] = parm(SRS_PP_SCALE_FACTOR, 1.0);
        false_en();
    }
}

CubeCrs describe(const OGRSpatialReference& srs) {
    CubeCrs c;
    c.wkt = export_wkt(srs, "FORMAT=WKT1_GDAL");
    const std::string wkt2 = export_wkt(srs, "FORMAT=WKT2_2019");
    if (c.wkt.empty()) {
        c.wkt = wkt2; // no WKT1 form: GDAL and PROJ read WKT2 as well
    }
    const char* auth = srs.GetAuthorityName(nullptr);
    const char* code = srs.GetAuthorityCode(nullptr);
    if (auth && code && std::string(auth) == "EPSG") {
        c.epsg = code;
        c.proj = "EPSG:" + c.epsg;
    } else {
        c.proj = wkt2.empty() ? c.wkt : wkt2;
    }
    const char* name = srs.GetName();
    c.name = name ? name : "";
    c.units = cf_units(srs);

    nlohmann::json a = nlohmann::json::object();
    cf_projection(srs, a);
    OGRErr err = OGRERR_NONE;
    a["semi_major_axis"] = srs.GetSemiMajor(&err);
    a["inverse_flattening"] = srs.GetInvFlattening(&err);
    a["longitude_of_prime_meridian"] = srs.GetPrimeMeridian();
    if (const char* geog = srs.GetAttrValue("GEOGCS")) {
        a["geographic_crs_name"] = geog;
    }
    if (const char* datum = srs.GetAttrValue("DATUM")) {
        a["horizontal_datum_name"] = datum;
    }
    a["projected_crs_name"] = c.name;
    a["crs_wkt"] = c.wkt;
    a["spatial_ref"] = c.wkt;
    a["_ARRAY_DIMENSIONS"] = nlohmann::json::array();
    c.grid_mapping = std::move(a);
    c.gdal_crs = {{"wkt", c.wkt}};
    if (!c.epsg.empty()) {
        c.gdal_crs["url"] = "http://www.opengis.net/def/crs/EPSG/0/" + c.epsg;
    }
    return c;
}

} // namespace

std::optional<CubeCrs> parse_output_crs(const std::string& text) {
    if (text == "EPSG:4326" || text == "epsg:4326" || text == "WGS84") {
        return std::nullopt; // the default: no PROJ database look-up
    }
    OGRSpatialReference srs;
    // No files and no network: output_crs is a definition, not a path or URL.
    if (text.empty() ||
        srs.SetFromUserInput(text.c_str(),
                             OGRSpatialReference::SET_FROM_USER_INPUT_LIMITATIONS_get()) !=
            OGRERR_NONE) {
        throw ConfigError("'" + text + "' is not a CRS GDAL/PROJ know",
                          "Give an EPSG code such as EPSG:3035, or a WKT or PROJ definition");
    }
    srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    if (srs.IsGeographic()) {
        OGRSpatialReference wgs84;
        wgs84.importFromEPSG(4326);
        const char* opts[] = {"IGNORE_DATA_AXIS_TO_SRS_AXIS_MAPPING=YES", "CRITERION=EQUIVALENT",
                              nullptr};
        if (srs.IsSame(&wgs84, opts)) {
            return std::nullopt;
        }
        const char* name = srs.GetName();
        throw ConfigError("'" + text + "' is a geographic CRS other than WGS 84 (" +
                              std::string(name ? name : "unnamed") + ")",
                          "Use EPSG:4326 for a lat/lon cube, or a projected CRS");
    }
    if (!srs.IsProjected() || srs.IsCompound()) {
        throw ConfigError("'" + text + "' is not a projected 2-D CRS",
                          "Give EPSG:4326 or a projected CRS such as EPSG:3035");
    }
    return describe(srs);
}

CubeCrs cube_crs_from_wkt(const std::string& wkt, const std::string& where) {
    OGRSpatialReference srs;
    if (wkt.empty() || srs.importFromWkt(wkt.c_str()) != OGRERR_NONE || !srs.IsProjected()) {
        throw InputError(where + " has a crs_wkt that is not a projected CRS",
                         "The cube is damaged or not made by baims; choose another output_path");
    }
    srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    return describe(srs);
}

bool same_crs(const CubeCrs& a, const CubeCrs& b) {
    if (a.wkt == b.wkt) {
        return true;
    }
    OGRSpatialReference sa, sb;
    if (sa.importFromWkt(a.wkt.c_str()) != OGRERR_NONE ||
        sb.importFromWkt(b.wkt.c_str()) != OGRERR_NONE) {
        return false;
    }
    const char* opts[] = {"IGNORE_DATA_AXIS_TO_SRS_AXIS_MAPPING=YES", "CRITERION=EQUIVALENT",
                          nullptr};
    return sa.IsSame(&sb, opts) != 0;
}

} // namespace baims::io
