// baims prune: see include/baims/cube/prune.hpp and docs/cli/prune.md.

#include "baims/cube/prune.hpp"

#include "cube_store.hpp"
#include "journal.hpp"
#include "parallel.hpp"

#include "baims/core/error.hpp"
#include "baims/core/fs.hpp"
#include "baims/core/log.hpp"
#include "baims/zarr/array.hpp"
#include "baims/zarr/group.hpp"
#include "baims/zarr/kv_store.hpp"
#include "baims/zarr/vsi_store.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <set>
#include <type_traits>

namespace baims::cube {
namespace sfs = std::filesystem;

namespace {

// The raw values that decode as missing: the fill value and the missing_value attribute(s).
std::vector<double> missing_values(const zarr::ArrayMeta& meta, const nlohmann::json& attrs) {
    std::vector<double> out;
    if (!meta.fill_value.is_null() && !meta.fill_is_nan()) {
        out.push_back(meta.fill_as_double());
    }
    auto add = [&](const nlohmann::json& v) {
        if (v.is_number()) {
            out.push_back(v.get<double>());
        } else if (v.is_boolean()) {
            out.push_back(v.get<bool>() ? 1.0 : 0.0);
        }
    };
    if (auto it = attrs.find("missing_value"); it != attrs.end()) {
        if (it->is_array()) {
            for (const auto& v : *it) {
                add(v);
            }
        } else {
            add(*it);
        }
    }
    return out;
}

void add_names(const nlohmann::json& attrs, const char* key, std::set<std::string>& names) {
    auto it = attrs.find(key);
    if (it == attrs.end() || !it->is_string()) {
        return;
    }
    std::string s = it->get<std::string>();
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && s[i] == ' ') {
            ++i;
        }
        size_t j = i;
        while (j < s.size() && s[j] != ' ') {
            ++j;
        }
        if (j > i) {
            std::string word = s.substr(i, j - i);
            if (!word.empty() && word.back() == ':') {
                word.pop_back(); // grid_mapping "crs: x y" form
            }
            names.insert(word);
        }
        i = j;
    }
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

} // namespace

std::vector<CubeArray> read_cube_arrays(const sfs::path& cube) {
    const bool object_storage = zarr::is_object_storage_path(cube.string());
    std::error_code ec;
    if (object_storage) {
        zarr::VsiStore vs(cube.string());
        if (!vs.exists(".zgroup")) {
            if (!vs.has_objects("")) {
                throw InputError("cube '" + cube.string() + "' does not exist", "Check the path");
            }
            throw InputError("'" + cube.string() + "' is not a Zarr cube (no .zgroup)",
                             "Give the path of a Zarr v2 group");
        }
    } else if (!sfs::exists(cube, ec)) {
        throw InputError("cube '" + cube.string() + "' does not exist", "Check the path");
    } else if (!sfs::is_directory(cube, ec) || !sfs::exists(cube / ".zgroup", ec)) {
        throw InputError("'" + cube.string() + "' is not a Zarr cube (no .zgroup)",
                         "Give the path of a Zarr v2 group");
    }
    const auto owned = open_cube_store(cube);
    return read_cube_arrays(*owned, cube);
}

std::vector<CubeArray> read_cube_arrays(const zarr::KvStore& store, const sfs::path& cube) {
    const bool object_storage = zarr::is_object_storage_path(cube.string());
    std::error_code ec;
    std::vector<CubeArray> out;
    for (const auto& name : store.list("")) {
        // On object storage a "folder" is only a key prefix: an entry that holds no .zarray and
        // no objects is skipped below.
        if (name.empty() || name[0] == '.' ||
            (!object_storage && !sfs::is_directory(cube / name, ec))) {
            continue;
        }
        if (store.exists(name + "/.zgroup")) {
            continue; // a sub-group: left as it is
        }
        std::optional<zarr::ArrayMeta> meta;
        try {
            meta = zarr::read_array_meta(store, name);
        } catch (const Error& e) {
            e.rethrow_with_context("cube '" + cube.string() + "', array '" + name + "'");
        }
        if (!meta) {
            bool has_files = false;
            for (const auto& entry : store.list(name)) {
                if (entry != ".zattrs") {
                    has_files = true;
                }
            }
            if (has_files) {
                throw InputError("array '" + name + "' of cube '" + cube.string() +
                                     "' has chunk files but no .zarray",
                                 "Restore " + name + "/.zarray or remove the folder");
            }
            continue;
        }
        CubeArray a;
        a.name = name;
        a.meta = std::move(*meta);
        a.attrs = zarr::read_attrs(store, name);
        if (auto it = a.attrs.find("_ARRAY_DIMENSIONS"); it != a.attrs.end() && it->is_array()) {
            for (const auto& d : *it) {
                if (d.is_string()) {
                    a.dims.push_back(d.get<std::string>());
                }
            }
            if (a.dims.size() != a.meta.ndim()) {
                a.dims.clear();
            }
        }
        out.push_back(std::move(a));
    }
    return out;
}

void classify_arrays(std::vector<CubeArray>& arrays, const nlohmann::json& root_attrs) {
    std::set<std::string> named;
    add_names(root_attrs, "coordinates", named);
    for (const auto& a : arrays) {
        add_names(a.attrs, "coordinates", named);
        add_names(a.attrs, "bounds", named);
        add_names(a.attrs, "grid_mapping", named);
    }
    for (auto& a : arrays) {
        const bool dim_var = a.dims.size() == 1 && a.dims[0] == a.name;
        a.is_data = !named.count(a.name) && !dim_var && a.dims.size() >= 2 &&
                    !ends_with(a.name, "_bnds") && !ends_with(a.name, "_bounds") &&
                    a.name != "crs" && a.name != "spatial_ref";
    }
}

bool chunk_all_missing(const zarr::ArrayMeta& meta, const nlohmann::json& attrs, const void* data,
                       size_t n) {
    const auto missing = missing_values(meta, attrs);
    return zarr::visit_dtype(meta.dtype_info(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* p = static_cast<const T*>(data);
        std::vector<T> vals;
        for (double m : missing) {
            vals.push_back(static_cast<T>(m));
        }
        constexpr size_t BLOCK = 1024;
        for (size_t i = 0; i < n; i += BLOCK) {
            const size_t end = std::min(n, i + BLOCK);
            bool ok = true;
            if (vals.size() == 1) {
                const T m = vals[0];
                for (size_t k = i; k < end; ++k) {
                    if constexpr (std::is_floating_point_v<T>) {
                        ok &= (p[k] != p[k]) | (p[k] == m);
                    } else {
                        ok &= p[k] == m;
                    }
                }
            } else {
                for (size_t k = i; k < end && ok; ++k) {
                    bool miss = false;
                    if constexpr (std::is_floating_point_v<T>) {
                        miss = p[k] != p[k];
                    }
                    for (T m : vals) {
                        miss = miss || p[k] == m;
                    }
                    ok = miss;
                }
            }
            if (!ok) {
                return false;
            }
        }
        return true;
    });
}

std::string PruneResult::summary() const {
    return std::string(dry_run ? "would prune " : "pruned ") + std::to_string(pruned.size()) +
           " of " + std::to_string(chunks_read) + " chunks (" + std::to_string(bytes_pruned) +
           " of " + std::to_string(bytes_read) + " bytes) in " + std::to_string(variables.size()) +
           " data variables";
}

PruneResult prune(const PruneRequest& req) {
    ThreadPool pool(req.threads); // one pool of workers for the run's parallel_for calls
    ThreadPool::Scope pool_scope(pool);
    auto arrays = read_cube_arrays(req.cube);
    const auto owned = open_cube_store(req.cube);
    zarr::KvStore& store = *owned;
    classify_arrays(arrays, zarr::read_attrs(store, ""));
    std::unique_ptr<CubeLock> lock;
    if (!req.dry_run) {
        lock = lock_cube(req.cube, "cube '" + req.cube.string() + "'", "prune");
    }
    if (store.exists(JOURNAL_KEY)) {
        throw OutputError("cube '" + req.cube.string() + "' has an unfinished baims gen update",
                          "Run the same baims gen again to complete it, then prune");
    }
    PruneResult result;
    result.dry_run = req.dry_run;
    struct Task {
        const CubeArray* array;
        std::vector<size_t> index;
    };
    std::vector<Task> tasks;
    for (const auto& a : arrays) {
        if (!a.is_data) {
            continue;
        }
        if (a.meta.fill_value.is_null()) {
            result.kept_no_fill.push_back(a.name);
            log::info("'" + a.name +
                      "' has no fill_value (null): its chunks are kept, a missing chunk would not "
                      "read as missing");
            continue;
        }
        result.variables.push_back(a.name);
        // On object storage one listing of the array's objects spares a request per absent chunk.
        std::optional<std::set<std::string>> present;
        if (const auto* vs = dynamic_cast<const zarr::VsiStore*>(&store)) {
            const auto keys = vs->list_tree(a.name);
            present.emplace(keys.begin(), keys.end());
        }
        const auto grid = a.meta.chunk_grid();
        size_t total = a.meta.chunk_count();
        for (size_t c = 0; c < total; ++c) {
            std::vector<size_t> index(grid.size());
            size_t rest = c;
            for (size_t d = grid.size(); d-- > 0;) {
                index[d] = rest % grid[d];
                rest /= grid[d];
            }
            if (present && !present->count(zarr::chunk_store_key(a.name, a.meta, index))) {
                continue;
            }
            tasks.push_back({&a, std::move(index)});
        }
    }
    std::mutex mutex;
    parallel_for(tasks.size(), req.threads, [&](size_t i, size_t) {
        const auto& t = tasks[i];
        const auto& meta = t.array->meta;
        const std::string key = zarr::chunk_store_key(t.array->name, meta, t.index);
        auto bytes = store.get(key);
        if (!bytes) {
            return;
        }
        thread_local std::vector<char> buffer;
        buffer.resize(meta.chunk_bytes());
        try {
            zarr::decode(meta.compressor, *bytes, buffer.data(), meta.chunk_bytes());
        } catch (const Error& e) {
            e.rethrow_with_context("reading chunk " + key.substr(t.array->name.size() + 1) +
                                   " of '" + t.array->name + "' in " + store.describe());
        }
        const bool prunable =
            chunk_all_missing(meta, t.array->attrs, buffer.data(), meta.chunk_elements());
        if (prunable && !req.dry_run) {
            store.erase(key); // one unlink: readers see the chunk or no chunk
        }
        if (buffer.capacity() > (size_t{64} << 20)) {
            std::vector<char>().swap(buffer);
        }
        std::lock_guard guard(mutex);
        result.chunks_read += 1;
        result.bytes_read += bytes->size();
        if (prunable) {
            result.pruned.push_back({key, bytes->size()});
            result.bytes_pruned += bytes->size();
        }
    });
    if (!req.dry_run) {
        store.sync();
    }
    std::sort(result.pruned.begin(), result.pruned.end(),
              [](const PrunedChunk& a, const PrunedChunk& b) { return a.key < b.key; });
    return result;
}

} // namespace baims::cube
