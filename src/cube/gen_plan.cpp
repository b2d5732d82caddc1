// gen's plan: scan inputs, make slices, place them in the cube, choose variables, keep records.

#include "gen_plan.hpp"

#include "gen_expr.hpp"

#include "baims/core/error.hpp"
#include "baims/core/features.hpp"
#include "baims/core/log.hpp"
#include "baims/core/text.hpp"
#include "baims/io/fingerprint.hpp"
#include "baims/io/input.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>

namespace baims::cube::gen {
namespace {

namespace sfs = std::filesystem;

// An input's global attributes as the records keep them: text as valid UTF-8, NaN and infinite
// numbers as null (what JSON can hold: the record read back equals the one written, so a rerun
// finds nothing new).
nlohmann::json plain_attrs(const nlohmann::json& j) {
    if (j.is_string()) {
        return text::valid_utf8(j.get<std::string>());
    }
    if (j.is_number_float() && !std::isfinite(j.get<double>())) {
        return nullptr;
    }
    if (j.is_structured()) {
        nlohmann::json out = j.is_array() ? nlohmann::json::array() : nlohmann::json::object();
        for (auto it = j.begin(); it != j.end(); ++it) {
            if (j.is_array()) {
                out.push_back(plain_attrs(*it));
            } else {
                out[text::valid_utf8(it.key())] = plain_attrs(*it);
            }
        }
        return out;
    }
    return j;
}

const std::string& crc_of(const InputInfo& in) {
    if (in.crc.empty() && sfs::is_directory(in.path)) {
        // A product folder (.SEN3): the CRCs of its files, in name order.
        std::vector<sfs::path> files;
        for (const auto& e : sfs::directory_iterator(in.path)) {
            if (e.is_regular_file()) {
                files.push_back(e.path());
            }
        }
        std::sort(files.begin(), files.end());
        for (const auto& f : files) {
            in.crc += (in.crc.empty() ? "" : ",") + io::file_crc32(f);
        }
    }
    if (in.crc.empty()) {
        in.crc = io::file_crc32(in.path);
    }
    return in.crc;
}

} // namespace

void prefetch_crcs(const Slice& s, const std::vector<InputInfo>& inputs) {
    for (const auto& src : s.sources) {
        try {
            crc_of(inputs[src.input]);
        } catch (const std::exception&) {
            inputs[src.input].crc.clear(); // read again when needed, which reports the error
        }
    }
}

// The time bounds of slice s equal those of the cube's time step it replaces.
bool same_bounds(const CubeState& cube, const Slice& s) {
    if (!cube.has_bounds()) {
        return std::isnan(s.start) && std::isnan(s.end);
    }
    return same_time(cube.bounds[s.old_index].first, s.start) &&
           same_time(cube.bounds[s.old_index].second, s.end);
}

std::filesystem::path output_dir(const std::string& configured) {
    sfs::path p = sfs::path(configured).lexically_normal();
    while (p.has_relative_path() && p.filename().empty()) {
        p = p.parent_path(); // "cube.zarr/" -> "cube.zarr"
    }
    std::error_code ec;
    bool resolve = p.filename() == "." || p.filename() == ".." || sfs::is_symlink(p, ec);
    for (const auto& part : p) {
        resolve = resolve || part == "..";
    }
    if (resolve) {
        auto real = sfs::weakly_canonical(sfs::absolute(p, ec), ec);
        if (!ec && !real.empty()) {
            p = real;
            while (p.has_relative_path() && p.filename().empty()) {
                p = p.parent_path();
            }
        }
    }
    if (!p.has_relative_path()) {
        throw ConfigError("output_path '" + configured + "' is a file system root",
                          "Give the path of the cube's own directory");
    }
    return p;
}

std::vector<InputInfo> scan_inputs(const std::vector<std::string>& paths,
                                   const std::string& processor, const nlohmann::json& params,
                                   bool fail_fast, bool keep_attrs, GenResult& result) {
    std::vector<InputInfo> out;
    for (const auto& p : paths) {
        InputInfo info;
        info.path = p;
        info.processor = processor;
        info.params = params;
        try {
            const auto f = io::open_input(processor, p, params);
            // Without a swath's 2-D lat/lon (~160 MB for an OLCI scene): MapCache reads them
            // when it builds the input's map and frees them after.
            info.geometry = f->geometry_shape();
            info.steps = f->steps();
            info.calendar = f->calendar();
            info.vars = f->variables();
            info.identity = f->identity();
            if (keep_attrs) {
                info.attrs = plain_attrs(f->global_attrs());
            }
        } catch (const ConfigError& e) {
            // A bad input_processor_params value is the config's fault, the same for every
            // input: stop with the config exit code rather than skip each input.
            e.rethrow_with_context("input " + p);
        } catch (const Error& e) {
            if (fail_fast) {
                e.rethrow_with_context("input " + p);
            }
            // with the hint: what to do about this input (e.g. the input processor to use)
            log::error(std::string("skipping input: ") + e.what() +
                       (e.hint().empty() ? "" : ". " + e.hint()));
            result.failed.push_back(p + ": " + e.what());
            info.failed = true;
        }
        out.push_back(std::move(info));
    }
    return out;
}

grid::time::Calendar common_calendar(const std::vector<InputInfo>& inputs,
                                     const std::optional<CubeState>& old, const std::string& cube) {
    using grid::time::to_string;
    const InputInfo* first = nullptr;
    for (const auto& in : inputs) {
        if (in.failed) {
            continue;
        }
        if (old && in.calendar != old->calendar) {
            throw InputError("input '" + in.path + "' has calendar " + to_string(in.calendar) +
                                 ", cube '" + cube + "' has " + to_string(old->calendar),
                             "All slices of a cube share one calendar: write it to another cube");
        }
        if (first && in.calendar != first->calendar) {
            throw InputError("inputs '" + first->path + "' and '" + in.path +
                                 "' have different calendars (" + to_string(first->calendar) +
                                 ", " + to_string(in.calendar) + ")",
                             "All slices of a cube share one calendar: give inputs of one");
        }
        first = first ? first : &in;
    }
    return old ? old->calendar : first ? first->calendar : grid::time::Calendar::Gregorian;
}

std::vector<Slice> make_slices(const std::vector<InputInfo>& inputs, bool mosaic) {
    std::vector<Slice> all;
    for (size_t i = 0; i < inputs.size(); ++i) {
        if (inputs[i].failed) {
            continue;
        }
        for (size_t k = 0; k < inputs[i].steps.size(); ++k) {
            const auto& st = inputs[i].steps[k];
            Slice s;
            s.time = st.time;
            s.start = st.start.value_or(NaN);
            s.end = st.end.value_or(NaN);
            s.sources.push_back({i, k});
            all.push_back(std::move(s));
        }
    }
    std::stable_sort(all.begin(), all.end(),
                     [](const Slice& a, const Slice& b) { return a.time < b.time; });
    std::vector<Slice> merged;
    for (auto& s : all) {
        if (!merged.empty() && std::abs(merged.back().time - s.time) < ONE_MS_DAYS) {
            auto& prev = merged.back();
            if (mosaic) {
                prev.sources.push_back(s.sources.front());
                continue;
            }
            log::warn("inputs '" + inputs[prev.sources.front().input].path + "' and '" +
                      inputs[s.sources.front().input].path + "' have the same time " +
                      grid::time::format_iso(s.time, inputs[s.sources.front().input].calendar) +
                      "; the later one is used (set input_processor_params: {mosaic: true} to "
                      "combine them)");
            prev = std::move(s);
            continue;
        }
        merged.push_back(std::move(s));
    }
    return merged;
}

std::vector<OutVar> select_new_vars(const GenConfig& c, const std::vector<InputInfo>& inputs) {
    // Variables in order of first appearance over the good inputs.
    std::vector<const io::VarInfo*> available;
    std::set<std::string> seen;
    for (const auto& in : inputs) {
        for (const auto& v : in.vars) {
            if (seen.insert(v.name).second) {
                available.push_back(&v);
            }
        }
    }
    // processed_variables: named in output_variables only (xcube), or replacing an input variable.
    const auto processed = processed_var_infos(c, inputs);
    std::vector<const io::VarInfo*> named_only;
    for (const auto& p : processed) {
        auto it = std::find_if(available.begin(), available.end(),
                               [&](const io::VarInfo* v) { return v->name == p.name; });
        if (it != available.end()) {
            *it = &p;
        } else {
            named_only.push_back(&p);
        }
    }
    std::vector<OutVar> out;
    auto add = [&](const io::VarInfo& v, const OutputVariable* spec) {
        OutVar o;
        o.input = v.name;
        o.name = spec && !spec->rename.empty() ? spec->rename : v.name;
        o.resampling = spec && spec->resampling ? *spec->resampling
                       : !v.resampling.empty()  ? parse_resampling(v.resampling)
                                                : c.resampling;
        o.var.attrs = v.attrs;
        if (spec) {
            for (auto it = spec->attrs.begin(); it != spec->attrs.end(); ++it) {
                o.var.attrs[it.key()] = it.value();
            }
        }
        for (const auto& e : out) {
            if (e.name == o.name) {
                throw ConfigError("output variable '" + o.name + "' is defined twice",
                                  "Rename one of them in output_variables");
            }
        }
        out.push_back(std::move(o));
    };
    if (c.variables.empty()) {
        for (const auto* v : available) {
            add(*v, nullptr);
        }
    } else {
        for (const auto& spec : c.variables) {
            bool any = false;
            for (const auto* v : available) {
                if (text::glob_match(spec.pattern, v->name)) {
                    add(*v, &spec);
                    any = true;
                }
            }
            for (const auto* v : named_only) {
                if (!any && spec.pattern == v->name) {
                    add(*v, &spec);
                    any = true;
                }
            }
            if (!any) {
                std::vector<std::string> names;
                for (const auto* v : available) {
                    names.push_back(v->name);
                }
                std::string msg = "no input has the variable '" + spec.pattern + "'";
                auto guess = text::did_you_mean(spec.pattern, names);
                if (!guess.empty()) {
                    msg += " (did you mean '" + guess + "'?)";
                }
                throw InputError(msg, "The inputs have: " + text::join(names, ", "));
            }
        }
    }
    if (out.empty()) {
        throw InputError("the inputs have no data variables on a lat/lon or x/y grid",
                         "Check input_processor_name: curvilinear for 2-D lat/lon swaths, "
                         "geotiff, sentinel2-l2a");
    }
    return out;
}

std::string recipe_of(const std::vector<OutVar>& vars, const GenConfig& c) {
    nlohmann::json j = {{"baims", BAIMS_VERSION}, {"mosaic", c.mosaic}};
    for (const auto& v : vars) {
        j["vars"].push_back({v.name, v.input, static_cast<int>(v.resampling),
                             v.var.meta.compressor.to_json(), v.enc.to_json()});
    }
    if (auto e = expressions_recipe(c); !e.is_null()) {
        j["expressions"] = std::move(e);
    }
    // How the inputs are read (xy_names, bands, resolution, …): a change recomputes. Left out
    // when default, so that the recipe of a plain CF config does not change.
    if (c.input_processor != "default") {
        j["processor"] = c.input_processor;
    }
    if (!c.input_params.empty()) {
        j["input_params"] = c.input_params;
    }
    // FNV-1a, 64 bit: stable across builds and platforms (std::hash is not).
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char ch : j.dump()) {
        h = (h ^ ch) * 1099511628211ull;
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return hex;
}

nlohmann::json slice_record(const Slice& s, const std::vector<InputInfo>& inputs,
                            const std::string& recipe) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& src : s.sources) {
        const auto& in = inputs[src.input];
        auto fp = in.identity;
        fp["crc32"] = crc_of(in);
        fp["step"] = src.step;
        if (in.attrs.is_object()) {
            fp["attrs"] = in.attrs;
        }
        list.push_back(std::move(fp));
    }
    return {{"recipe", recipe}, {"inputs", std::move(list)}};
}

nlohmann::json with_input_attrs(nlohmann::json rec, const Slice& s,
                                const std::vector<InputInfo>& inputs) {
    auto& list = rec["inputs"];
    for (size_t i = 0; i < s.sources.size() && i < list.size(); ++i) {
        if (const auto& attrs = inputs[s.sources[i].input].attrs; attrs.is_object()) {
            list[i]["attrs"] = attrs;
        }
    }
    return rec;
}

bool record_matches(const nlohmann::json& rec, const Slice& s, const std::vector<InputInfo>& inputs,
                    const std::string& recipe, bool& refresh) {
    refresh = false;
    if (!rec.is_object() || rec.value("recipe", std::string()) != recipe) {
        return false;
    }
    const auto list = rec.value("inputs", nlohmann::json::array());
    if (!list.is_array() || list.size() != s.sources.size()) {
        return false;
    }
    for (size_t i = 0; i < list.size(); ++i) {
        const auto& r = list[i];
        const auto& in = inputs[s.sources[i].input];
        if (!r.is_object() || r.value("name", nlohmann::json()) != in.identity.at("name") ||
            r.value("size", nlohmann::json()) != in.identity.at("size") ||
            r.value("step", nlohmann::json()) != nlohmann::json(s.sources[i].step)) {
            return false;
        }
        if (r.value("mtime", nlohmann::json()) != in.identity.at("mtime")) {
            if (r.value("crc32", std::string()) != crc_of(in)) {
                return false;
            }
            refresh = true;
        }
    }
    return true;
}

DataVar new_data_var(const OutVar& o, const GenConfig& c, size_t H, size_t W, size_t cy,
                     size_t cx) {
    DataVar d;
    d.meta.shape = {0, H, W};
    d.meta.chunks = {1, cy, cx};
    d.meta.dtype = "<f4";
    d.meta.fill_value = "NaN";
    d.meta.compressor = c.compressor;
    d.attrs = o.var.attrs;
    d.attrs["_ARRAY_DIMENSIONS"] =
        c.crs ? nlohmann::json{"time", "y", "x"} : nlohmann::json{"time", "lat", "lon"};
    d.attrs["grid_mapping"] = "crs";
    d.attrs["_CRS"] = gdal_crs_attr(c.crs);
    if (auto it = c.packing.find(o.name); it != c.packing.end()) {
        apply_encoding(it->second.encoding, d.meta, d.attrs);
    }
    return d;
}

std::vector<OutVar> cube_vars(const GenConfig& c, const std::vector<InputInfo>& inputs,
                              const CubeState& old, const std::string& cube) {
    std::vector<OutVar> vars;
    std::set<std::string> input_names;
    std::map<std::string, std::string> kind_resampling; // VarInfo::resampling by input variable
    for (const auto& in : inputs) {
        for (const auto& v : in.vars) {
            input_names.insert(v.name);
            if (!v.resampling.empty()) {
                kind_resampling.emplace(v.name, v.resampling);
            }
        }
    }
    for (const auto& p : c.processed) {
        input_names.insert(p.name);
    }
    if (!c.variables.empty()) {
        auto wanted = select_new_vars(c, inputs);
        for (auto& w : wanted) {
            if (!old.vars.count(w.name)) {
                throw OutputError("cube '" + cube + "' has no variable '" + w.name + "'",
                                  "Its variables are: " + text::join(old.var_order, ", ") +
                                      "; write new variables to a new cube");
            }
        }
    }
    for (const auto& name : old.var_order) {
        OutVar o;
        o.name = name;
        o.input = name;
        o.resampling = c.resampling;
        bool set = false;
        for (const auto& spec : c.variables) {
            std::string out_name = spec.rename.empty() ? spec.pattern : spec.rename;
            if (out_name == name) {
                o.input = spec.pattern;
                if (spec.resampling) {
                    o.resampling = *spec.resampling;
                    set = true;
                }
            }
        }
        if (auto it = kind_resampling.find(o.input); !set && it != kind_resampling.end()) {
            o.resampling = parse_resampling(it->second);
        }
        o.var = old.vars.at(name);
        o.enc = encoding_of(name, o.var.meta, o.var.attrs);
        if (auto it = c.packing.find(name);
            it != c.packing.end() && !it->second.encoding.same_as(o.enc)) {
            throw OutputError("cube '" + cube + "' stores '" + name + "' as " + o.enc.describe() +
                                  "; the config asks for " + it->second.encoding.describe(),
                              "Use the cube's packing (or none) or another output_path");
        }
        if (!input_names.count(o.input)) {
            log::warn("no input has variable '" + o.input + "' of the cube; time steps " +
                      "given again keep their '" + name + "' data, new ones have none");
        }
        vars.push_back(std::move(o));
    }
    if (vars.empty()) {
        throw InputError("cube '" + cube + "' has no data variables (time, lat, lon)");
    }
    return vars;
}

void check_packing_names(const GenConfig& c, const std::vector<OutVar>& vars) {
    for (const auto& entry : c.packing) {
        // (not a structured binding: Clang before 16 cannot capture one in the lambda)
        const std::string& name = entry.first;
        const auto& p = entry.second;
        if (std::none_of(vars.begin(), vars.end(),
                         [&](const OutVar& o) { return o.name == name; })) {
            std::vector<std::string> names;
            for (const auto& o : vars) {
                names.push_back(o.name);
            }
            const auto guess = text::did_you_mean(name, names);
            throw ConfigError(p.where + ": no output variable '" + name + "'" +
                                  (guess.empty() ? "" : " (did you mean '" + guess + "'?)"),
                              "Output variables: " + text::join(names, ", "));
        }
    }
}

void place_slices(std::vector<Slice>& slices, const CubeState* old) {
    const size_t old_nt = old ? old->nt() : 0;
    for (size_t i = 0; i < slices.size(); ++i) {
        slices[i].seq = i;
        if (old) {
            for (size_t t = 0; t < old_nt; ++t) {
                if (std::abs(old->time[t] - slices[i].time) < ONE_MS_DAYS) {
                    slices[i].replace = true;
                    slices[i].old_index = t;
                }
            }
        }
    }
}

std::set<size_t> replaced_steps(const std::vector<Slice>& slices) {
    std::set<size_t> out;
    for (const auto& s : slices) {
        if (s.replace) {
            out.insert(s.old_index);
        }
    }
    return out;
}

Unchanged split_unchanged(std::vector<Slice> slices, const CubeState& old,
                          const std::vector<InputInfo>& inputs, const std::string& recipe) {
    Unchanged u;
    for (auto& s : slices) {
        bool same = false, refresh = false;
        if (s.replace) {
            same = same_bounds(old, s) &&
                   record_matches(old.sources[s.old_index], s, inputs, recipe, refresh);
        }
        if (same) {
            ++u.count;
            if (refresh) {
                // New mtimes; attributes kept before stay when not read this time (the step is
                // not made again).
                auto rec = slice_record(s, inputs, recipe);
                const auto& was = old.sources[s.old_index]["inputs"];
                for (size_t i = 0; i < rec["inputs"].size() && i < was.size(); ++i) {
                    if (!rec["inputs"][i].contains("attrs") && was[i].contains("attrs")) {
                        rec["inputs"][i]["attrs"] = was[i]["attrs"];
                    }
                }
                u.refreshed.emplace_back(s.old_index, std::move(rec));
            } else if (std::none_of(s.sources.begin(), s.sources.end(), [&](const Source& src) {
                           return inputs[src.input].attrs.is_object();
                       })) {
                // no attributes read (keep_input_attrs off): nothing to take
            } else if (auto rec = with_input_attrs(old.sources[s.old_index], s, inputs);
                       rec != old.sources[s.old_index]) {
                // keep_input_attrs on a step made without it (or the input's attributes
                // changed in place): the record takes them, the data is not recomputed.
                u.refreshed.emplace_back(s.old_index, std::move(rec));
            }
        } else {
            u.todo.push_back(std::move(s));
        }
    }
    return u;
}

CubeState new_cube_state(const grid::Grid& g, grid::time::Calendar calendar, size_t cy, size_t cx,
                         const std::vector<Slice>& written, const std::vector<OutVar>& vars,
                         const std::vector<InputInfo>& inputs, const std::string& recipe) {
    CubeState st;
    st.grid = g;
    st.calendar = calendar;
    st.chunk_y = cy;
    st.chunk_x = cx;
    bool any_bounds = false;
    for (const auto& s : written) {
        st.time.push_back(s.time);
        st.bounds.emplace_back(s.start, s.end);
        st.sources.push_back(slice_record(s, inputs, recipe));
        any_bounds = any_bounds || !std::isnan(s.start);
    }
    if (!any_bounds) {
        st.bounds.clear();
    }
    for (const auto& o : vars) {
        st.var_order.push_back(o.name);
        st.vars[o.name] = o.var;
    }
    return st;
}

MergedAxis merge_time_axis(const CubeState& old, const std::vector<Slice>& written,
                           std::vector<std::pair<size_t, nlohmann::json>> refreshed,
                           const std::vector<InputInfo>& inputs, const std::string& recipe) {
    struct Entry {
        double time;
        double start, end;
        long old_index;    // -1 = new
        long staged_index; // index into written, -1 = none
        nlohmann::json source;
    };
    const size_t old_nt = old.nt();
    MergedAxis m;
    std::vector<Entry> axis;
    for (size_t t = 0; t < old_nt; ++t) {
        axis.push_back({old.time[t], old.has_bounds() ? old.bounds[t].first : NaN,
                        old.has_bounds() ? old.bounds[t].second : NaN, static_cast<long>(t), -1,
                        t < old.sources.size() ? old.sources[t] : nlohmann::json()});
    }
    for (auto& [t, rec] : refreshed) {
        axis[t].source = std::move(rec);
    }
    for (size_t k = 0; k < written.size(); ++k) {
        const auto& s = written[k];
        if (s.replace) {
            auto& e = axis[s.old_index];
            e.start = s.start;
            e.end = s.end;
            e.staged_index = static_cast<long>(k);
            e.source = slice_record(s, inputs, recipe);
            ++m.replaced;
        } else {
            axis.push_back({s.time, s.start, s.end, -1, static_cast<long>(k),
                            slice_record(s, inputs, recipe)});
        }
    }
    std::stable_sort(axis.begin(), axis.end(),
                     [](const Entry& a, const Entry& b) { return a.time < b.time; });
    m.mapping.assign(old_nt, 0);
    m.final_index.assign(written.size(), 0);
    m.state = old;
    auto& st = m.state;
    st.time.clear();
    st.bounds.clear();
    st.sources.clear();
    bool any_bounds = false;
    for (size_t n = 0; n < axis.size(); ++n) {
        const auto& e = axis[n];
        st.time.push_back(e.time);
        st.bounds.emplace_back(e.start, e.end);
        st.sources.push_back(e.source);
        any_bounds = any_bounds || !std::isnan(e.start);
        if (e.old_index >= 0) {
            m.mapping[static_cast<size_t>(e.old_index)] = static_cast<long>(n);
        }
        if (e.staged_index >= 0) {
            m.final_index[static_cast<size_t>(e.staged_index)] = n;
        }
        if (e.old_index < 0) {
            if (old_nt == 0 || e.time > old.time.back()) {
                ++m.appended;
            } else {
                ++m.inserted;
            }
        }
    }
    if (!any_bounds) {
        st.bounds.clear();
    }
    return m;
}

} // namespace baims::cube::gen
