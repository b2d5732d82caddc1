// The global attributes of a cube written by gen.

#include "gen_attrs.hpp"

#include "baims/core/text.hpp"
#include "baims/grid/time.hpp"
#include "baims/io/geometry.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <set>
#include <vector>

namespace baims::cube::gen {
namespace {

std::string now_iso() {
    auto now = std::chrono::system_clock::now();
    double days = std::chrono::duration<double>(now.time_since_epoch()).count() / 86400.0;
    return grid::time::format_iso(std::floor(days * 86400.0) / 86400.0);
}

constexpr size_t MAX_SOURCE_NAMES = 100;
constexpr size_t MAX_HISTORY_LINES = 100;

// ACDD on a projected grid: the lon/lat box around the extent's outline (sampled, as the edges
// curve), and the extent and pixel size in the CRS's own units.
void set_projected_extent_attrs(const CubeState& st, nlohmann::json& a) {
    const auto& e = st.grid.extent();
    constexpr size_t N = 64;
    std::vector<double> x, y;
    for (size_t i = 0; i <= N; ++i) {
        const double f = static_cast<double>(i) / N;
        const double px = e.xmin + f * e.width(), py = e.ymin + f * e.height();
        x.insert(x.end(), {px, px, e.xmin, e.xmax});
        y.insert(y.end(), {e.ymin, e.ymax, py, py});
    }
    io::LonLatToCrs("EPSG:4326", st.crs->proj).transform(x.data(), y.data(), x.size());
    double lon0 = INFINITY, lon1 = -INFINITY, lat0 = INFINITY, lat1 = -INFINITY;
    for (size_t i = 0; i < x.size(); ++i) {
        if (std::isfinite(x[i]) && std::isfinite(y[i])) {
            lon0 = std::min(lon0, x[i]);
            lon1 = std::max(lon1, x[i]);
            lat0 = std::min(lat0, y[i]);
            lat1 = std::max(lat1, y[i]);
        }
    }
    if (lon0 <= lon1) {
        a["geospatial_lon_min"] = lon0;
        a["geospatial_lon_max"] = lon1;
        a["geospatial_lat_min"] = lat0;
        a["geospatial_lat_max"] = lat1;
        a["geospatial_lon_units"] = "degrees_east";
        a["geospatial_lat_units"] = "degrees_north";
    }
    a["geospatial_bounds_crs"] = st.crs->epsg.empty() ? st.crs->wkt : "EPSG:" + st.crs->epsg;
    a["geospatial_x_min"] = e.xmin;
    a["geospatial_x_max"] = e.xmax;
    a["geospatial_y_min"] = e.ymin;
    a["geospatial_y_max"] = e.ymax;
    a["geospatial_x_resolution"] = st.grid.dx();
    a["geospatial_y_resolution"] = st.grid.dy();
    a["geospatial_x_units"] = st.crs->units;
    a["geospatial_y_units"] = st.crs->units;
}

} // namespace

bool set_input_attrs(CubeState& st) {
    nlohmann::json all = nlohmann::json::object();
    for (size_t t = 0; t < st.nt() && t < st.sources.size(); ++t) {
        const auto& r = st.sources[t];
        if (!r.is_object() || !r.contains("inputs") || !r["inputs"].is_array()) {
            continue;
        }
        nlohmann::json step = nlohmann::json::object();
        for (const auto& in : r["inputs"]) {
            if (in.is_object() && in.contains("attrs")) {
                step[in.value("name", std::string("?"))] = in["attrs"];
            }
        }
        if (!step.empty()) {
            all[grid::time::format_iso(st.time[t], st.calendar)] = std::move(step);
        }
    }
    auto& a = st.attrs;
    if (!a.is_object()) {
        a = nlohmann::json::object();
    }
    const auto it = a.find(INPUT_ATTRS);
    if (all.empty()) {
        if (it == a.end()) {
            return false;
        }
        a.erase(it);
        return true;
    }
    if (it != a.end() && *it == all) {
        return false;
    }
    a[INPUT_ATTRS] = std::move(all);
    return true;
}

void set_global_attrs(CubeState& st, const GenConfig& c, const std::string& command_line) {
    auto& a = st.attrs;
    if (!a.is_object()) {
        a = nlohmann::json::object();
    }
    a["Conventions"] = "CF-1.9, ACDD-1.3";
    for (auto it = c.metadata.begin(); it != c.metadata.end(); ++it) {
        a[it.key()] = it.value();
    }
    if (st.crs) {
        set_projected_extent_attrs(st, a);
    } else {
        const auto& e = st.grid.extent();
        a["geospatial_lon_min"] = e.xmin;
        a["geospatial_lon_max"] = e.xmax;
        a["geospatial_lat_min"] = e.ymin;
        a["geospatial_lat_max"] = e.ymax;
        a["geospatial_lon_resolution"] = st.grid.dx();
        a["geospatial_lat_resolution"] = st.grid.dy();
        a["geospatial_lon_units"] = "degrees_east";
        a["geospatial_lat_units"] = "degrees_north";
    }
    double t0 = INFINITY, t1 = -INFINITY;
    for (size_t i = 0; i < st.nt(); ++i) {
        double a0 = st.time[i], a1 = st.time[i];
        if (st.has_bounds() && !std::isnan(st.bounds[i].first)) {
            a0 = st.bounds[i].first;
            a1 = st.bounds[i].second;
        }
        t0 = std::min(t0, a0);
        t1 = std::max(t1, a1);
    }
    if (st.nt() > 0) {
        a["time_coverage_start"] = grid::time::format_iso(t0, st.calendar);
        a["time_coverage_end"] = grid::time::format_iso(t1, st.calendar);
    }
    auto now = now_iso();
    if (!a.contains("date_created")) {
        a["date_created"] = now;
    }
    a["date_modified"] = now;
    // history: one line per run; the first (creation) and the latest ones are kept.
    std::vector<std::string> lines;
    if (a.contains("history") && a["history"].is_string()) {
        for (auto& l : text::split(a["history"].get<std::string>(), '\n')) {
            if (!l.empty()) {
                lines.push_back(l);
            }
        }
    }
    lines.push_back(now + ": " + command_line);
    if (lines.size() > MAX_HISTORY_LINES) {
        size_t omitted = 0;
        if (lines[1].find("earlier entries omitted") != std::string::npos) {
            omitted = std::strtoull(lines[1].c_str() + 1, nullptr, 10);
            lines.erase(lines.begin() + 1);
        }
        const size_t drop = lines.size() - (MAX_HISTORY_LINES - 1);
        omitted += drop;
        lines.erase(lines.begin() + 1, lines.begin() + 1 + static_cast<long>(drop));
        lines.insert(lines.begin() + 1,
                     "(" + std::to_string(omitted) + " earlier entries omitted by baims)");
    }
    a["history"] = text::join(lines, "\n");
    // source: the names of the inputs of the current time steps (those of steps made elsewhere,
    // unknown, are kept from the attribute), a summary when there are many; the inputs of each
    // time step are in .baims-sources.json.
    std::vector<std::string> names;
    std::set<std::string> have;
    const bool unknown = std::any_of(st.sources.begin(), st.sources.end(),
                                     [](const nlohmann::json& r) { return r.is_null(); });
    if (unknown && a.contains("source") && a["source"].is_string()) {
        for (auto& n : text::split(a["source"].get<std::string>(), ',')) {
            auto t = text::trim(n);
            if (!t.empty() && t.find(' ') == std::string::npos && have.insert(t).second) {
                names.push_back(t);
            }
        }
    }
    for (const auto& r : st.sources) {
        if (r.is_object()) {
            for (const auto& in : r.value("inputs", nlohmann::json::array())) {
                auto n = in.value("name", std::string());
                if (!n.empty() && have.insert(n).second) {
                    names.push_back(n);
                }
            }
        }
    }
    if (names.size() <= MAX_SOURCE_NAMES) {
        a["source"] = text::join(names, ", ");
    } else {
        a["source"] = std::to_string(names.size()) + " input files, from " + names.front() +
                      " to " + names.back() + "; the inputs of each time step are listed in " +
                      SOURCES_FILE;
    }
    set_input_attrs(st);
    const std::string bnds = st.crs ? "crs y_bnds x_bnds" : "crs lat_bnds lon_bnds";
    a["coordinates"] = st.has_bounds() ? bnds + " time_bnds" : bnds;
}

} // namespace baims::cube::gen
