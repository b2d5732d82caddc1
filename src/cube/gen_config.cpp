#include "baims/cube/gen_config.hpp"

#include "baims/config/reader.hpp"
#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/core/text.hpp"
#include "baims/cube/expr.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <unistd.h>

namespace baims::cube {
namespace {

// A YAML scalar as JSON: numbers stay numbers (unless quoted), the rest is text.
nlohmann::json scalar_to_json(const YAML::Node& node) {
    const auto& s = node.Scalar();
    if (node.Tag() != "!") {
        try {
            size_t pos = 0;
            long long i = std::stoll(s, &pos);
            if (pos == s.size()) {
                return i;
            }
            double d = std::stod(s, &pos);
            if (pos == s.size()) {
                return d;
            }
        } catch (...) {
        }
    }
    return s;
}

// An attribute value: a text or number, or a list of them (NetCDF attributes are scalars or 1-D
// arrays). A list holds numbers only if every item is a number; otherwise every item is text.
nlohmann::json attribute_value(const config::Document& doc, const YAML::Node& node,
                               const std::string& path) {
    auto refuse = [&](const std::string& p, const std::string& got) {
        throw ConfigError(doc.origin(p).str() + ": " + p +
                              ": expected a text, a number or a list of them, got " + got,
                          "Attributes are scalars or flat lists");
    };
    if (node.IsScalar()) {
        return scalar_to_json(node);
    }
    if (node.IsNull()) {
        return "";
    }
    if (!node.IsSequence()) {
        refuse(path, "a mapping");
    }
    nlohmann::json arr = nlohmann::json::array();
    bool all_numbers = true;
    for (size_t i = 0; i < node.size(); ++i) {
        const auto item = node[i];
        if (!item.IsScalar()) {
            refuse(path + "[" + std::to_string(i) + "]",
                   item.IsSequence() ? "a list" : "a mapping");
        }
        arr.push_back(scalar_to_json(item));
        all_numbers = all_numbers && arr.back().is_number();
    }
    if (!all_numbers) {
        for (size_t i = 0; i < node.size(); ++i) {
            arr[i] = node[i].Scalar();
        }
    }
    return arr;
}

// output_metadata: nested mappings are flattened with '_' (creator: {name: x} -> creator_name).
void flatten(const config::Document& doc, const YAML::Node& node, const std::string& path,
             const std::string& prefix, nlohmann::json& out) {
    if (node.IsMap()) {
        for (const auto& kv : node) {
            auto key = kv.first.as<std::string>();
            flatten(doc, kv.second, path + "." + key, prefix.empty() ? key : prefix + "_" + key,
                    out);
        }
        return;
    }
    if (out.contains(prefix)) {
        throw ConfigError(doc.origin(path).str() + ": " + path + ": the attribute '" + prefix +
                              "' is given twice (nested mappings are joined with '_')",
                          "Remove one of them");
    }
    out[prefix] = attribute_value(doc, node, path);
}

const std::set<std::string>& cube_coordinate_names() {
    static const std::set<std::string> names = {"time", "time_bnds", "lat", "lat_bnds",
                                                "lon",  "lon_bnds",  "crs"};
    return names;
}

// Attributes that baims writes itself (or derives from packing): a config may not set them.
const std::set<std::string>& reserved_attribute_names() {
    static const std::set<std::string> names = {"_ARRAY_DIMENSIONS", "_CRS",         "grid_mapping",
                                                "_FillValue",        "scale_factor", "add_offset",
                                                "missing_value"};
    return names;
}

// An expression value (processed_variables, valid_pixel_expression), its syntax checked now; names
// are resolved once the inputs are known (gen_expr.cpp). where: "file:line:col: key.path".
std::string read_expression(config::Reader& r, const std::string& key, std::string& where) {
    auto node = r.raw(key);
    if (!node.IsScalar()) {
        r.fail(key, "expected an expression (a text)");
    }
    const std::string text = node.Scalar();
    where = r.where(key) + ": " + r.key_path(key);
    try {
        expr::Program::check_syntax(text);
    } catch (const expr::ExprError& e) {
        throw ConfigError(where + ": " + expr::describe(text, e), expression_hint());
    }
    return text;
}

bool has_wildcard(const std::string& s) {
    return s.find_first_of("*?") != std::string::npos;
}

std::vector<OutputVariable> parse_variables(config::Reader& r, bool projected) {
    std::vector<OutputVariable> vars;
    auto node = r.raw("output_variables");
    if (!node || node.IsNull()) {
        return vars;
    }
    if (!node.IsSequence()) {
        r.fail("output_variables", "expected a list of variable names");
    }
    const auto& doc = r.document();
    std::map<std::string, std::string> out_names; // output name -> where it was defined
    for (size_t i = 0; i < node.size(); ++i) {
        std::string path = "output_variables[" + std::to_string(i) + "]";
        YAML::Node item = node[i];
        OutputVariable v;
        std::string name_path = path; // where the output name was given
        if (item.IsScalar()) {
            v.pattern = item.Scalar();
        } else if (item.IsMap() && item.size() == 1) {
            auto kv = *item.begin();
            v.pattern = kv.first.as<std::string>();
            const std::string vpath = r.key_path(path) + "." + v.pattern;
            if (kv.second.IsScalar()) {
                v.rename = kv.second.Scalar();
                name_path = path + "." + v.pattern;
            } else if (kv.second.IsMap()) {
                config::Reader vr(doc, kv.second, vpath);
                v.rename = vr.optional<std::string>("name", "");
                if (vr.has("name")) {
                    name_path = path + "." + v.pattern + ".name";
                }
                if (vr.has("resampling")) {
                    v.resampling =
                        parse_resampling(vr.one_of("resampling", resampling_names(), "nearest"));
                }
                if (vr.has("valid_pixel_expression")) {
                    v.valid_pixel_expression =
                        read_expression(vr, "valid_pixel_expression", v.valid_where);
                }
                // Every other key is an attribute to set on the output variable.
                for (const auto& akv : kv.second) {
                    auto key = akv.first.as<std::string>();
                    if (key == "name" || key == "resampling" || key == "valid_pixel_expression") {
                        continue;
                    }
                    if (reserved_attribute_names().count(key)) {
                        throw ConfigError(doc.origin(vpath + "." + key + "#key").str() + ": " +
                                              vpath + "." + key + ": baims writes the attribute '" +
                                              key + "' itself",
                                          "Remove it; packing is set in "
                                          "output_writer_params.packing");
                    }
                    v.attrs[key] = attribute_value(doc, akv.second, vpath + "." + key);
                }
            } else if (!kv.second.IsNull()) {
                r.fail(path, "expected 'name', 'name: newname' or 'name: {attributes}'");
            }
        } else {
            r.fail(path, "expected 'name', 'name: newname' or 'name: {attributes}'");
        }
        if (v.pattern.empty()) {
            r.fail(path, "the variable name is empty");
        }
        // The name the variable gets in the cube (a pattern's matches keep their input names).
        const bool renamed = !v.rename.empty() || name_path != path;
        const std::string out_name = renamed ? v.rename : v.pattern;
        if (renamed || !has_wildcard(v.pattern)) {
            if (auto problem = output_name_problem(out_name, projected); !problem.empty()) {
                r.fail(name_path, problem, "Choose another output name");
            }
            const auto here = doc.origin(name_path).str();
            if (auto [it, fresh] = out_names.emplace(out_name, here); !fresh) {
                r.fail(name_path,
                       "the output variable '" + out_name + "' is already defined at " + it->second,
                       "Give each output variable its own name");
            }
        }
        vars.push_back(std::move(v));
    }
    return vars;
}

// processed_variables: a list of `name` or `name: {expression:, valid_pixel_expression:, load:,
// <attribute>: …}`, or one mapping of such names (xcube accepts both).
std::vector<ProcessedVariable> parse_processed(config::Reader& r, bool projected) {
    std::vector<ProcessedVariable> out;
    auto node = r.raw("processed_variables");
    if (!node || node.IsNull()) {
        return out;
    }
    const auto& doc = r.document();
    const std::string fix = "expected a list of 'name: {expression: ...}'";
    std::vector<std::pair<std::string, YAML::Node>> items; // key path, {name: props} or name
    if (node.IsSequence()) {
        for (size_t i = 0; i < node.size(); ++i) {
            items.emplace_back("processed_variables[" + std::to_string(i) + "]", node[i]);
        }
    } else if (node.IsMap()) {
        for (const auto& kv : node) {
            YAML::Node one(YAML::NodeType::Map);
            one[kv.first] = kv.second;
            items.emplace_back("processed_variables", one);
        }
    } else {
        r.fail("processed_variables", fix);
    }
    for (auto& [path, item] : items) {
        ProcessedVariable p;
        YAML::Node props;
        if (item.IsScalar()) {
            p.name = item.Scalar();
        } else if (item.IsMap() && item.size() == 1) {
            auto kv = *item.begin();
            p.name = kv.first.as<std::string>();
            props = kv.second;
            if (!props.IsNull() && !props.IsMap()) {
                r.fail(path + "." + p.name, fix);
            }
        } else {
            r.fail(path, fix);
        }
        const std::string vpath = r.key_path(path) + "." + p.name;
        p.where = doc.origin(vpath + "#key").str() + ": " + vpath;
        if (auto problem = output_name_problem(p.name, projected); !problem.empty()) {
            throw ConfigError(p.where + ": " + problem, "Choose another name");
        }
        if (props && props.IsMap()) {
            config::Reader vr(doc, props, vpath);
            if (vr.has("expression")) {
                p.expression = read_expression(vr, "expression", p.expression_where);
            }
            if (vr.has("valid_pixel_expression")) {
                p.valid_pixel_expression =
                    read_expression(vr, "valid_pixel_expression", p.valid_where);
            }
            vr.optional<bool>("load", false); // xcube: keep in memory; baims always does
            for (const auto& akv : props) {
                auto key = akv.first.as<std::string>();
                if (key == "expression" || key == "valid_pixel_expression" || key == "load") {
                    continue;
                }
                if (reserved_attribute_names().count(key)) {
                    throw ConfigError(doc.origin(vpath + "." + key + "#key").str() + ": " + vpath +
                                          "." + key + ": baims writes the attribute '" + key +
                                          "' itself",
                                      "Remove it; packing is set in output_writer_params.packing");
                }
                p.attrs[key] = attribute_value(doc, akv.second, vpath + "." + key);
            }
        }
        out.push_back(std::move(p));
    }
    return out;
}

// Refused before anything is allocated (a typo like 1e8 would otherwise run for minutes).
void check_grid_size(config::Reader& r, const std::string& key, double w, double h) {
    if (w > static_cast<double>(MAX_OUTPUT_AXIS) || h > static_cast<double>(MAX_OUTPUT_AXIS) ||
        w * h > MAX_OUTPUT_PIXELS) {
        char buf[80];
        std::snprintf(buf, sizeof buf, "%.0f x %.0f", w, h);
        r.fail(key,
               std::string("the grid would be ") + buf +
                   " pixels; this version allows at most 1000000 pixels along each axis and 1e11 "
                   "pixels per time step",
               "Check the numbers; split a larger area into several cubes");
    }
}

// output_writer_params.chunksizes: {time: 1, lat:, lon:} ({time:, y:, x:} on a projected
// output_crs); 0 = not given.
void parse_chunks(config::Reader& w, GenConfig& c) {
    auto cs = w.child("chunksizes");
    const bool xy = c.crs.has_value();
    const char* ydim = xy ? "y" : "lat";
    const char* xdim = xy ? "x" : "lon";
    for (const char* other :
         xy ? std::vector<const char*>{"lat", "lon"} : std::vector<const char*>{"x", "y"}) {
        if (cs.has(other)) {
            cs.fail(other,
                    std::string("the cube's dimensions are time, ") + ydim + " and " + xdim +
                        (xy ? " (output_crs is projected)" : " (output_crs is EPSG:4326)"),
                    std::string("Give the chunk sizes as {") + ydim + ": N, " + xdim + ": N}");
        }
    }
    cs.allow_only({"time", ydim, xdim});
    auto positive = [&](const char* key, long def) {
        const long v = cs.optional<long>(key, def);
        if (v <= 0) {
            cs.fail(key, "expected a positive whole number, got " + std::to_string(v),
                    "Remove it for the default (512, or the cube's own)");
        }
        return static_cast<size_t>(v);
    };
    c.chunk_time = positive("time", 1);
    c.chunk_lat = cs.has(ydim) ? positive(ydim, 0) : 0;
    c.chunk_lon = cs.has(xdim) ? positive(xdim, 0) : 0;
    if (c.chunk_time != 1) {
        cs.fail("time", "only time chunks of 1 are supported", "Remove it or set 1");
    }
    cs.finish();
}

} // namespace

std::string output_name_problem(const std::string& name, bool projected) {
    if (name.empty()) {
        return "the output variable name is empty";
    }
    static const std::set<std::string> projected_coordinates = {"time", "time_bnds", "y",  "y_bnds",
                                                                "x",    "x_bnds",    "crs"};
    if (projected && projected_coordinates.count(name)) {
        return "'" + name +
               "' is a coordinate of the projected cube (time, time_bnds, y, y_bnds, x, x_bnds, "
               "crs) and cannot name a data variable";
    }
    if (cube_coordinate_names().count(name)) {
        return "'" + name +
               "' is a coordinate of the cube (time, time_bnds, lat, lat_bnds, lon, "
               "lon_bnds, crs) and cannot name a data variable";
    }
    if (name[0] == '.') {
        return "'" + name + "' starts with '.', which Zarr and baims reserve for their own files";
    }
    if (name.find_first_of("/\\") != std::string::npos) {
        return "'" + name + "' holds '/' or '\\', which would make it a folder of the cube";
    }
    for (unsigned char ch : name) {
        if (ch < 0x20 || ch == 0x7f) {
            return "the output variable name holds a control character";
        }
    }
    return {};
}

void check_output_folder(const std::filesystem::path& out, bool dry_run) {
    namespace sfs = std::filesystem;
    std::error_code ec;
    // A cube made inside another one (output_path under a folder with .zgroup, e.g. a typo'd
    // -o c.zarr/new.zarr) would become a group of that cube: refused, for a new and an
    // existing one.
    const sfs::path abs = sfs::absolute(out, ec).lexically_normal();
    for (sfs::path p = (abs.has_filename() ? abs : abs.parent_path()).parent_path();
         !p.empty() && p != p.root_path(); p = p.parent_path()) {
        if (sfs::exists(p / ".zgroup", ec)) {
            throw OutputError("output_path '" + out.string() + "' lies inside the Zarr cube '" +
                                  p.string() + "'",
                              "Choose an output_path outside of any cube");
        }
    }
    if (sfs::exists(out, ec)) {
        return;
    }
    sfs::path name = out;
    if (!name.has_filename()) {
        name = name.parent_path(); // "cube.zarr/"
    }
    const sfs::path parent = name.has_parent_path() ? name.parent_path() : sfs::path(".");
    if (!sfs::is_directory(parent, ec)) {
        if (sfs::exists(parent, ec)) {
            throw OutputError("cannot create cube '" + out.string() + "': '" + parent.string() +
                                  "' is not a folder",
                              "Choose another output_path");
        }
        if (dry_run) {
            log::warn("the folder '" + parent.string() +
                      "' of output_path does not exist; a real run creates it");
            return;
        }
        sfs::create_directories(parent, ec);
        if (ec) {
            throw OutputError("cannot create cube '" + out.string() + "': its folder '" +
                                  parent.string() + "' does not exist and cannot be created (" +
                                  ec.message() + ")",
                              "Create the folder or choose another output_path");
        }
    }
    if (::access(parent.c_str(), W_OK | X_OK) != 0) {
        throw OutputError("cannot create cube '" + out.string() + "': the folder '" +
                              parent.string() + "' is not writable (" + std::strerror(errno) + ")",
                          "Fix its permissions or choose another output_path");
    }
}

std::vector<std::string> config_drift(const GenConfig& c, const CubeState& cube,
                                      const std::string& recipe, const std::set<size_t>& passed,
                                      bool up_to_date) {
    std::vector<std::string> out;
    for (const auto& v : c.variables) {
        const std::string name = v.rename.empty() ? v.pattern : v.rename;
        auto it = cube.vars.find(name);
        if (it == cube.vars.end() || v.attrs.empty()) {
            continue;
        }
        std::vector<std::string> differ;
        for (auto a = v.attrs.begin(); a != v.attrs.end(); ++a) {
            if (!it->second.attrs.contains(a.key()) || it->second.attrs[a.key()] != a.value()) {
                differ.push_back(a.key());
            }
        }
        if (!differ.empty()) {
            out.push_back("the cube keeps its own attributes of '" + name + "' (" +
                          text::join(differ, ", ") +
                          " differ from output_variables): variable attributes of the config "
                          "apply to new cubes only");
        }
    }
    size_t other = 0;
    for (size_t t = 0; t < cube.sources.size(); ++t) {
        const auto& rec = cube.sources[t];
        if (!passed.count(t) && rec.is_object() && rec.value("recipe", recipe) != recipe) {
            ++other;
        }
    }
    if (other > 0) {
        out.push_back(std::to_string(other) + " of the cube's " + std::to_string(cube.nt()) +
                      " time steps were made with other settings (variables, resampling, "
                      "compression, packing or mosaicking) and are not among this run's inputs: "
                      "the cube mixes both until those inputs are given again");
    }
    if (up_to_date) {
        std::vector<std::string> differ;
        for (auto it = c.metadata.begin(); it != c.metadata.end(); ++it) {
            if (!cube.attrs.contains(it.key()) || cube.attrs[it.key()] != it.value()) {
                differ.push_back(it.key());
            }
        }
        if (!differ.empty()) {
            out.push_back("output_metadata differs from the cube's global attributes (" +
                          text::join(differ, ", ") +
                          ") but the cube is up to date, so they are not rewritten; they are "
                          "applied when a time step is next written");
        }
    }
    return out;
}

grid::Grid GenConfig::output_grid() const {
    if (size) {
        return grid::Grid::from_size(region, size->first, size->second);
    }
    return grid::Grid::from_resolution(region, resolution->first, resolution->second);
}

// output_writer_params.packing: {<var>: {dtype, scale_factor, add_offset, _FillValue}}, as xcube
// (xarray's CF encoding).
std::map<std::string, Packing> parse_packing(config::Reader& w) {
    std::map<std::string, Packing> out;
    auto node = w.raw("packing");
    if (!node || node.IsNull()) {
        return out;
    }
    if (!node.IsMap()) {
        w.fail("packing", "expected a mapping of variable names to {dtype, scale_factor, "
                          "add_offset, _FillValue}");
    }
    auto all = w.child("packing");
    std::vector<std::string> names;
    for (const auto& kv : node) {
        names.push_back(kv.first.as<std::string>());
    }
    for (const auto& name : names) {
        auto v = all.child(name);
        v.allow_only({"dtype", "scale_factor", "add_offset", "_FillValue"});
        Packing p;
        p.where = all.where(name) + ": " + all.key_path(name);
        const auto dtype =
            v.one_of("dtype", {"int8", "uint8", "int16", "uint16", "int32", "uint32"}, "");
        if (dtype.empty()) {
            v.fail("dtype", "is required (int8, uint8, int16, uint16, int32 or uint32)");
        }
        p.encoding.dtype = zarr_dtype_of(dtype);
        p.encoding.scale = v.optional<double>("scale_factor", 1.0);
        if (!(p.encoding.scale != 0.0) || !std::isfinite(p.encoding.scale)) {
            v.fail("scale_factor", "expected a finite number other than 0");
        }
        p.encoding.offset = v.optional<double>("add_offset", 0.0);
        if (!std::isfinite(p.encoding.offset)) {
            v.fail("add_offset", "expected a finite number");
        }
        const auto fill = v.maybe<double>("_FillValue");
        const auto [lo, hi] = dtype_range(p.encoding.dtype);
        if (!fill) {
            v.fail("_FillValue", "is required: integers have no NaN to mark missing data",
                   "e.g. _FillValue: " +
                       std::string(lo < 0 ? std::to_string(static_cast<long long>(lo))
                                          : std::to_string(static_cast<long long>(hi))));
        }
        if (*fill != std::floor(*fill) || *fill < lo || *fill > hi) {
            v.fail("_FillValue", "expected a whole number within " + dtype + " (" +
                                     std::to_string(static_cast<long long>(lo)) + ".." +
                                     std::to_string(static_cast<long long>(hi)) + ")");
        }
        p.encoding.fill = *fill;
        v.finish();
        out[name] = std::move(p);
    }
    all.finish();
    return out;
}

GenConfig parse_gen_config(const config::Document& doc) {
    config::Reader r(doc, doc.root());
    // Key names first: a typo is reported as such, not as a missing key.
    r.allow_only({"input_paths", "input_processor_name", "input_processor_params", "output_region",
                  "output_size", "output_resolution", "output_crs", "output_variables",
                  "output_resampling", "output_path", "output_writer_name", "output_writer_params",
                  "output_metadata", "processed_variables"});
    GenConfig c;

    if (r.has("input_paths")) {
        auto n = r.raw("input_paths");
        if (n.IsScalar()) {
            c.input_paths.push_back(n.Scalar());
        } else {
            c.input_paths = r.required<std::vector<std::string>>("input_paths");
        }
    } else {
        r.raw("input_paths");
    }
    c.input_processor = r.one_of("input_processor_name",
                                 {"default", "curvilinear", "geotiff", "sentinel2-l2a"}, "default");
    {
        auto p = r.child("input_processor_params");
        p.allow_only({"mosaic", "xy_names", "bands", "time_pattern", "resolution"});
        c.mosaic = p.optional<bool>("mosaic", false);
        // The input kind's own params (src/io/gdal/*_input.cpp, netcdf/swath_input.cpp), handed
        // to io::open_input.
        if (p.has("xy_names")) {
            const auto xy = p.required<std::vector<std::string>>("xy_names");
            if (xy.size() != 2) {
                p.fail("xy_names", "expected two names [lon, lat]");
            }
            c.input_params["xy_names"] = xy;
        }
        if (p.has("bands")) {
            c.input_params["bands"] = p.required<std::vector<std::string>>("bands");
        }
        if (p.has("time_pattern")) {
            c.input_params["time_pattern"] = p.required<std::string>("time_pattern");
        }
        if (p.has("resolution")) {
            const int res = p.required<int>("resolution");
            if (res != 10 && res != 20 && res != 60) {
                p.fail("resolution", "must be 10, 20 or 60 (metres: the R10m/R20m/R60m folder)");
            }
            c.input_params["resolution"] = res;
        }
        p.finish();
    }

    auto region = r.required<std::vector<double>>("output_region");
    if (region.size() != 4) {
        r.fail("output_region", "expected 4 numbers [lon_min, lat_min, lon_max, lat_max], got " +
                                    std::to_string(region.size()));
    }
    c.region = {region[0], region[1], region[2], region[3]};
    if (!(c.region.xmax > c.region.xmin) || !(c.region.ymax > c.region.ymin)) {
        r.fail("output_region", "the region is empty or inverted (min must be below max)");
    }
    c.output_crs = r.optional<std::string>("output_crs", "EPSG:4326");
    try {
        c.crs = io::parse_output_crs(c.output_crs);
    } catch (const ConfigError& e) {
        r.fail("output_crs", e.what(), e.hint());
    }
    if (!c.crs && (c.region.ymin < -90 || c.region.ymax > 90)) {
        r.fail("output_region", "latitudes must lie within -90..90");
    }
    if (r.has("output_size") && r.has("output_resolution")) {
        r.fail("output_resolution", "give either output_size or output_resolution, not both");
    }
    if (r.has("output_size")) {
        auto s = r.required<std::vector<double>>("output_size");
        if (s.size() != 2 || !(s[0] >= 1) || !(s[1] >= 1) || s[0] != std::floor(s[0]) ||
            s[1] != std::floor(s[1])) {
            r.fail("output_size", "expected two positive whole numbers [width, height]");
        }
        check_grid_size(r, "output_size", s[0], s[1]);
        c.size = std::make_pair(static_cast<size_t>(s[0]), static_cast<size_t>(s[1]));
    } else if (r.has("output_resolution")) {
        auto n = r.raw("output_resolution");
        std::vector<double> res;
        if (n.IsScalar()) {
            res = {r.required<double>("output_resolution")};
        } else {
            res = r.required<std::vector<double>>("output_resolution");
        }
        if (res.size() == 1) {
            res.push_back(res[0]);
        }
        if (res.size() != 2 || !(res[0] > 0) || !(res[1] > 0)) {
            r.fail("output_resolution", "expected a positive pixel size, or [x, y]");
        }
        c.resolution = std::make_pair(res[0], res[1]);
        double w = c.region.width() / res[0], h = c.region.height() / res[1];
        check_grid_size(r, "output_resolution", std::round(w), std::round(h));
        if (std::abs(w - std::round(w)) > 1e-6 * w || std::abs(h - std::round(h)) > 1e-6 * h) {
            r.fail("output_resolution",
                   "the region is not a whole number of pixels of this size (" + std::to_string(w) +
                       " x " + std::to_string(h) + ")",
                   "Adjust output_region or use output_size");
        }
    } else {
        r.fail("output_size", "is required (or output_resolution)");
    }
    c.variables = parse_variables(r, c.crs.has_value());
    c.resampling = parse_resampling(r.one_of("output_resampling", resampling_names(), "nearest"));
    c.output_path = r.optional<std::string>("output_path", "");
    r.one_of("output_writer_name", {"zarr"}, "zarr");
    {
        auto w = r.child("output_writer_params");
        w.allow_only({"chunksizes", "compressor", "packing"});
        parse_chunks(w, c);
        auto comp = w.child("compressor");
        comp.allow_only({"cname", "clevel", "shuffle", "id"});
        c.compressor.cname =
            comp.one_of("cname", {"lz4", "zstd", "blosclz", "lz4hc", "zlib"}, "lz4");
        c.compressor.clevel = comp.optional<int>("clevel", 5);
        if (c.compressor.clevel < 0 || c.compressor.clevel > 9) {
            comp.fail("clevel", "expected 0..9, got " + std::to_string(c.compressor.clevel));
        }
        auto shuffle = comp.raw("shuffle");
        if (shuffle && shuffle.IsScalar()) {
            const auto& s = shuffle.Scalar();
            if (s == "byte" || s == "1" || s == "true") {
                c.compressor.shuffle = 1;
            } else if (s == "bit" || s == "2") {
                c.compressor.shuffle = 2;
            } else if (s == "none" || s == "0" || s == "false") {
                c.compressor.shuffle = 0;
            } else {
                comp.fail("shuffle", "expected byte, bit or none, got '" + s + "'");
            }
        }
        comp.finish({"id"});
        c.packing = parse_packing(w);
        w.finish();
    }
    {
        auto md = r.raw("output_metadata");
        if (md && md.IsMap()) {
            flatten(doc, md, "output_metadata", "", c.metadata);
            if (c.metadata.contains("keep_input_attrs")) {
                const auto& k = c.metadata["keep_input_attrs"];
                const std::string v = k.is_string() ? text::to_lower(k.get<std::string>()) : "";
                if (v == "true" || v == "yes" || v == "on") {
                    c.keep_input_attrs = true;
                } else if (v != "false" && v != "no" && v != "off") {
                    const std::string where = "output_metadata.keep_input_attrs";
                    throw ConfigError(
                        doc.origin(where).str() + ": " + where + ": expected true or false, got " +
                            (k.is_string() ? "'" + k.get<std::string>() + "'" : k.dump()),
                        "Write keep_input_attrs: true to keep the inputs' global "
                        "attributes per time step, or remove it");
                }
                c.metadata.erase("keep_input_attrs");
            }
            if (c.metadata.contains(INPUT_ATTRS)) {
                r.fail("output_metadata",
                       std::string(INPUT_ATTRS) +
                           ": this global attribute is written by baims (the inputs' own "
                           "attributes, with keep_input_attrs: true); give it another name");
            }
        } else if (md && !md.IsNull()) {
            r.fail("output_metadata", "expected a mapping of attribute names to values");
        }
    }
    c.processed = parse_processed(r, c.crs.has_value());
    r.finish({"output_writer_name"});

    c.output_grid(); // validates the grid
    return c;
}

std::string GenConfig::to_yaml() const {
    YAML::Emitter e;
    e << YAML::BeginMap;
    e << YAML::Key << "input_paths" << YAML::Value << input_paths;
    e << YAML::Key << "input_processor_name" << YAML::Value << input_processor;
    e << YAML::Key << "input_processor_params" << YAML::Value << YAML::BeginMap << YAML::Key
      << "mosaic" << YAML::Value << mosaic;
    if (input_params.contains("xy_names")) {
        e << YAML::Key << "xy_names" << YAML::Value << YAML::Flow
          << input_params["xy_names"].get<std::vector<std::string>>();
    }
    if (input_params.contains("bands")) {
        e << YAML::Key << "bands" << YAML::Value << YAML::Flow
          << input_params["bands"].get<std::vector<std::string>>();
    }
    if (input_params.contains("time_pattern")) {
        e << YAML::Key << "time_pattern" << YAML::Value
          << input_params["time_pattern"].get<std::string>();
    }
    if (input_params.contains("resolution")) {
        e << YAML::Key << "resolution" << YAML::Value << input_params["resolution"].get<int>();
    }
    e << YAML::EndMap;
    e << YAML::Key << "output_region" << YAML::Value << YAML::Flow
      << std::vector<double>{region.xmin, region.ymin, region.xmax, region.ymax};
    auto g = output_grid();
    e << YAML::Key << "output_size" << YAML::Value << YAML::Flow
      << std::vector<size_t>{g.width(), g.height()};
    e << YAML::Key << "output_crs" << YAML::Value << output_crs;
    e << YAML::Key << "output_resampling" << YAML::Value << to_string(resampling);
    e << YAML::Key << "output_variables" << YAML::Value << YAML::BeginSeq;
    for (const auto& v : variables) {
        if (v.rename.empty() && !v.resampling && v.attrs.empty() &&
            v.valid_pixel_expression.empty()) {
            e << v.pattern;
        } else {
            e << YAML::BeginMap << YAML::Key << v.pattern << YAML::Value << YAML::BeginMap;
            if (!v.rename.empty()) {
                e << YAML::Key << "name" << YAML::Value << v.rename;
            }
            if (v.resampling) {
                e << YAML::Key << "resampling" << YAML::Value << to_string(*v.resampling);
            }
            if (!v.valid_pixel_expression.empty()) {
                e << YAML::Key << "valid_pixel_expression" << YAML::Value
                  << v.valid_pixel_expression;
            }
            for (auto it = v.attrs.begin(); it != v.attrs.end(); ++it) {
                e << YAML::Key << it.key() << YAML::Value << it.value().dump();
            }
            e << YAML::EndMap << YAML::EndMap;
        }
    }
    e << YAML::EndSeq;
    if (!processed.empty()) {
        e << YAML::Key << "processed_variables" << YAML::Value << YAML::BeginSeq;
        for (const auto& p : processed) {
            e << YAML::BeginMap << YAML::Key << p.name << YAML::Value << YAML::BeginMap;
            if (!p.expression.empty()) {
                e << YAML::Key << "expression" << YAML::Value << p.expression;
            }
            if (!p.valid_pixel_expression.empty()) {
                e << YAML::Key << "valid_pixel_expression" << YAML::Value
                  << p.valid_pixel_expression;
            }
            for (auto it = p.attrs.begin(); it != p.attrs.end(); ++it) {
                e << YAML::Key << it.key() << YAML::Value
                  << (it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
            }
            e << YAML::EndMap << YAML::EndMap;
        }
        e << YAML::EndSeq;
    }
    e << YAML::Key << "output_path" << YAML::Value << output_path;
    e << YAML::Key << "output_writer_params" << YAML::Value << YAML::BeginMap;
    // lat/lon not given are not printed: min(512, size) for a new cube, the cube's own otherwise.
    e << YAML::Key << "chunksizes" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
      << "time" << YAML::Value << chunk_time;
    if (chunk_lat) {
        e << YAML::Key << (crs ? "y" : "lat") << YAML::Value << chunk_lat;
    }
    if (chunk_lon) {
        e << YAML::Key << (crs ? "x" : "lon") << YAML::Value << chunk_lon;
    }
    e << YAML::EndMap;
    e << YAML::Key << "compressor" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
      << "cname" << YAML::Value << compressor.cname << YAML::Key << "clevel" << YAML::Value
      << compressor.clevel << YAML::Key << "shuffle" << YAML::Value
      << (compressor.shuffle == 1   ? "byte"
          : compressor.shuffle == 2 ? "bit"
                                    : "none")
      << YAML::EndMap;
    if (!packing.empty()) {
        e << YAML::Key << "packing" << YAML::Value << YAML::BeginMap;
        for (const auto& [name, p] : packing) {
            const auto& enc = p.encoding;
            auto d = enc.describe();
            e << YAML::Key << name << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
              << "dtype" << YAML::Value << d.substr(0, d.find(' ')) << YAML::Key << "scale_factor"
              << YAML::Value << enc.scale << YAML::Key << "add_offset" << YAML::Value << enc.offset
              << YAML::Key << "_FillValue" << YAML::Value << static_cast<long long>(enc.fill)
              << YAML::EndMap;
        }
        e << YAML::EndMap;
    }
    e << YAML::EndMap;
    e << YAML::Key << "output_metadata" << YAML::Value << YAML::BeginMap;
    if (keep_input_attrs) {
        e << YAML::Key << "keep_input_attrs" << YAML::Value << true;
    }
    for (auto it = metadata.begin(); it != metadata.end(); ++it) {
        e << YAML::Key << it.key() << YAML::Value
          << (it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
    }
    e << YAML::EndMap;
    e << YAML::EndMap;
    return std::string(e.c_str()) + "\n";
}

} // namespace baims::cube
