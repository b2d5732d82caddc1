#include "baims/cube/cube_state.hpp"

#include "baims/core/error.hpp"
#include "baims/core/features.hpp"
#include "baims/core/log.hpp"
#include "baims/zarr/array.hpp"
#include "baims/zarr/group.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

namespace baims::cube {
namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

const char* WKT_4326 =
    "GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,"
    "AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,"
    "AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]]"
    ","
    "AXIS[\"Latitude\",NORTH],AXIS[\"Longitude\",EAST],AUTHORITY[\"EPSG\",\"4326\"]]";

zarr::ArrayMeta coord_meta(std::vector<size_t> shape, const std::string& dtype, nlohmann::json fill,
                           const zarr::Compressor& comp) {
    zarr::ArrayMeta m;
    m.shape = shape;
    m.chunks = shape;
    for (auto& c : m.chunks) {
        c = std::max<size_t>(c, 1);
    }
    m.dtype = dtype;
    m.fill_value = std::move(fill);
    m.compressor = comp;
    return m;
}

template <class T> std::vector<T> convert(const std::vector<double>& v) {
    std::vector<T> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        out[i] = static_cast<T>(v[i]);
    }
    return out;
}

struct Coord {
    std::string name;
    zarr::ArrayMeta meta;
    std::vector<double> values;
};

Coord coord(const std::string& name, std::vector<size_t> shape, std::vector<double> values,
            const std::string& dtype, const zarr::Compressor& comp) {
    nlohmann::json fill = dtype == "<f8" ? nlohmann::json("NaN") : nlohmann::json(nullptr);
    return {name, coord_meta(std::move(shape), dtype, fill, comp), std::move(values)};
}

void write_coord_data(zarr::KvStore& store, const Coord& c) {
    if (c.meta.dtype == "<f8") {
        zarr::write_whole(store, c.name, c.meta, c.values.data());
    } else if (c.meta.dtype == "<i8") {
        auto v = convert<std::int64_t>(c.values);
        zarr::write_whole(store, c.name, c.meta, v.data());
    } else {
        throw InternalError("unsupported coordinate dtype " + c.meta.dtype);
    }
}

// The shape of an array as the cube's .zarray and .zmetadata give it (nullopt where absent).
std::optional<std::vector<size_t>> stored_shape(const zarr::KvStore& store,
                                                const std::string& name) {
    auto m = zarr::read_array_meta(store, name);
    return m ? std::optional(m->shape) : std::nullopt;
}
std::optional<std::vector<size_t>> consolidated_shape(const zarr::KvStore& store,
                                                      const std::string& name) {
    try {
        if (auto zm = zarr::read_consolidated(store)) {
            if (auto m = zarr::array_meta_from_consolidated(*zm, name)) {
                return m->shape;
            }
        }
    } catch (const InputError&) { // a damaged .zmetadata is replaced below
    }
    return std::nullopt;
}

// Removes the chunk files of an array (its metadata stays).
void erase_chunks(zarr::KvStore& store, const std::string& name) {
    for (const auto& entry : store.list(name)) {
        if (!entry.empty() && entry[0] != '.') {
            store.erase(name + "/" + entry);
        }
    }
}

// The record of what made each time step; all null when the file is missing or does not match
// the time axis (a cube extended by another tool since).
std::vector<nlohmann::json> read_sources(const zarr::KvStore& store, size_t nt) {
    std::vector<nlohmann::json> out(nt, nullptr);
    auto text = store.get(SOURCES_FILE);
    if (!text) {
        return out;
    }
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("steps") || !j["steps"].is_array() ||
        j["steps"].size() != nt) {
        log::warn("cube '" + store.describe() + "': " + SOURCES_FILE +
                  " is unreadable or does not match the time axis; slices given again are "
                  "recomputed and recorded anew");
        return out;
    }
    for (size_t i = 0; i < nt; ++i) {
        out[i] = j["steps"][i];
    }
    return out;
}

} // namespace

nlohmann::json gdal_crs_attr(const std::optional<io::CubeCrs>& crs) {
    if (crs) {
        return crs->gdal_crs;
    }
    return {{"url", "http://www.opengis.net/def/crs/EPSG/0/4326"}, {"wkt", WKT_4326}};
}

nlohmann::json cf_grid_mapping_attrs(const std::optional<io::CubeCrs>& crs) {
    if (crs) {
        return crs->grid_mapping;
    }
    return {{"grid_mapping_name", "latitude_longitude"},
            {"longitude_of_prime_meridian", 0.0},
            {"semi_major_axis", 6378137.0},
            {"inverse_flattening", 298.257223563},
            {"crs_wkt", WKT_4326},
            {"spatial_ref", WKT_4326},
            {"_ARRAY_DIMENSIONS", nlohmann::json::array()}};
}

std::vector<double> read_numeric_array(const zarr::KvStore& store, const std::string& name) {
    auto meta = zarr::read_array_meta(store, name);
    if (!meta) {
        throw InputError("array '" + name + "' not found in " + store.describe());
    }
    if (meta->shape.size() > 2) {
        throw InputError("array '" + name + "' has more than 2 dimensions");
    }
    std::vector<size_t> shape = meta->shape, chunks = meta->chunks;
    if (shape.empty()) {
        shape = {1};
        chunks = {1};
    }
    if (shape.size() == 1) {
        shape.push_back(1);
        chunks.push_back(1);
    }
    size_t total = shape[0] * shape[1];
    std::vector<double> out(total, NaN);
    size_t isz = meta->itemsize();
    std::vector<char> buf(meta->chunk_elements() * isz);
    auto grid = meta->chunk_grid();
    size_t g0 = grid.empty() ? 1 : grid[0];
    size_t g1 = grid.size() > 1 ? grid[1] : 1;
    // the element type, told once (not per element: the coordinates of a large grid are tens of
    // thousands of values, read at every tiles --update)
    const auto& dt = meta->dtype;
    const int kind = dt == "<f8"   ? 0
                     : dt == "<f4" ? 1
                     : dt == "<i8" ? 2
                     : dt == "<i4" ? 3
                     : dt == "<i2" ? 4
                                   : -1;
    auto value = [kind](const char* p) {
        switch (kind) {
        case 0: {
            double v;
            std::memcpy(&v, p, 8);
            return v;
        }
        case 1: {
            float f;
            std::memcpy(&f, p, 4);
            return static_cast<double>(f);
        }
        case 2: {
            std::int64_t x;
            std::memcpy(&x, p, 8);
            return static_cast<double>(x);
        }
        case 3: {
            std::int32_t x;
            std::memcpy(&x, p, 4);
            return static_cast<double>(x);
        }
        default: {
            std::int16_t x;
            std::memcpy(&x, p, 2);
            return static_cast<double>(x);
        }
        }
    };
    for (size_t a = 0; a < g0; ++a) {
        for (size_t b = 0; b < g1; ++b) {
            std::vector<size_t> idx;
            if (!meta->shape.empty()) {
                idx.push_back(a);
            }
            if (meta->shape.size() > 1) {
                idx.push_back(b);
            }
            if (!zarr::read_chunk(store, name, *meta, idx, buf.data())) {
                continue;
            }
            for (size_t i = 0; i < chunks[0]; ++i) {
                for (size_t j = 0; j < chunks[1]; ++j) {
                    size_t r = a * chunks[0] + i, c = b * chunks[1] + j;
                    if (r >= shape[0] || c >= shape[1]) {
                        continue;
                    }
                    if (kind < 0) {
                        throw InputError("array '" + name + "' has unsupported dtype " + dt);
                    }
                    out[r * shape[1] + c] = value(buf.data() + (i * chunks[1] + j) * isz);
                }
            }
        }
    }
    return out;
}

std::optional<CubeState> read_cube(const zarr::KvStore& store) {
    if (!store.exists(".zgroup")) {
        return std::nullopt;
    }
    const std::string where = "cube '" + store.describe() + "'";
    CubeState s;
    s.attrs = zarr::read_attrs(store, "");
    auto lat_meta = zarr::read_array_meta(store, "lat");
    auto lon_meta = zarr::read_array_meta(store, "lon");
    if (!lat_meta || !lon_meta) {
        // A projected cube: 1-D y/x and the grid mapping's crs_wkt.
        const auto gm = zarr::read_array_meta(store, "crs") ? zarr::read_attrs(store, "crs")
                                                            : nlohmann::json::object();
        const auto wkt = gm.value("crs_wkt", gm.value("spatial_ref", std::string()));
        if (!zarr::read_array_meta(store, "y") || !zarr::read_array_meta(store, "x") ||
            wkt.empty()) {
            throw InputError(where + " has neither 1-D lat/lon coordinates nor 1-D y/x with a "
                                     "crs grid mapping (crs_wkt)",
                             "baims gen extends cubes on lat/lon or on a projected y/x grid "
                             "of its own; choose another output_path");
        }
        s.crs = io::cube_crs_from_wkt(wkt, where);
    }
    const std::string ydim = s.ydim(), xdim = s.xdim();
    auto lat = read_numeric_array(store, ydim);
    auto lon = read_numeric_array(store, xdim);
    if (lat.size() < 1 || lon.size() < 1) {
        throw InputError(where + " has empty " + ydim + "/" + xdim + " coordinates");
    }
    if (lat.size() > 1 && lat[1] > lat[0]) {
        throw InputError(where + " has ascending " + ydim,
                         "baims writes and extends north-up cubes only");
    }
    grid::Box box;
    if (store.exists(ydim + "_bnds/.zarray") && store.exists(xdim + "_bnds/.zarray")) {
        auto lb = read_numeric_array(store, ydim + "_bnds");
        auto xb = read_numeric_array(store, xdim + "_bnds");
        box.ymax = std::max(lb.front(), lb[1]);
        box.ymin = std::min(lb[lb.size() - 2], lb.back());
        box.xmin = std::min(xb.front(), xb[1]);
        box.xmax = std::max(xb[xb.size() - 2], xb.back());
    } else {
        double dx =
            lon.size() > 1 ? (lon.back() - lon.front()) / static_cast<double>(lon.size() - 1) : 1.0;
        double dy =
            lat.size() > 1 ? (lat.front() - lat.back()) / static_cast<double>(lat.size() - 1) : 1.0;
        box = {lon.front() - dx / 2, lat.back() - dy / 2, lon.back() + dx / 2,
               lat.front() + dy / 2};
    }
    s.grid = grid::Grid(box, lon.size(), lat.size());

    if (store.exists("time/.zarray")) {
        s.time = read_numeric_array(store, "time");
        auto tattrs = zarr::read_attrs(store, "time");
        auto units = tattrs.value("units", std::string("days since 1970-01-01"));
        if (units.rfind("days since 1970-01-01", 0) != 0) {
            throw InputError(where + " has time units '" + units + "'",
                             "baims extends cubes with time in 'days since 1970-01-01'");
        }
        const auto cal_name = tattrs.value("calendar", std::string("standard"));
        auto cal = grid::time::parse_calendar(cal_name);
        if (!cal) {
            throw InputError(where + " has time calendar '" + cal_name + "'",
                             "baims extends cubes in the calendars " +
                                 grid::time::calendar_names());
        }
        s.calendar = *cal;
    }
    if (auto tb = zarr::read_array_meta(store, "time_bnds")) {
        s.time_bnds_dtype = tb->dtype == "<i8" ? "<i8" : "<f8";
        auto b = read_numeric_array(store, "time_bnds");
        for (size_t i = 0; i + 1 < b.size() && s.bounds.size() < s.time.size(); i += 2) {
            s.bounds.emplace_back(b[i], b[i + 1]);
        }
    }
    for (const auto& name : store.list("")) {
        if (name.empty() || name[0] == '.') {
            continue;
        }
        auto meta = zarr::read_array_meta(store, name);
        if (!meta || meta->shape.size() != 3) {
            continue;
        }
        auto attrs = zarr::read_attrs(store, name);
        auto dims = attrs.value("_ARRAY_DIMENSIONS", nlohmann::json::array());
        if (dims != nlohmann::json::array({"time", ydim, xdim})) {
            continue;
        }
        if (meta->shape[0] != s.time.size() || meta->shape[1] != lat.size() ||
            meta->shape[2] != lon.size()) {
            throw InputError(where + ": variable '" + name +
                                 "' has shape that disagrees with its coordinates",
                             "The cube is inconsistent; rerun the last baims command on it");
        }
        if (meta->chunks[0] != 1) {
            throw InputError(where + ": variable '" + name + "' has time chunks of " +
                                 std::to_string(meta->chunks[0]) + "; " +
                                 not_available(Feature::TimeChunks),
                             instead(Feature::TimeChunks));
        }
        s.chunk_y = meta->chunks[1];
        s.chunk_x = meta->chunks[2];
        s.var_order.push_back(name);
        s.vars[name] = DataVar{*meta, attrs};
    }
    s.sources = read_sources(store, s.nt());
    return s;
}

// Order (each file is replaced atomically; docs/crash-safety.md): a reader that uses .zmetadata
// (xarray, zarr.open_consolidated) must be able to open the cube after every prefix of these
// writes. Data chunks and lat/lon/crs do not change size on an update, but the single chunk of
// time and time_bnds does: with the old .zmetadata and a time chunk of the new length (or the
// reverse) the cube does not open ("cannot reshape array of size 5 into shape (3,)"). So when the
// time axis changes length its chunks are removed first (readers see missing times, NaT, in that
// window), then every .zarray/.zattrs and .baims-sources.json, then .zmetadata (the switch for
// consolidated readers), and the time chunks of the new length last. A repeated phase M after a
// crash finds the lengths already equal and rewrites the rest.
void write_cube_metadata(zarr::KvStore& store, const CubeState& s) {
    zarr::Compressor comp; // coordinates: Blosc lz4 5 byte-shuffle, as zarr-python's default
    const auto& g = s.grid;
    size_t nt = s.nt();

    const std::vector<size_t> time_shape = {nt};
    for (const auto& stored : {stored_shape(store, "time"), consolidated_shape(store, "time")}) {
        if (stored && *stored != time_shape) {
            erase_chunks(store, "time");
            erase_chunks(store, "time_bnds");
            store.sync();
            break;
        }
    }

    zarr::write_group(store, s.attrs);

    // lat / lon (y / x) and their bounds
    const std::string ydim = s.ydim(), xdim = s.xdim();
    auto lat = g.y_centers();
    auto lon = g.x_centers();
    std::vector<double> lat_b(2 * lat.size()), lon_b(2 * lon.size());
    for (size_t i = 0; i < lat.size(); ++i) {
        lat_b[2 * i] = g.extent().ymax - static_cast<double>(i) * g.dy();
        lat_b[2 * i + 1] = g.extent().ymax - static_cast<double>(i + 1) * g.dy();
    }
    for (size_t i = 0; i < lon.size(); ++i) {
        lon_b[2 * i] = g.extent().xmin + static_cast<double>(i) * g.dx();
        lon_b[2 * i + 1] = g.extent().xmin + static_cast<double>(i + 1) * g.dx();
    }
    const size_t nlat = lat.size(), nlon = lon.size();
    const std::string yunits = s.crs ? s.crs->units : "degrees_north";
    const std::string xunits = s.crs ? s.crs->units : "degrees_east";
    std::vector<std::pair<Coord, nlohmann::json>> fixed; // shapes independent of the time axis
    fixed.emplace_back(
        coord(ydim, {nlat}, std::move(lat), "<f8", comp),
        nlohmann::json{{"_ARRAY_DIMENSIONS", {ydim}},
                       {"bounds", ydim + "_bnds"},
                       {"long_name", s.crs ? "y coordinate of projection" : "latitude"},
                       {"standard_name", s.crs ? "projection_y_coordinate" : "latitude"},
                       {"units", yunits},
                       {"axis", "Y"}});
    fixed.emplace_back(
        coord(xdim, {nlon}, std::move(lon), "<f8", comp),
        nlohmann::json{{"_ARRAY_DIMENSIONS", {xdim}},
                       {"bounds", xdim + "_bnds"},
                       {"long_name", s.crs ? "x coordinate of projection" : "longitude"},
                       {"standard_name", s.crs ? "projection_x_coordinate" : "longitude"},
                       {"units", xunits},
                       {"axis", "X"}});
    fixed.emplace_back(coord(ydim + "_bnds", {nlat, 2}, std::move(lat_b), "<f8", comp),
                       nlohmann::json{{"_ARRAY_DIMENSIONS", {ydim, "bnds"}}, {"units", yunits}});
    fixed.emplace_back(coord(xdim + "_bnds", {nlon, 2}, std::move(lon_b), "<f8", comp),
                       nlohmann::json{{"_ARRAY_DIMENSIONS", {xdim, "bnds"}}, {"units", xunits}});
    for (const auto& [c, attrs] : fixed) {
        zarr::write_array_meta(store, c.name, c.meta, attrs);
        write_coord_data(store, c);
    }

    // "proleptic_gregorian" when a value lies before 1582-10-15 (SPEC §2 "Time per input")
    double earliest = INFINITY;
    for (size_t i = 0; i < nt; ++i) {
        earliest = std::min(earliest, s.time[i]);
        if (i < s.bounds.size() && !std::isnan(s.bounds[i].first)) {
            earliest = std::min(earliest, s.bounds[i].first);
        }
    }
    const std::string calendar = grid::time::calendar_attribute(s.calendar, earliest);
    nlohmann::json time_attrs = {
        {"_ARRAY_DIMENSIONS", {"time"}},    {"standard_name", "time"}, {"long_name", "time"},
        {"units", "days since 1970-01-01"}, {"calendar", calendar},    {"axis", "T"}};
    if (s.has_bounds()) {
        time_attrs["bounds"] = "time_bnds";
    }
    std::vector<Coord> timed; // written after .zmetadata
    timed.push_back(coord("time", {nt}, s.time, "<f8", comp));
    zarr::write_array_meta(store, "time", timed.back().meta, time_attrs);
    if (s.has_bounds()) {
        std::vector<double> tb(2 * nt, NaN);
        for (size_t i = 0; i < nt && i < s.bounds.size(); ++i) {
            tb[2 * i] = s.bounds[i].first;
            tb[2 * i + 1] = s.bounds[i].second;
        }
        timed.push_back(coord("time_bnds", {nt, 2}, std::move(tb), s.time_bnds_dtype, comp));
        zarr::write_array_meta(store, "time_bnds", timed.back().meta,
                               {{"_ARRAY_DIMENSIONS", {"time", "bnds"}},
                                {"units", "days since 1970-01-01"},
                                {"calendar", calendar}});
    } else {
        store.erase("time_bnds/.zarray");
        store.erase("time_bnds/.zattrs");
    }

    // The CF grid-mapping variable: a 0-d int32 array.
    {
        zarr::ArrayMeta m;
        m.dtype = "<i4";
        m.fill_value = nullptr;
        m.compressor = comp;
        zarr::write_array_meta(store, "crs", m, cf_grid_mapping_attrs(s.crs));
        std::int32_t zero = 0;
        zarr::write_whole(store, "crs", m, &zero);
    }

    for (const auto& name : s.var_order) {
        const auto& v = s.vars.at(name);
        auto meta = v.meta;
        meta.shape = {nt, g.height(), g.width()};
        zarr::write_array_meta(store, name, meta, v.attrs);
    }
    if (!s.sources.empty()) {
        write_sources(store, s.sources);
    }
    zarr::consolidate(store); // synced before and after
    for (const auto& c : timed) {
        write_coord_data(store, c);
    }
    store.sync();
}

void write_sources(zarr::KvStore& store, const std::vector<nlohmann::json>& sources) {
    const nlohmann::json j = {{"format", "baims-sources/1"}, {"steps", sources}};
    store.put(SOURCES_FILE, j.dump(1) + "\n");
}

void write_records_update(zarr::KvStore& store, const CubeState& cur, const CubeState& next) {
    if (cur.sources != next.sources) {
        write_sources(store, next.sources);
        store.sync();
    }
    bool consolidate = false;
    if (cur.attrs != next.attrs) {
        zarr::write_attrs(store, "", next.attrs);
        consolidate = true;
    } else if (const auto c = zarr::read_consolidated(store)) {
        // (cut off between .zattrs and .zmetadata before)
        const auto& m = c->at("metadata");
        consolidate = !m.contains(".zattrs") || m.at(".zattrs") != next.attrs;
    }
    if (consolidate) {
        zarr::consolidate(store); // synced before and after
    }
}

nlohmann::json CubeState::to_json() const {
    nlohmann::json j;
    const auto& e = grid.extent();
    j["grid"] = {e.xmin, e.ymin, e.xmax, e.ymax, grid.width(), grid.height()};
    j["chunks"] = {chunk_y, chunk_x};
    j["time"] = time;
    j["calendar"] = grid::time::to_string(calendar);
    nlohmann::json b = nlohmann::json::array();
    for (const auto& p : bounds) {
        b.push_back({std::isnan(p.first) ? nlohmann::json(nullptr) : nlohmann::json(p.first),
                     std::isnan(p.second) ? nlohmann::json(nullptr) : nlohmann::json(p.second)});
    }
    j["bounds"] = b;
    j["var_order"] = var_order;
    nlohmann::json vars_j = nlohmann::json::object();
    for (const auto& [name, v] : vars) {
        vars_j[name] = {{"meta", v.meta.to_json()}, {"attrs", v.attrs}};
    }
    j["vars"] = vars_j;
    j["attrs"] = attrs;
    j["time_bnds_dtype"] = time_bnds_dtype;
    j["sources"] = sources;
    if (crs) {
        j["crs_wkt"] = crs->wkt;
    }
    return j;
}

CubeState CubeState::from_json(const nlohmann::json& j) {
    CubeState s;
    const auto& g = j.at("grid");
    s.grid =
        grid::Grid({g[0].get<double>(), g[1].get<double>(), g[2].get<double>(), g[3].get<double>()},
                   g[4].get<size_t>(), g[5].get<size_t>());
    s.chunk_y = j.at("chunks")[0].get<size_t>();
    s.chunk_x = j.at("chunks")[1].get<size_t>();
    s.time = j.at("time").get<std::vector<double>>();
    s.calendar = grid::time::parse_calendar(j.value("calendar", std::string("gregorian")))
                     .value_or(grid::time::Calendar::Gregorian);
    for (const auto& p : j.at("bounds")) {
        s.bounds.emplace_back(p[0].is_null() ? NaN : p[0].get<double>(),
                              p[1].is_null() ? NaN : p[1].get<double>());
    }
    s.var_order = j.at("var_order").get<std::vector<std::string>>();
    for (const auto& [name, v] : j.at("vars").items()) {
        s.vars[name] = DataVar{zarr::ArrayMeta::from_json(v.at("meta")), v.at("attrs")};
    }
    s.attrs = j.at("attrs");
    s.time_bnds_dtype = j.value("time_bnds_dtype", std::string("<f8"));
    if (j.contains("crs_wkt")) {
        s.crs = io::cube_crs_from_wkt(j["crs_wkt"].get<std::string>(), "the cube state");
    }
    if (j.contains("sources") && j["sources"].is_array()) {
        s.sources = j["sources"].get<std::vector<nlohmann::json>>();
    }
    return s;
}

} // namespace baims::cube
