// baims gen: plan (inputs -> time slices -> positions in the cube), compute each slice (read,
// resample, chunk, compress) with reading of the next slice overlapped, then commit:
//  - a new cube is built in <path>.baims-new/ and renamed into place at the end;
//  - an existing cube is updated through a journal (see journal.hpp).

#include "baims/cube/gen.hpp"

#include "journal.hpp"
#include "parallel.hpp"

#include "baims/core/error.hpp"
#include "baims/core/fault.hpp"
#include "baims/core/features.hpp"
#include "baims/core/fs.hpp"
#include "baims/core/interrupt.hpp"
#include "baims/core/log.hpp"
#include "baims/core/progress.hpp"
#include "baims/core/text.hpp"
#include "baims/cube/cube_state.hpp"
#include "baims/cube/encoding.hpp"
#include "baims/grid/time.hpp"
#include "baims/io/cf_input.hpp"
#include "baims/io/fingerprint.hpp"
#include "baims/zarr/array.hpp"
#include "baims/zarr/codec.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <set>

namespace baims::cube {
namespace {

namespace sfs = std::filesystem;
constexpr float NaNf = std::numeric_limits<float>::quiet_NaN();
constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
constexpr double ONE_MS_DAYS = 1.0 / 86400000.0;

struct InputInfo {
    std::string path;
    std::vector<double> lat, lon;
    std::vector<io::TimeStep> steps;
    grid::time::Calendar calendar = grid::time::Calendar::Gregorian;
    std::vector<io::VarInfo> vars;
    nlohmann::json identity; // io::file_identity: name, size, mtime
    mutable std::string crc; // io::file_crc32, computed when first needed
    bool failed = false;
};

struct Source {
    size_t input;
    size_t step;
};

struct Slice {
    double time;
    double start = NaN, end = NaN;
    std::vector<Source> sources; // several only with mosaic: first valid pixel wins
    // placement
    bool replace = false;
    size_t old_index = 0; // for replace
    size_t seq = 0;
};

struct OutVar {
    std::string name;  // in the cube
    std::string input; // in the inputs
    Resampling resampling = Resampling::Nearest;
    DataVar var;
    Encoding enc; // how its float32 values are stored
};

std::string now_iso() {
    auto now = std::chrono::system_clock::now();
    double days = std::chrono::duration<double>(now.time_since_epoch()).count() / 86400.0;
    return grid::time::format_iso(std::floor(days * 86400.0) / 86400.0);
}

bool same_time(double a, double b) {
    return (std::isnan(a) && std::isnan(b)) || std::abs(a - b) < ONE_MS_DAYS;
}

// The time bounds of slice s equal those of the cube's time step it replaces.
bool same_bounds(const CubeState& cube, const Slice& s) {
    if (!cube.has_bounds()) {
        return std::isnan(s.start) && std::isnan(s.end);
    }
    return same_time(cube.bounds[s.old_index].first, s.start) &&
           same_time(cube.bounds[s.old_index].second, s.end);
}

// The cube's directory as gen uses it: without a trailing separator (so that "<path>.baims-new"
// is its sibling, not a folder inside it), "." and ".." resolved, and a symbolic link to a
// directory replaced by its target (the new cube is built beside the target and renamed onto it;
// the link stays). Ordinary paths are only made lexically normal, so messages show them as given.
sfs::path output_dir(const std::string& configured) {
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

std::string chunk_pos(size_t y, size_t x) {
    return std::to_string(y) + "." + std::to_string(x);
}

// Per-input axis maps, computed once per (input, method).
class AxisCache {
public:
    AxisCache(const grid::Grid& g)
        : m_grid(g)
        , m_xs(g.x_centers())
        , m_ys(g.y_centers()) {}

    const std::pair<AxisMap, AxisMap>& get(const InputInfo& in, size_t input, Resampling m) {
        std::lock_guard lock(m_mutex);
        auto key = std::make_pair(input, static_cast<int>(m));
        auto it = m_maps.find(key);
        if (it == m_maps.end()) {
            auto ym = map_axis(in.lat, m_ys, m_grid.dy(), m, false);
            auto xm = map_axis(in.lon, m_xs, m_grid.dx(), m, true);
            it = m_maps.emplace(key, std::make_pair(std::move(ym), std::move(xm))).first;
        }
        return it->second;
    }

private:
    grid::Grid m_grid;
    std::vector<double> m_xs, m_ys;
    std::mutex m_mutex;
    std::map<std::pair<size_t, int>, std::pair<AxisMap, AxisMap>> m_maps;
};

// The decoded source arrays of one slice: data[var][source] (empty when the input lacks it).
struct Loaded {
    std::vector<std::vector<std::vector<float>>> data;
    std::string error; // non-empty: the slice could not be read
};

// recycle: a Loaded whose buffers are reused (no reallocation, no zero-fill when sizes match).
Loaded load_slice(const Slice& s, const std::vector<InputInfo>& inputs,
                  const std::vector<OutVar>& vars, int threads, Loaded recycle = {}) {
    Loaded L = std::move(recycle);
    L.error.clear();
    L.data.resize(vars.size());
    try {
        for (size_t si = 0; si < s.sources.size(); ++si) {
            const auto& src = s.sources[si];
            const auto& in = inputs[src.input];
            auto file = io::CfInput::open(in.path);
            for (size_t v = 0; v < vars.size(); ++v) {
                L.data[v].resize(s.sources.size());
                if (!file.find(vars[v].input)) {
                    L.data[v][si].clear();
                    continue;
                }
                auto& buf = L.data[v][si];
                buf.resize(in.lat.size() * in.lon.size());
                file.read(vars[v].input, src.step, buf.data(),
                          [threads](size_t n, const std::function<void(size_t)>& task) {
                              parallel_for(n, threads, [&](size_t i, size_t) { task(i); });
                          });
            }
        }
    } catch (const Error& e) {
        L.error = e.what();
    }
    return L;
}

// Where computed chunks go.
class ChunkSink {
public:
    virtual ~ChunkSink() = default;
    // bytes empty: the chunk is all fill.
    virtual void put(size_t var, size_t y, size_t x, std::string_view bytes) = 0;
};

struct ComputeContext {
    const grid::Grid& grid;
    size_t cy, cx;
    const std::vector<OutVar>& vars;
    const std::vector<InputInfo>& inputs;
    AxisCache& axes;
    int threads;
};

// Computes one slice: each task resamples one chunk of one variable straight into a chunk
// buffer, checks whether it is all NaN, compresses it and hands it to the sink.
void compute_slice(const ComputeContext& ctx, const Slice& s, const Loaded& L, ChunkSink& sink) {
    const size_t W = ctx.grid.width(), H = ctx.grid.height();
    const size_t ny = (H + ctx.cy - 1) / ctx.cy, nx = (W + ctx.cx - 1) / ctx.cx;
    const size_t per_var = ny * nx;
    const size_t tasks = ctx.vars.size() * per_var;
    struct Buffers {
        std::vector<float> chunk, tmp;
        std::string encoded;               // reused: no allocation and zero-fill per chunk
        std::vector<unsigned char> packed; // the chunk in its stored type (packing)
    };
    std::vector<Buffers> buffers(static_cast<size_t>(std::max(ctx.threads, 1)));
    parallel_for(tasks, ctx.threads, [&](size_t task, size_t tid) {
        if ((task & 15) == 0) {
            check_interrupted();
        }
        const size_t v = task / per_var, by = (task % per_var) / nx, bx = task % nx;
        const auto& ov = ctx.vars[v];
        auto& b = buffers[tid];
        const size_t row0 = by * ctx.cy, nrows = std::min(ctx.cy, H - row0);
        const size_t col0 = bx * ctx.cx, ncols = std::min(ctx.cx, W - col0);
        const bool ragged = nrows < ctx.cy || ncols < ctx.cx;
        b.chunk.resize(ctx.cy * ctx.cx);
        if (ragged) {
            std::fill(b.chunk.begin(), b.chunk.end(), NaNf);
        }
        bool first = true;
        for (size_t si = 0; si < s.sources.size(); ++si) {
            const auto& data = L.data[v][si];
            if (data.empty()) {
                continue;
            }
            const auto& in = ctx.inputs[s.sources[si].input];
            const auto& maps = ctx.axes.get(in, s.sources[si].input, ov.resampling);
            if (first) {
                resample_block(data.data(), in.lon.size(), maps.first, maps.second, ov.resampling,
                               row0, nrows, col0, ncols, b.chunk.data(), ctx.cx);
                first = false;
                continue;
            }
            // mosaic: fill the gaps from the next source
            b.tmp.resize(ctx.cy * ctx.cx);
            resample_block(data.data(), in.lon.size(), maps.first, maps.second, ov.resampling, row0,
                           nrows, col0, ncols, b.tmp.data(), ctx.cx);
            for (size_t r = 0; r < nrows; ++r) {
                for (size_t k = r * ctx.cx; k < r * ctx.cx + ncols; ++k) {
                    if (std::isnan(b.chunk[k])) {
                        b.chunk[k] = b.tmp[k];
                    }
                }
            }
        }
        if (first) {
            // No source of this slice has the variable: nothing is written for it, so a slice
            // that replaces a time step keeps that variable's existing chunks (SPEC "Partial
            // inputs") and a new time step has none (fill).
            return;
        }
        if (std::all_of(b.chunk.begin(), b.chunk.end(), [](float x) { return std::isnan(x); })) {
            sink.put(v, by, bx, std::string_view());
            return;
        }
        if (ov.enc.identity()) {
            sink.put(v, by, bx,
                     zarr::encode_into(ov.var.meta.compressor, b.chunk.data(),
                                       b.chunk.size() * sizeof(float), sizeof(float), b.encoded,
                                       1));
            return;
        }
        const size_t item = ov.enc.itemsize();
        b.packed.resize(b.chunk.size() * item);
        encode_values(b.chunk.data(), b.chunk.size(), ov.enc, b.packed.data());
        sink.put(v, by, bx,
                 zarr::encode_into(ov.var.meta.compressor, b.packed.data(), b.packed.size(), item,
                                   b.encoded, 1));
    });
}

// The cube's store: files are written without an fsync each; sync() flushes the whole batch with
// one syncfs at every commit point (before the journal, the metadata and the final rename).
class CubeStore : public zarr::FileStore {
public:
    explicit CubeStore(const sfs::path& root)
        : zarr::FileStore(root, false) {}
    void sync() override { fs::sync_filesystem(root()); }

    // Chunks of a cube being created (in <path>.baims-new/) and staged chunks of an update are
    // seen by no reader before the commit, and a rerun after a crash discards them: they are
    // written in place, without put()'s temporary file and rename.
    void put_unpublished(const std::string& key, std::string_view data) {
        const auto path = root() / key;
        const auto dir = path.parent_path();
        {
            std::lock_guard lock(m_dirs_mutex);
            if (m_dirs.insert(dir.string()).second) {
                std::error_code ec;
                sfs::create_directories(dir, ec);
            }
        }
        fs::write_file(path, data);
    }

private:
    std::mutex m_dirs_mutex;
    std::set<std::string> m_dirs; // directories known to exist
};

// A new cube under construction (<path>.baims-new/): removed, with a message, when the run
// fails (disk full, --fail-fast, an interrupt) instead of filling the disk until the next run.
// kill -9 leaves it; the next run to the same path removes it.
class UnfinishedCube {
public:
    explicit UnfinishedCube(sfs::path dir)
        : m_dir(std::move(dir)) {}
    UnfinishedCube(const UnfinishedCube&) = delete;
    UnfinishedCube& operator=(const UnfinishedCube&) = delete;
    void done() { m_dir.clear(); }
    ~UnfinishedCube() {
        if (m_dir.empty()) {
            return;
        }
        std::error_code ec;
        sfs::remove_all(m_dir, ec);
        try {
            if (ec) {
                log::warn("could not remove the unfinished new cube '" + m_dir.string() +
                          "': " + ec.message() + "; remove it by hand");
            } else {
                log::warn("removed the unfinished new cube '" + m_dir.string() + "'");
            }
        } catch (...) { // NOLINT(bugprone-empty-catch): logging must not throw from here
        }
    }

private:
    sfs::path m_dir;
};

// New cube: chunks go straight to their final key in the temporary cube directory.
class DirectSink : public ChunkSink {
public:
    DirectSink(CubeStore& store, const std::vector<OutVar>& vars, size_t index)
        : m_store(store)
        , m_vars(vars)
        , m_index(index) {}
    void put(size_t v, size_t y, size_t x, std::string_view bytes) override {
        std::string key = m_vars[v].name + "/" + std::to_string(m_index) + "." + chunk_pos(y, x);
        fault_point("chunk");
        if (!bytes.empty()) { // the folder was emptied before: nothing to erase for a fill chunk
            m_store.put_unpublished(key, bytes);
        }
    }

private:
    CubeStore& m_store;
    const std::vector<OutVar>& m_vars;
    size_t m_index;
};

// Update: chunks are staged; for a replaced slice, chunks equal to the cube's are left alone.
class StagingSink : public ChunkSink {
public:
    StagingSink(CubeStore& store, const std::vector<OutVar>& vars, const Slice& s)
        : m_store(store)
        , m_vars(vars)
        , m_slice(s) {
        m_staged.seq = s.seq;
    }
    void put(size_t v, size_t y, size_t x, std::string_view bytes) override {
        const auto& name = m_vars[v].name;
        auto pos = chunk_pos(y, x);
        if (m_slice.replace) {
            auto existing = m_store.get(name + "/" + std::to_string(m_slice.old_index) + "." + pos);
            bool same = existing ? (*existing == bytes) : bytes.empty();
            if (same) {
                return;
            }
        }
        std::lock_guard lock(m_mutex);
        if (bytes.empty()) {
            m_staged.erase[name].push_back(pos);
        } else {
            fault_point("chunk");
            m_store.put_unpublished(
                STAGING_DIR + "/" + std::to_string(m_slice.seq) + "/" + name + "/" + pos, bytes);
            m_staged.write[name].push_back(pos);
        }
    }
    bool changed() const { return !m_staged.write.empty() || !m_staged.erase.empty(); }
    StagedSlice take() { return std::move(m_staged); }

private:
    CubeStore& m_store;
    const std::vector<OutVar>& m_vars;
    const Slice& m_slice;
    std::mutex m_mutex;
    StagedSlice m_staged;
};

// Opens every input's header; bad ones are reported and skipped (or fail fast).
std::vector<InputInfo> scan_inputs(const std::vector<std::string>& paths, bool fail_fast,
                                   GenResult& result) {
    std::vector<InputInfo> out;
    for (const auto& p : paths) {
        InputInfo info;
        info.path = p;
        try {
            auto f = io::CfInput::open(p);
            info.lat = f.lat();
            info.lon = f.lon();
            info.steps = f.steps();
            info.calendar = f.calendar();
            info.vars = f.variables();
            info.identity = io::file_identity(p);
        } catch (const Error& e) {
            if (fail_fast) {
                e.rethrow_with_context("input " + p);
            }
            log::error(std::string("skipping input: ") + e.what());
            result.failed.push_back(p + ": " + e.what());
            info.failed = true;
        }
        out.push_back(std::move(info));
    }
    return out;
}

// All slices of a cube share one calendar (SPEC §2): that of the good inputs and of the cube.
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
    std::vector<OutVar> out;
    auto add = [&](const io::VarInfo& v, const OutputVariable* spec) {
        OutVar o;
        o.input = v.name;
        o.name = spec && !spec->rename.empty() ? spec->rename : v.name;
        o.resampling = spec && spec->resampling ? *spec->resampling : c.resampling;
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
        throw InputError("the inputs have no data variables on a lat/lon grid");
    }
    return out;
}

// What, besides its inputs, decides the bytes of a time step: variables (with their input names
// and resampling), compressors, packing, mosaicking and the baims version. Grid and chunks are the
// cube's.
std::string recipe_of(const std::vector<OutVar>& vars, const GenConfig& c) {
    nlohmann::json j = {{"baims", BAIMS_VERSION}, {"mosaic", c.mosaic}};
    for (const auto& v : vars) {
        j["vars"].push_back({v.name, v.input, static_cast<int>(v.resampling),
                             v.var.meta.compressor.to_json(), v.enc.to_json()});
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

const std::string& crc_of(const InputInfo& in) {
    if (in.crc.empty()) {
        in.crc = io::file_crc32(in.path);
    }
    return in.crc;
}

// The .baims-sources.json record of a slice.
nlohmann::json slice_record(const Slice& s, const std::vector<InputInfo>& inputs,
                            const std::string& recipe) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& src : s.sources) {
        const auto& in = inputs[src.input];
        auto fp = in.identity;
        fp["crc32"] = crc_of(in);
        fp["step"] = src.step;
        list.push_back(std::move(fp));
    }
    return {{"recipe", recipe}, {"inputs", std::move(list)}};
}

// Whether the record rec of a time step vouches for slice s: same recipe, and per source the
// same name, size and step, and the same mtime, or else the same CRC-32 (a touched or copied
// file; then `refresh` is set: the record should take the new mtime). Reads no file whose mtime
// matches.
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

// When nothing else changes but the record of what made some steps (new mtimes, or steps made
// elsewhere recomputed to the same bytes): .baims-sources.json alone is replaced (atomically);
// the Zarr content is untouched.
void write_refreshed_records(CubeStore& store, const CubeState& old,
                             std::vector<std::pair<size_t, nlohmann::json>> refreshed) {
    if (refreshed.empty()) {
        return;
    }
    auto sources = old.sources;
    sources.resize(old.nt());
    for (auto& [t, rec] : refreshed) {
        sources[t] = std::move(rec);
    }
    write_sources(store, sources);
    store.sync();
}

constexpr size_t MAX_SOURCE_NAMES = 100;
constexpr size_t MAX_HISTORY_LINES = 100;

void set_global_attrs(CubeState& st, const GenConfig& c, const std::string& command_line) {
    auto& a = st.attrs;
    if (!a.is_object()) {
        a = nlohmann::json::object();
    }
    a["Conventions"] = "CF-1.9, ACDD-1.3";
    for (auto it = c.metadata.begin(); it != c.metadata.end(); ++it) {
        a[it.key()] = it.value();
    }
    const auto& e = st.grid.extent();
    a["geospatial_lon_min"] = e.xmin;
    a["geospatial_lon_max"] = e.xmax;
    a["geospatial_lat_min"] = e.ymin;
    a["geospatial_lat_max"] = e.ymax;
    a["geospatial_lon_resolution"] = st.grid.dx();
    a["geospatial_lat_resolution"] = st.grid.dy();
    a["geospatial_lon_units"] = "degrees_east";
    a["geospatial_lat_units"] = "degrees_north";
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
    a["coordinates"] =
        st.has_bounds() ? "crs lat_bnds lon_bnds time_bnds" : "crs lat_bnds lon_bnds";
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
    d.attrs["_ARRAY_DIMENSIONS"] = {"time", "lat", "lon"};
    d.attrs["grid_mapping"] = "crs";
    d.attrs["_CRS"] = gdal_crs_attr();
    if (auto it = c.packing.find(o.name); it != c.packing.end()) {
        apply_encoding(it->second.encoding, d.meta, d.attrs);
    }
    return d;
}

} // namespace

int GenResult::exit_code() const {
    return failed.empty() ? EXIT_OK : EXIT_PARTIAL;
}

std::string GenResult::summary() const {
    std::string s;
    if (up_to_date) {
        s = "cube is up to date (nothing changed)";
    } else {
        s = std::string(created ? "created cube: " : "updated cube: ") + std::to_string(appended) +
            " appended, " + std::to_string(inserted) + " inserted, " + std::to_string(replaced) +
            " replaced, " + std::to_string(unchanged) + " unchanged";
    }
    s += "; " + std::to_string(time_steps) + " time steps";
    if (!failed.empty()) {
        s += "; " + std::to_string(failed.size()) + " of " + std::to_string(inputs_total) +
             " inputs failed (see above)";
    }
    return s;
}

GenResult generate(const GenRequest& req) {
    const auto& c = req.config;
    GenResult result;
    if (c.output_path.empty()) {
        throw ConfigError("output_path is not set", "Set output_path in the config or give -o");
    }
    if (c.output_path.starts_with("/vsi")) {
        throw ConfigError("output_path '" + c.output_path +
                              "': " + not_available(Feature::VirtualOutput),
                          instead(Feature::VirtualOutput));
    }
    const sfs::path out_path = output_dir(c.output_path);
    check_output_folder(out_path, req.dry_run);
    auto specs = req.inputs.empty() ? c.input_paths : req.inputs;
    if (specs.empty()) {
        throw UsageError("no inputs given",
                         "Give input files on the command line or input_paths in the config");
    }
    auto paths = resolve_inputs(specs);
    result.inputs_total = paths.size();
    const grid::Grid g = c.output_grid();

    auto inputs = scan_inputs(paths, req.fail_fast, result);
    auto slices = make_slices(inputs, c.mosaic);
    if (slices.empty()) {
        throw InputError("none of the " + std::to_string(paths.size()) + " inputs could be read",
                         "See the messages above; nothing was written");
    }

    // Existing cube?
    std::error_code ec;
    bool exists = sfs::exists(out_path / ".zgroup", ec);
    if (!exists && sfs::exists(out_path, ec)) {
        bool empty_dir = sfs::is_directory(out_path, ec) && sfs::is_empty(out_path, ec);
        if (!empty_dir) {
            throw OutputError("output path '" + out_path.string() +
                                  "' exists and is not a Zarr cube",
                              "Choose another output_path or remove it");
        }
    }

    std::optional<CubeState> old;
    std::unique_ptr<fs::FileLock> lock;
    std::optional<UnfinishedCube> unfinished; // declared after the lock: removed while it is held
    std::unique_ptr<CubeStore> store;
    sfs::path work_root = out_path;
    if (exists) {
        if (!req.dry_run) {
            lock = std::make_unique<fs::FileLock>(out_path / LOCK_FILE,
                                                  "cube '" + out_path.string() + "'");
        }
        store = std::make_unique<CubeStore>(out_path);
        bool interrupted = false;
        if (auto j = read_journal(*store)) {
            interrupted = true;
            if (req.dry_run) {
                log::warn("cube '" + out_path.string() +
                          "' has an unfinished update; a real run completes it first");
            } else {
                log::warn("completing an interrupted update of cube '" + out_path.string() + "'");
                apply_journal(*store, out_path, std::move(*j));
            }
        }
        if (!req.dry_run) {
            store->erase_dir(STAGING_DIR);            // leftovers of an update that never committed
            remove_temp_files(out_path, interrupted); // and of a put killed half-way
        }
        old = read_cube(*store);
        if (!old) {
            throw OutputError("cube '" + out_path.string() + "' has no .zgroup");
        }
        if (!old->grid.compatible(g)) {
            throw OutputError(
                "cube '" + out_path.string() + "' has grid " + old->grid.describe() +
                    "; the config asks for " + g.describe(),
                "Use the cube's output_region and output_size, or another output_path");
        }
        if ((c.chunk_lat && c.chunk_lat != old->chunk_y) ||
            (c.chunk_lon && c.chunk_lon != old->chunk_x)) {
            throw OutputError("cube '" + out_path.string() + "' has chunks [1, " +
                                  std::to_string(old->chunk_y) + ", " +
                                  std::to_string(old->chunk_x) + "]; the config asks for [1, " +
                                  std::to_string(c.chunk_lat) + ", " + std::to_string(c.chunk_lon) +
                                  "]; " + not_available(Feature::Rechunk),
                              instead(Feature::Rechunk));
        }
    }

    const auto calendar = common_calendar(inputs, old, out_path.string());

    // Variables.
    std::vector<OutVar> vars;
    size_t cy, cx;
    if (old) {
        cy = old->chunk_y;
        cx = old->chunk_x;
        std::set<std::string> input_names;
        for (const auto& in : inputs) {
            for (const auto& v : in.vars) {
                input_names.insert(v.name);
            }
        }
        if (!c.variables.empty()) {
            auto wanted = select_new_vars(c, inputs);
            for (auto& w : wanted) {
                if (!old->vars.count(w.name)) {
                    throw OutputError("cube '" + out_path.string() + "' has no variable '" +
                                          w.name + "'",
                                      "Its variables are: " + text::join(old->var_order, ", ") +
                                          "; write new variables to a new cube");
                }
            }
        }
        for (const auto& name : old->var_order) {
            OutVar o;
            o.name = name;
            o.input = name;
            o.resampling = c.resampling;
            for (const auto& spec : c.variables) {
                std::string out_name = spec.rename.empty() ? spec.pattern : spec.rename;
                if (out_name == name) {
                    o.input = spec.pattern;
                    if (spec.resampling) {
                        o.resampling = *spec.resampling;
                    }
                }
            }
            o.var = old->vars.at(name);
            o.enc = encoding_of(name, o.var.meta, o.var.attrs);
            if (auto it = c.packing.find(name);
                it != c.packing.end() && !it->second.encoding.same_as(o.enc)) {
                throw OutputError("cube '" + out_path.string() + "' stores '" + name + "' as " +
                                      o.enc.describe() + "; the config asks for " +
                                      it->second.encoding.describe(),
                                  "Use the cube's packing (or none) or another output_path");
            }
            if (!input_names.count(o.input)) {
                log::warn("no input has variable '" + o.input + "' of the cube; time steps " +
                          "given again keep their '" + name + "' data, new ones have none");
            }
            vars.push_back(std::move(o));
        }
        if (vars.empty()) {
            throw InputError("cube '" + out_path.string() +
                             "' has no data variables (time, lat, lon)");
        }
    } else {
        cy = c.chunk_lat ? std::min(c.chunk_lat, g.height()) : std::min<size_t>(512, g.height());
        cx = c.chunk_lon ? std::min(c.chunk_lon, g.width()) : std::min<size_t>(512, g.width());
        vars = select_new_vars(c, inputs);
        for (auto& o : vars) {
            o.var = new_data_var(o, c, g.height(), g.width(), cy, cx);
            o.enc = encoding_of(o.name, o.var.meta, o.var.attrs);
        }
    }
    for (const auto& [name, p] : c.packing) {
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

    // Placement.
    size_t old_nt = old ? old->nt() : 0;
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
    // Slices that replace a time step made from the same inputs by the same recipe are not
    // recomputed (the inputs' size, mtime and CRC-32 are recorded in .baims-sources.json).
    const std::string recipe = recipe_of(vars, c);
    std::vector<std::pair<size_t, nlohmann::json>> refreshed; // old index, new record
    std::set<size_t> passed; // the cube's time steps this run's inputs make
    for (const auto& s : slices) {
        if (s.replace) {
            passed.insert(s.old_index);
        }
    }
    if (old && old->sources.size() == old_nt) {
        std::vector<Slice> todo;
        for (auto& s : slices) {
            bool same = false, refresh = false;
            if (s.replace) {
                same = same_bounds(*old, s) &&
                       record_matches(old->sources[s.old_index], s, inputs, recipe, refresh);
            }
            if (same) {
                ++result.unchanged;
                if (refresh) {
                    refreshed.emplace_back(s.old_index, slice_record(s, inputs, recipe));
                }
            } else {
                todo.push_back(std::move(s));
            }
        }
        for (const auto& w : config_drift(c, *old, recipe, passed, todo.empty())) {
            log::warn(w);
        }
        if (todo.empty()) {
            log::info("all " + std::to_string(slices.size()) +
                      " slices were made from these inputs before (same name, size and mtime or "
                      "CRC-32)");
            if (!req.dry_run) {
                write_refreshed_records(*store, *old, std::move(refreshed));
            }
            result.up_to_date = true;
            result.time_steps = old_nt;
            return result;
        }
        if (result.unchanged > 0) {
            log::info(std::to_string(result.unchanged) +
                      " slices were made from these inputs before: not recomputed");
        }
        slices = std::move(todo);
    }
    if (req.dry_run) {
        size_t rep = 0;
        for (const auto& s : slices) {
            rep += s.replace ? 1 : 0;
        }
        log::info("dry run: would " + std::string(old ? "update" : "create") + " cube '" +
                  out_path.string() + "' (" + g.describe() + ", chunks " + std::to_string(cy) +
                  "x" + std::to_string(cx) + ") with " + std::to_string(slices.size()) +
                  " slices (" + std::to_string(rep) +
                  " replacing existing ones), variables: " + [&] {
                      std::vector<std::string> n;
                      for (const auto& v : vars) {
                          n.push_back(v.name);
                      }
                      return text::join(n, ", ");
                  }());
        result.up_to_date = false;
        result.time_steps = old_nt;
        return result;
    }

    // Where to write.
    sfs::path tmp_root = out_path;
    tmp_root += ".baims-new";
    if (!old) {
        lock = std::make_unique<fs::FileLock>(tmp_root / LOCK_FILE,
                                              "cube '" + out_path.string() + "'");
        // A previous create that died leaves this folder behind: start it again.
        for (sfs::directory_iterator it(tmp_root, ec), end; !ec && it != end; it.increment(ec)) {
            if (it->path().filename() != LOCK_FILE) {
                sfs::remove_all(it->path(), ec);
            }
        }
        store = std::make_unique<CubeStore>(tmp_root);
        work_root = tmp_root;
        unfinished.emplace(tmp_root);
    }

    AxisCache axes(g);
    ComputeContext ctx{g, cy, cx, vars, inputs, axes, std::max(req.threads, 1)};

    Progress progress("gen", slices.size(), "slices");
    std::vector<Slice> written;
    std::vector<StagedSlice> staged;
    size_t create_index = 0;
    // All netCDF/HDF5 calls stay on this thread (HDF5 is not thread-safe here); the slice that
    // was read last is computed on a worker while the next one is read.
    Loaded current = load_slice(slices[0], inputs, vars, ctx.threads);
    Loaded spare; // buffers of the slice before, reused for the next read
    for (size_t i = 0; i < slices.size(); ++i) {
        check_interrupted();
        auto& s = slices[i];
        if (!current.error.empty()) {
            if (req.fail_fast) {
                throw InputError(current.error, "Fix or remove that input and rerun");
            }
            log::error("skipping input: " + current.error);
            for (const auto& src : s.sources) {
                result.failed.push_back(inputs[src.input].path + ": " + current.error);
            }
            progress.advance();
            if (i + 1 < slices.size()) {
                current = load_slice(slices[i + 1], inputs, vars, ctx.threads);
            }
            continue;
        }
        std::unique_ptr<StagingSink> staging;
        std::unique_ptr<DirectSink> direct;
        ChunkSink* sink;
        if (!old) {
            direct = std::make_unique<DirectSink>(*store, vars, create_index++);
            sink = direct.get();
        } else {
            staging = std::make_unique<StagingSink>(*store, vars, s);
            sink = staging.get();
        }
        if (old && s.replace) {
            for (size_t v = 0; v < vars.size(); ++v) {
                const auto& d = current.data[v];
                if (std::all_of(d.begin(), d.end(), [](const auto& x) { return x.empty(); })) {
                    log::info("time step " + grid::time::format_iso(s.time) + ": no input has '" +
                              vars[v].input + "'; the cube's '" + vars[v].name +
                              "' data of that step is kept");
                }
            }
        }
        auto work = std::async(std::launch::async, [&] { compute_slice(ctx, s, current, *sink); });
        Loaded next;
        if (i + 1 < slices.size()) {
            next = load_slice(slices[i + 1], inputs, vars, ctx.threads, std::move(spare));
        }
        work.get();
        spare = std::move(current);
        current = std::move(next);
        progress.advance();
        if (staging && s.replace && !staging->changed()) {
            if (same_bounds(*old, s)) {
                ++result.unchanged;
                // Same bytes from other inputs (or a touched file): record what made them now.
                if (auto rec = slice_record(s, inputs, recipe);
                    s.old_index >= old->sources.size() || old->sources[s.old_index] != rec) {
                    refreshed.emplace_back(s.old_index, std::move(rec));
                }
                continue;
            }
        }
        if (staging) {
            staged.push_back(staging->take());
        }
        written.push_back(s);
    }
    progress.finish();

    if (!old) {
        if (written.empty()) {
            throw InputError("none of the " + std::to_string(paths.size()) +
                                 " inputs could be read",
                             "See the messages above; nothing was written");
        }
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
        set_global_attrs(st, c, req.command_line);
        write_cube_metadata(*store, st); // ends with .zmetadata, synced by consolidate()
        fault_point("create-rename");
        if (sfs::exists(out_path, ec)) {
            sfs::remove(out_path, ec); // an empty directory
        }
        sfs::rename(tmp_root, out_path, ec);
        if (ec) {
            throw OutputError("cannot move the new cube into place at '" + out_path.string() +
                              "': " + ec.message());
        }
        unfinished->done();
        fs::sync_dir(out_path.has_parent_path() ? out_path.parent_path() : sfs::path("."));
        result.created = true;
        result.appended = written.size();
        result.time_steps = st.nt();
        return result;
    }

    // Update: merge the time axis.
    if (written.empty()) {
        write_refreshed_records(*store, *old, std::move(refreshed));
        result.up_to_date = true;
        result.time_steps = old_nt;
        return result;
    }
    struct Entry {
        double time;
        double start, end;
        long old_index;    // -1 = new
        long staged_index; // index into staged, -1 = none
        nlohmann::json source;
    };
    std::vector<Entry> axis;
    for (size_t t = 0; t < old_nt; ++t) {
        axis.push_back({old->time[t], old->has_bounds() ? old->bounds[t].first : NaN,
                        old->has_bounds() ? old->bounds[t].second : NaN, static_cast<long>(t), -1,
                        t < old->sources.size() ? old->sources[t] : nlohmann::json()});
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
            ++result.replaced;
        } else {
            axis.push_back({s.time, s.start, s.end, -1, static_cast<long>(k),
                            slice_record(s, inputs, recipe)});
        }
    }
    std::stable_sort(axis.begin(), axis.end(),
                     [](const Entry& a, const Entry& b) { return a.time < b.time; });
    Journal j;
    j.mapping.assign(old_nt, 0);
    CubeState st = *old;
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
            j.mapping[static_cast<size_t>(e.old_index)] = static_cast<long>(n);
        }
        if (e.staged_index >= 0) {
            staged[static_cast<size_t>(e.staged_index)].final_index = n;
        }
        if (e.old_index < 0) {
            if (old_nt == 0 || e.time > old->time.back()) {
                ++result.appended;
            } else {
                ++result.inserted;
            }
        }
    }
    if (!any_bounds) {
        st.bounds.clear();
    }
    for (const auto& name : st.var_order) {
        for (const auto& ck : list_chunks(*store, name)) {
            long t = std::stol(ck.substr(0, ck.find('.')));
            if (t >= static_cast<long>(old_nt)) {
                // Beyond the cube's end (left by another tool): no reader sees it, and the shift
                // needs those places free.
                store->erase(name + "/" + ck);
            } else if (j.mapping[static_cast<size_t>(t)] != t) {
                j.moving[name].push_back(ck);
            }
        }
    }
    j.staged = std::move(staged);
    set_global_attrs(st, c, req.command_line);
    j.state = st;
    store->sync();
    fault_point("before-commit");
    write_journal(*store, j); // commit point
    apply_journal(*store, out_path, std::move(j));
    result.time_steps = st.nt();
    return result;
}

} // namespace baims::cube
