// The curvilinear input (input_processor_name "curvilinear"): swaths with 2-D latitude/longitude
// of every cell (LatLon2D), from
//   - one NetCDF file with lat(y,x)/lon(y,x): named by input_processor_params.xy_names
//     ([lon, lat]), else found by standard_name/units/name (latitude, degrees_north, lat, ...);
//   - a Sentinel-3 .SEN3 folder: geo_coordinates.nc (latitude/longitude(rows,columns)) and every
//     other *.nc of the folder with variables on the same (rows, columns), e.g. chl_nn.nc, wqsf.nc.
// Times, variables and decoding are the CF reader's (CfInput::open_on_dims): the time comes from
// the time coordinate or the coverage attributes (start_date/stop_date, start_time/stop_time, ...)
// of the NetCDF file or of geo_coordinates.nc; the slice time is the middle of the range.

#include "../input_kinds.hpp"
#include "nc_file.hpp"

#include "baims/core/error.hpp"
#include "baims/core/text.hpp"
#include "baims/io/cf_input.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace baims::io {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

// 0: not a coordinate; 1 latitude, 2 longitude.
int axis_of(const nc::File& f, const nc::Var& v) {
    const auto sn = lower(nc::attr_text(f, v.id, "standard_name").value_or(""));
    const auto units = lower(nc::attr_text(f, v.id, "units").value_or(""));
    const auto name = lower(v.name);
    if (sn == "latitude" || units == "degrees_north" || units == "degree_north" || name == "lat" ||
        name == "latitude") {
        return 1;
    }
    if (sn == "longitude" || units == "degrees_east" || units == "degree_east" || name == "lon" ||
        name == "longitude") {
        return 2;
    }
    return 0;
}

// A 2-D coordinate in double: scale_factor/add_offset applied, _FillValue and values outside
// valid_min/valid_max -> NaN.
std::vector<double> read_2d(const nc::File& f, const nc::Var& v, size_t n) {
    std::vector<double> out(n);
    f.check(nc_get_var_double(f.id(), v.id, out.data()), "reading '" + v.name + "'");
    const auto one = [&](const char* name, double fallback) {
        auto values = nc::attr_numbers(f, v.id, name);
        return values && values->size() == 1 ? (*values)[0] : fallback;
    };
    const double fill = one("_FillValue", std::numeric_limits<double>::quiet_NaN());
    const double scale = one("scale_factor", 1.0), offset = one("add_offset", 0.0);
    const double inf = std::numeric_limits<double>::infinity();
    double vmin = one("valid_min", -inf), vmax = one("valid_max", inf);
    if (auto range = nc::attr_numbers(f, v.id, "valid_range"); range && range->size() == 2) {
        vmin = (*range)[0];
        vmax = (*range)[1];
    }
    for (auto& x : out) {
        x = (x == fill || x < vmin || x > vmax) ? std::numeric_limits<double>::quiet_NaN()
                                                : x * scale + offset;
    }
    return out;
}

struct Coords {
    LatLon2D geometry;
    std::string lat_name, lon_name, row_dim, col_dim;
};

// The 2-D lat/lon of `path`. xy: [lon name, lat name] or empty.
Coords find_coords(const fs::path& path, const std::vector<std::string>& xy) {
    const auto file = nc::File::open(path);
    const auto dims = nc::dims(file);
    const auto vars = nc::vars(file);
    const nc::Var* lat = nullptr;
    const nc::Var* lon = nullptr;
    for (const auto& v : vars) {
        if (!xy.empty()) {
            if (v.name == xy[1]) {
                lat = &v;
            } else if (v.name == xy[0]) {
                lon = &v;
            }
            continue;
        }
        if (v.dims.size() != 2) {
            continue;
        }
        const int axis = axis_of(file, v);
        if (axis == 1 && !lat) {
            lat = &v;
        } else if (axis == 2 && !lon) {
            lon = &v;
        }
    }
    if (!lat || !lon || lat->dims.size() != 2 || lat->dims != lon->dims) {
        std::string what;
        if (!xy.empty()) {
            what = "no 2-D variables '" + xy[0] + "' and '" + xy[1] +
                   "' (input_processor_params.xy_names) on the same dimensions";
        } else {
            what = "no 2-D latitude/longitude variables (lat(y,x) and lon(y,x))";
        }
        throw InputError(nc::prefix(path) + ": " + what,
                         "The curvilinear processor needs 2-D lat/lon; use "
                         "input_processor_name: default for 1-D lat/lon grids");
    }
    Coords c;
    c.lat_name = lat->name;
    c.lon_name = lon->name;
    c.row_dim = dims[static_cast<size_t>(lat->dims[0])].name;
    c.col_dim = dims[static_cast<size_t>(lat->dims[1])].name;
    c.geometry.height = dims[static_cast<size_t>(lat->dims[0])].len;
    c.geometry.width = dims[static_cast<size_t>(lat->dims[1])].len;
    const size_t n = c.geometry.height * c.geometry.width;
    c.geometry.lat = read_2d(file, *lat, n);
    c.geometry.lon = read_2d(file, *lon, n);
    return c;
}

class SwathInput final : public Input {
public:
    SwathInput(fs::path path, LatLon2D geometry, std::vector<CfInput> files,
               const std::set<std::string>& skip)
        : m_path(std::move(path))
        , m_geometry(std::move(geometry))
        , m_files(std::move(files)) {
        for (size_t f = 0; f < m_files.size(); ++f) {
            for (const auto& v : m_files[f].variables()) {
                if (skip.count(v.name) > 0 || find(v.name)) {
                    continue; // a coordinate, or a name an earlier file has
                }
                m_vars.push_back(v);
                m_file_of.push_back(f);
            }
        }
        if (m_vars.empty()) {
            throw InputError(nc::prefix(m_path) + ": no data variable on the 2-D lat/lon grid",
                             "data variables need the dimensions of lat/lon");
        }
    }

    const fs::path& path() const override { return m_path; }
    const Geometry& geometry() const override { return m_geometry; }
    const std::vector<TimeStep>& steps() const override { return m_files.front().steps(); }
    grid::time::Calendar calendar() const override { return m_files.front().calendar(); }
    const std::vector<VarInfo>& variables() const override { return m_vars; }
    nlohmann::json global_attrs() const override { return m_files.front().global_attrs(); }
    // A folder: its name, the total size and the latest mtime of the files read.
    nlohmann::json identity() const override {
        if (m_files.size() == 1 && m_files.front().path() == m_path) {
            return Input::identity();
        }
        unsigned long long size = 0;
        std::string mtime;
        for (const auto& f : m_files) {
            const auto id = f.identity();
            size += id.at("size").get<unsigned long long>();
            mtime = std::max(mtime, id.at("mtime").get<std::string>());
        }
        return {{"name", m_path.filename().string()}, {"size", size}, {"mtime", mtime}};
    }

    void read(const std::string& var, size_t step, float* out,
              const ForEach& for_each) const override {
        const auto& f = file_of(var);
        // A file without time reads the same for every step.
        f.read(var, std::min(step, f.steps().size() - 1), out, for_each);
    }
    void read_exact(const std::string& var, size_t step, double* out) const override {
        const auto& f = file_of(var);
        f.read_exact(var, std::min(step, f.steps().size() - 1), out);
    }
    using Input::read;

private:
    const CfInput& file_of(const std::string& var) const {
        for (size_t i = 0; i < m_vars.size(); ++i) {
            if (m_vars[i].name == var) {
                return m_files[m_file_of[i]];
            }
        }
        std::vector<std::string> names;
        for (const auto& v : m_vars) {
            names.push_back(v.name);
        }
        throw InputError(nc::prefix(m_path) + ": no data variable '" + var + "'",
                         "variables on the 2-D lat/lon grid: " + text::join(names, ", "));
    }

    fs::path m_path;
    Geometry m_geometry;
    std::vector<CfInput> m_files; // the first gives the time
    std::vector<VarInfo> m_vars;
    std::vector<size_t> m_file_of;
};

std::vector<std::string> xy_names(const fs::path& path, const nlohmann::json& params) {
    if (!params.is_object() || !params.contains("xy_names")) {
        return {};
    }
    const auto& j = params["xy_names"];
    if (!j.is_array() || j.size() != 2 || !j[0].is_string() || !j[1].is_string()) {
        throw ConfigError("input_processor_params.xy_names must be two names [lon, lat] (for " +
                          path.string() + ")");
    }
    return {j[0].get<std::string>(), j[1].get<std::string>()};
}

} // namespace

std::unique_ptr<Input> open_curvilinear(const fs::path& path, const nlohmann::json& params) {
    auto xy = xy_names(path, params);
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
        Coords c = find_coords(path, xy);
        std::vector<CfInput> files;
        files.push_back(CfInput::open_on_dims(path, c.row_dim, c.col_dim, LatLonAxes{}, true));
        return std::make_unique<SwathInput>(path, std::move(c.geometry), std::move(files),
                                            std::set<std::string>{c.lat_name, c.lon_name});
    }
    // A Sentinel-3 .SEN3 folder.
    const fs::path geo = path / "geo_coordinates.nc";
    if (!fs::is_regular_file(geo, ec)) {
        throw InputError(nc::prefix(path) + ": a .SEN3 folder without geo_coordinates.nc",
                         "Give the complete product folder (it holds the 2-D latitude/longitude)");
    }
    if (xy.empty()) {
        xy = {"longitude", "latitude"};
    }
    Coords c = find_coords(geo, xy);
    std::vector<CfInput> files;
    files.push_back(CfInput::open_on_dims(geo, c.row_dim, c.col_dim, LatLonAxes{}, true));
    std::vector<fs::path> others;
    for (const auto& e : fs::directory_iterator(path)) {
        if (e.is_regular_file() && e.path().extension() == ".nc" && e.path() != geo) {
            others.push_back(e.path());
        }
    }
    std::sort(others.begin(), others.end());
    for (const auto& p : others) {
        try {
            files.push_back(CfInput::open_on_dims(p, c.row_dim, c.col_dim, LatLonAxes{}, false));
        } catch (const InputError& e) {
            // tie_*.nc, time_coordinates.nc: not on (rows, columns).
            spdlog::debug("{}: skipped: {}", p.string(), e.what());
        }
    }
    return std::make_unique<SwathInput>(path, std::move(c.geometry), std::move(files),
                                        std::set<std::string>{c.lat_name, c.lon_name});
}

} // namespace baims::io
