// CF grid mappings to PROJ strings.

#include "cf_grid_mapping.hpp"

#include "baims/core/error.hpp"
#include "baims/core/text.hpp"

#include <cstdio>
#include <optional>

namespace baims::io::nc {
namespace {

// Shortest exact text of a double for a PROJ string.
std::string num(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", x);
    return buf;
}

class Params {
public:
    Params(const File& f, const Var& v)
        : m_f(f)
        , m_v(v) {}

    std::optional<std::vector<double>> numbers(const char* name) const {
        return attr_numbers(m_f, m_v.id, name);
    }
    std::optional<double> one(const char* name) const {
        auto n = numbers(name);
        if (n && !n->empty()) {
            return (*n)[0];
        }
        return std::nullopt;
    }
    double required(const char* name) const {
        auto x = one(name);
        if (!x) {
            throw InputError(
                prefix(m_f.path()) + ": grid mapping '" + m_v.name + "' (" +
                    attr_text(m_f, m_v.id, "grid_mapping_name").value_or("") + ") has no " + name,
                "Add the CF attribute " + std::string(name) + " to the grid mapping variable");
        }
        return *x;
    }
    double or_zero(const char* name) const { return one(name).value_or(0.0); }
    // The first of several names that is present, else `fallback`.
    std::optional<double> first(std::initializer_list<const char*> names) const {
        for (const char* n : names) {
            if (auto x = one(n)) {
                return x;
            }
        }
        return std::nullopt;
    }

    std::string ellipsoid() const {
        if (auto r = one("earth_radius")) {
            return " +R=" + num(*r);
        }
        if (auto a = one("semi_major_axis")) {
            if (auto rf = one("inverse_flattening"); rf && *rf != 0) {
                return " +a=" + num(*a) + " +rf=" + num(*rf);
            }
            if (auto b = one("semi_minor_axis")) {
                return " +a=" + num(*a) + " +b=" + num(*b);
            }
            return " +R=" + num(*a);
        }
        return " +datum=WGS84";
    }
    std::string false_origin() const {
        return " +x_0=" + num(or_zero("false_easting")) + " +y_0=" + num(or_zero("false_northing"));
    }

private:
    const File& m_f;
    const Var& m_v;
};

} // namespace

const std::vector<std::string>& known_grid_mappings() {
    static const std::vector<std::string> names{
        "rotated_latitude_longitude", "lambert_conformal_conic",   "polar_stereographic",
        "transverse_mercator",        "albers_conical_equal_area", "lambert_azimuthal_equal_area"};
    return names;
}

GridMapping grid_mapping_crs(const File& f, const Var& v) {
    const Params p(f, v);
    const std::string name =
        text::to_lower(text::trim(attr_text(f, v.id, "grid_mapping_name").value_or("")));
    GridMapping g;
    g.name = name;
    std::string s;
    if (name == "rotated_latitude_longitude") {
        g.rotated = true;
        const double pole_lat = p.required("grid_north_pole_latitude");
        const double pole_lon = p.required("grid_north_pole_longitude");
        s = "+proj=ob_tran +o_proj=longlat +o_lon_p=" +
            num(p.one("north_pole_grid_longitude").value_or(0.0)) + " +o_lat_p=" + num(pole_lat) +
            " +lon_0=" + num(180.0 + pole_lon) + p.ellipsoid();
    } else if (name == "lambert_conformal_conic") {
        auto sp = p.numbers("standard_parallel");
        if (!sp || sp->empty()) {
            p.required("standard_parallel");
        }
        s = "+proj=lcc +lat_0=" + num(p.required("latitude_of_projection_origin")) +
            " +lon_0=" + num(p.required("longitude_of_central_meridian")) +
            " +lat_1=" + num((*sp)[0]) + " +lat_2=" + num(sp->size() > 1 ? (*sp)[1] : (*sp)[0]);
        if (auto k = p.one("scale_factor_at_projection_origin")) {
            s += " +k_0=" + num(*k);
        }
        s += p.false_origin() + p.ellipsoid();
    } else if (name == "polar_stereographic") {
        s = "+proj=stere +lat_0=" + num(p.required("latitude_of_projection_origin")) + " +lon_0=" +
            num(p.first({"straight_vertical_longitude_from_pole", "longitude_of_projection_origin"})
                    .value_or(0.0));
        if (auto ts = p.one("standard_parallel")) {
            s += " +lat_ts=" + num(*ts);
        } else {
            s += " +k_0=" + num(p.one("scale_factor_at_projection_origin").value_or(1.0));
        }
        s += p.false_origin() + p.ellipsoid();
    } else if (name == "transverse_mercator") {
        s = "+proj=tmerc +lat_0=" + num(p.or_zero("latitude_of_projection_origin")) +
            " +lon_0=" + num(p.required("longitude_of_central_meridian")) +
            " +k_0=" + num(p.one("scale_factor_at_central_meridian").value_or(1.0)) +
            p.false_origin() + p.ellipsoid();
    } else if (name == "albers_conical_equal_area") {
        auto sp = p.numbers("standard_parallel");
        if (!sp || sp->empty()) {
            p.required("standard_parallel");
        }
        s = "+proj=aea +lat_0=" + num(p.or_zero("latitude_of_projection_origin")) +
            " +lon_0=" + num(p.required("longitude_of_central_meridian")) +
            " +lat_1=" + num((*sp)[0]) + " +lat_2=" + num(sp->size() > 1 ? (*sp)[1] : (*sp)[0]) +
            p.false_origin() + p.ellipsoid();
    } else if (name == "lambert_azimuthal_equal_area") {
        s = "+proj=laea +lat_0=" + num(p.required("latitude_of_projection_origin")) +
            " +lon_0=" + num(p.required("longitude_of_projection_origin")) + p.false_origin() +
            p.ellipsoid();
    } else {
        for (const char* wkt_name : {"crs_wkt", "spatial_ref"}) {
            if (auto wkt = attr_text(f, v.id, wkt_name); wkt && !text::trim(*wkt).empty()) {
                g.crs = *wkt;
                g.name = name.empty() ? v.name : name;
                return g;
            }
        }
        const std::string guess = text::did_you_mean(name, known_grid_mappings());
        throw InputError(prefix(f.path()) + ": grid mapping '" + v.name + "' has " +
                             (name.empty() ? std::string("no grid_mapping_name")
                                           : "grid_mapping_name '" + name + "'") +
                             (guess.empty() ? "" : " (did you mean '" + guess + "'?)") +
                             " and no crs_wkt or spatial_ref",
                         "Known grid mappings: " + text::join(known_grid_mappings(), ", "));
    }
    g.crs = s + " +no_defs +type=crs";
    return g;
}

} // namespace baims::io::nc
