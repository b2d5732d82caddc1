// baims optimise: see include/baims/cube/optimise.hpp, docs/cli/optimise.md and
// docs/crash-safety.md ("optimise --in-place").

#include "baims/cube/optimise.hpp"

#include "cube_store.hpp"
#include "journal.hpp"
#include "parallel.hpp"

#include "baims/core/error.hpp"
#include "baims/core/fault.hpp"
#include "baims/core/fs.hpp"
#include "baims/core/log.hpp"
#include "baims/cube/prune.hpp"
#include "baims/zarr/array.hpp"
#include "baims/zarr/group.hpp"
#include "baims/zarr/json.hpp"
#include "baims/zarr/kv_store.hpp"
#include "baims/zarr/vsi_store.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <memory>
#include <set>
#include <stdio.h>
#include <unistd.h>

namespace baims::cube {
namespace sfs = std::filesystem;

namespace {

const std::string WORK_DIR = ".baims-optimise";

// Copies the overlap of a source chunk (origin src0, shape sc) into a destination chunk (origin
// dst0, shape dc), both full-size C-order buffers, clipped to the array shape.
void copy_overlap(const std::vector<size_t>& shape, size_t item, const std::vector<size_t>& src0,
                  const std::vector<size_t>& sc, const char* src, const std::vector<size_t>& dst0,
                  const std::vector<size_t>& dc, char* dst) {
    const size_t nd = shape.size();
    if (nd == 0) {
        std::memcpy(dst, src, item);
        return;
    }
    std::vector<size_t> lo(nd), hi(nd);
    for (size_t d = 0; d < nd; ++d) {
        lo[d] = std::max(src0[d], dst0[d]);
        hi[d] = std::min({src0[d] + sc[d], dst0[d] + dc[d], shape[d]});
        if (lo[d] >= hi[d]) {
            return;
        }
    }
    std::vector<size_t> sstride(nd, 1), dstride(nd, 1);
    for (size_t d = nd - 1; d > 0; --d) {
        sstride[d - 1] = sstride[d] * sc[d];
        dstride[d - 1] = dstride[d] * dc[d];
    }
    const size_t row = (hi[nd - 1] - lo[nd - 1]) * item;
    std::vector<size_t> pos(lo);
    while (true) {
        size_t s = 0;
        size_t t = 0;
        for (size_t d = 0; d < nd; ++d) {
            s += (pos[d] - src0[d]) * sstride[d];
            t += (pos[d] - dst0[d]) * dstride[d];
        }
        std::memcpy(dst + t * item, src + s * item, row);
        if (nd == 1) {
            return;
        }
        size_t d = nd - 1;
        while (true) {
            --d;
            if (++pos[d] < hi[d]) {
                break;
            }
            pos[d] = lo[d];
            if (d == 0) {
                return;
            }
        }
    }
}

std::vector<size_t> unravel(size_t c, const std::vector<size_t>& grid) {
    std::vector<size_t> index(grid.size());
    for (size_t d = grid.size(); d-- > 0;) {
        index[d] = c % grid[d];
        c /= grid[d];
    }
    return index;
}

// Writes array `name` of `src` with dst_meta's chunks to `dst` under dst_name: one output chunk
// at a time per thread, from the source chunks that cover it (memory: one output chunk and the
// source chunks of two neighbouring output chunks per thread). All-fill output chunks of data
// variables are not written.
void rewrite_array(const zarr::KvStore& src, const CubeArray& a, zarr::KvStore& dst,
                   const std::string& dst_name, const zarr::ArrayMeta& dst_meta, int threads) {
    const auto& sm = a.meta;
    const size_t nd = sm.ndim();
    const size_t item = sm.itemsize();
    const auto ogrid = dst_meta.chunk_grid();
    const size_t n_out = dst_meta.chunk_count();
    zarr::write_attrs(dst, dst_name, a.attrs);
    if (nd == 0 || n_out == 0) {
        throw InternalError("optimise: cannot rechunk 0-d or empty array '" + a.name + "'");
    }
    // One task = one row of output chunks along the last dimension. The decoded source chunks
    // are kept while the row still needs them (those of one output chunk and its neighbour), so
    // each source chunk is decoded once per row of output chunks that covers it.
    const size_t last = nd - 1;
    const size_t per_row = ogrid[last];
    parallel_for(n_out / per_row, threads, [&](size_t row, size_t) {
        std::map<std::vector<size_t>, std::vector<char>> cache;
        std::vector<char> out(dst_meta.chunk_bytes());
        for (size_t x = 0; x < per_row; ++x) {
            const auto oindex = unravel(row * per_row + x, ogrid);
            std::vector<size_t> o0(nd), s_first(nd), s_last(nd);
            for (size_t d = 0; d < nd; ++d) {
                o0[d] = oindex[d] * dst_meta.chunks[d];
                const size_t end = std::min(o0[d] + dst_meta.chunks[d], sm.shape[d]);
                s_first[d] = o0[d] / sm.chunks[d];
                s_last[d] = (end - 1) / sm.chunks[d];
            }
            // Source chunks left of this output chunk are no longer needed by this row.
            for (auto it = cache.begin(); it != cache.end();) {
                it = it->first[last] < s_first[last] ? cache.erase(it) : std::next(it);
            }
            zarr::fill_chunk(dst_meta, out.data());
            std::vector<size_t> sidx(s_first);
            while (true) {
                auto it = cache.find(sidx);
                if (it == cache.end()) {
                    std::vector<char> in(sm.chunk_bytes());
                    if (!zarr::read_chunk(src, a.name, sm, sidx, in.data())) {
                        zarr::fill_chunk(sm, in.data());
                    }
                    it = cache.emplace(sidx, std::move(in)).first;
                }
                std::vector<size_t> s0(nd);
                for (size_t d = 0; d < nd; ++d) {
                    s0[d] = sidx[d] * sm.chunks[d];
                }
                copy_overlap(sm.shape, item, s0, sm.chunks, it->second.data(), o0, dst_meta.chunks,
                             out.data());
                size_t d = nd;
                bool done = true;
                while (d-- > 0) {
                    if (++sidx[d] <= s_last[d]) {
                        done = false;
                        break;
                    }
                    sidx[d] = s_first[d];
                }
                if (done) {
                    break;
                }
            }
            if (!(a.is_data && zarr::is_all_fill(dst_meta, out.data()))) {
                zarr::write_chunk(dst, dst_name, dst_meta, oindex, out.data());
            }
            fault_point("optimise.chunk");
        }
    });
    zarr::write_array_meta(dst, dst_name, dst_meta, a.attrs);
}

// The chunks an array should have.
std::vector<size_t> target_chunks(const CubeArray& a, const std::map<std::string, size_t>& spec) {
    std::vector<size_t> t = a.meta.chunks;
    if (!a.is_data) {
        if (a.meta.ndim() <= 2) {
            for (size_t d = 0; d < t.size(); ++d) {
                t[d] = std::max<size_t>(a.meta.shape[d], 1);
            }
        }
        return t;
    }
    for (size_t d = 0; d < a.dims.size(); ++d) {
        if (auto it = spec.find(a.dims[d]); it != spec.end()) {
            t[d] = std::max<size_t>(std::min(it->second, a.meta.shape[d]), 1);
        }
    }
    return t;
}

// Atomically swaps two directories (renameat2 RENAME_EXCHANGE), then fsyncs their parents.
void exchange_dirs(const sfs::path& a, const sfs::path& b) {
    if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) != 0) {
        throw OutputError("cannot exchange '" + a.string() + "' and '" + b.string() +
                              "': " + std::strerror(errno),
                          "The file system must support renameat2(RENAME_EXCHANGE) (Linux)");
    }
    fs::sync_dir(a.parent_path());
    fs::sync_dir(b.parent_path());
}

void copy_tree(const sfs::path& from, const sfs::path& to) {
    std::error_code ec;
    sfs::copy(from, to, sfs::copy_options::recursive, ec);
    if (ec) {
        throw OutputError("cannot copy '" + from.string() + "' to '" + to.string() +
                          "': " + ec.message());
    }
}

// Every key under dir/ of the store of the cube at `cube`, at any depth ("sst/0.1.2").
std::vector<std::string> keys_under(const zarr::KvStore& store, const sfs::path& cube,
                                    const std::string& dir) {
    if (const auto* vs = dynamic_cast<const zarr::VsiStore*>(&store)) {
        auto keys = vs->list_tree(dir);
        if (keys.empty() && vs->exists(dir)) {
            keys.push_back(dir); // an object, not a "folder"
        }
        return keys;
    }
    std::vector<std::string> out;
    std::error_code ec;
    if (!sfs::is_directory(cube / dir, ec)) {
        return {dir}; // a file
    }
    for (auto it = sfs::recursive_directory_iterator(cube / dir, ec);
         !ec && it != sfs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) &&
            !zarr::FileStore::is_temp_name(it->path().filename().string())) {
            out.push_back(it->path().lexically_relative(cube).generic_string());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Whether `rel`, a key inside an array's folder ("3.0.1", or "3/0/1" with dimension_separator
// "/"), names a chunk outside the array's chunk grid: what a killed append leaves beyond the end
// (docs/object-storage.md). No reader and no prune looks there; optimise does not copy such
// chunks (-o) and deletes them (--in-place). Keys that are not chunk keys are not outside.
bool outside_grid(const zarr::ArrayMeta& meta, const std::string& rel) {
    if (meta.ndim() == 0) {
        return false;
    }
    const char sep = meta.dimension_separator == "/" ? '/' : '.';
    const auto grid = meta.chunk_grid();
    size_t d = 0, i = 0;
    bool outside = false;
    while (i <= rel.size()) {
        size_t j = rel.find(sep, i);
        j = j == std::string::npos ? rel.size() : j;
        uint64_t v = 0;
        auto [p, ec] = std::from_chars(rel.data() + i, rel.data() + j, v);
        if (j == i || ec != std::errc() || p != rel.data() + j || d >= grid.size()) {
            return false;
        }
        outside = outside || v >= grid[d];
        ++d;
        i = j + 1;
    }
    return d == grid.size() && outside;
}

const CubeArray* find_array(const std::vector<CubeArray>& arrays, const std::string& name) {
    for (const auto& a : arrays) {
        if (a.name == name) {
            return &a;
        }
    }
    return nullptr;
}

// keys_under() of the entry `name` of the cube, without the chunks outside the grid of the
// array of that name, which are added to `outside`.
std::vector<std::string> keys_inside(const zarr::KvStore& store, const sfs::path& cube,
                                     const std::string& name, const std::vector<CubeArray>& arrays,
                                     std::vector<std::string>& outside) {
    auto keys = keys_under(store, cube, name);
    const CubeArray* a = find_array(arrays, name);
    if (!a) {
        return keys;
    }
    std::vector<std::string> in;
    for (auto& k : keys) {
        if (k.size() > name.size() && outside_grid(a->meta, k.substr(name.size() + 1))) {
            outside.push_back(std::move(k));
        } else {
            in.push_back(std::move(k));
        }
    }
    return in;
}

// Copies the folder `name` of a local cube to `to`/name: an array's without its chunks outside the
// grid (added to `outside`), and without temporary files. The files are listed first (folders made
// for them on the way), then copied with copy_file_range and no fsync each: the caller's one
// syncfs before the publishing rename makes them durable. Tried and dropped
// (bench/results/2026-12-03-fixedcost.md): starting each file's writeback at once
// (sync_file_range) shortened the syncfs but cost more system CPU in this process and more wall
// under load; two threads copying into the same folders took more CPU (ext4's folder locks) for no
// shorter wall on this 2-core machine.
void copy_entry(const sfs::path& cube, const std::string& name, const sfs::path& to,
                const std::vector<CubeArray>& arrays, std::vector<std::string>& outside) {
    const CubeArray* a = find_array(arrays, name);
    std::error_code ec;
    if (!a || !sfs::is_directory(cube / name, ec)) {
        return copy_tree(cube / name, to / name);
    }
    const sfs::path from = cube / name;
    auto fail = [&](const std::error_code& e) {
        throw OutputError("cannot copy '" + from.string() + "' to '" + (to / name).string() +
                          "': " + e.message());
    };
    if (!sfs::create_directory(to / name, ec) && ec) {
        fail(ec);
    }
    std::vector<std::string> files; // relative to `from`
    for (auto it = sfs::recursive_directory_iterator(from, ec);
         !ec && it != sfs::recursive_directory_iterator(); it.increment(ec)) {
        std::error_code ec2;
        if (!it->is_regular_file(ec2) ||
            zarr::FileStore::is_temp_name(it->path().filename().string())) {
            continue; // folders are made for the files they hold ("/" separator)
        }
        std::string rel = it->path().lexically_relative(from).generic_string();
        if (outside_grid(a->meta, rel)) {
            outside.push_back(name + "/" + rel);
            continue;
        }
        if (rel.find('/') != std::string::npos) {
            sfs::create_directories((to / name / rel).parent_path(), ec2);
            if (ec2) {
                fail(ec2);
            }
        }
        files.push_back(std::move(rel));
    }
    if (ec) {
        fail(ec);
    }
    const sfs::path dst = to / name;
    for (const auto& rel : files) {
        if (int err = fs::copy_file(from / rel, dst / rel)) {
            fail(std::error_code(err, std::generic_category()));
        }
    }
}

// Copies the keys to another store, `threads` at a time.
void copy_keys(const zarr::KvStore& src, zarr::KvStore& dst, const std::vector<std::string>& keys,
               int threads) {
    parallel_for(keys.size(), threads, [&](size_t i, size_t) {
        if (auto bytes = src.get(keys[i])) {
            dst.put(keys[i], *bytes);
        }
    });
}

// Object storage, in place: the switch of one array to its rechunked copy staged under
// WORK_DIR/<name>/. The manifest WORK_DIR/<name>.json (written once the staging is complete)
// holds the new .zarray, .zattrs and the staged chunk names, so that a rerun after a kill at any
// point of the switch completes it:
//   1. delete <name>/.zarray: readers see no array <name> until step 4;
//   2. move every staged chunk into place (server-side copy, then delete; a staged chunk that is
//      gone was moved);
//   3. delete the old chunks that the new chunk grid does not have;
//   4. write the new .zattrs and .zarray;
//   5. delete the manifest, then the staging folder.
void switch_array(zarr::VsiStore& store, const std::string& name, int threads) {
    const std::string manifest_key = WORK_DIR + "/" + name + ".json";
    const auto text = store.get(manifest_key);
    if (!text) {
        return;
    }
    const auto manifest = zarr::parse_json(*text, store.describe() + "/" + manifest_key);
    const auto chunks = manifest.at("chunks").get<std::vector<std::string>>();
    const std::string staged = WORK_DIR + "/" + name;
    store.erase(name + "/.zarray");
    fault_point("optimise.switch");
    parallel_for(chunks.size(), threads, [&](size_t i, size_t) {
        fault_point("optimise.move");
        const std::string from = staged + "/" + chunks[i];
        try {
            store.rename(from, name + "/" + chunks[i]);
        } catch (const OutputError&) {
            if (store.exists(from)) {
                throw;
            }
        }
    });
    const std::set<std::string> keep(chunks.begin(), chunks.end());
    std::vector<std::string> stale;
    for (const auto& key : store.list_tree(name)) {
        const std::string rel = key.substr(name.size() + 1);
        if (rel != ".zattrs" && rel != ".zarray" && !keep.count(rel)) {
            stale.push_back(key);
        }
    }
    store.erase_keys(stale);
    store.put(name + "/.zattrs", manifest.at("zattrs").get<std::string>());
    store.put(name + "/.zarray", manifest.at("zarray").get<std::string>());
    fault_point("optimise.switched");
    store.erase(manifest_key);
    store.erase_dir(staged);
}

// Object storage, in place: completes the switches of an interrupted run (arrays whose manifest
// was written) and deletes the staging of arrays it had not finished staging.
void complete_interrupted(zarr::VsiStore& store, const std::string& cube, int threads) {
    const auto keys = store.list_tree(WORK_DIR);
    if (keys.empty()) {
        return;
    }
    log::warn("completing an interrupted optimise of cube '" + cube + "'");
    for (const auto& key : keys) {
        const std::string rel = key.substr(WORK_DIR.size() + 1);
        if (rel.find('/') == std::string::npos && rel.ends_with(".json")) {
            switch_array(store, rel.substr(0, rel.size() - 5), threads);
        }
    }
    store.erase_dir(WORK_DIR);
}

// Object storage, in place: rechunks the arrays of the plan one by one (staged, then switched)
// and writes .zmetadata last.
void optimise_object_in_place(zarr::VsiStore& store,
                              const std::vector<std::pair<const CubeArray*, zarr::ArrayMeta>>& plan,
                              int threads) {
    for (const auto& [a, m] : plan) {
        const std::string staged = WORK_DIR + "/" + a->name;
        rewrite_array(store, *a, store, staged, m, threads);
        nlohmann::json manifest{{"zarray", *store.get(staged + "/.zarray")},
                                {"zattrs", store.get(staged + "/.zattrs").value_or("{}")},
                                {"chunks", nlohmann::json::array()}};
        for (const auto& key : store.list_tree(staged)) {
            const std::string rel = key.substr(staged.size() + 1);
            if (rel != ".zarray" && rel != ".zattrs") {
                manifest["chunks"].push_back(rel);
            }
        }
        fault_point("optimise.staged");
        store.put(WORK_DIR + "/" + a->name + ".json", manifest.dump());
        switch_array(store, a->name, threads);
    }
    fault_point("optimise.before_consolidate");
    zarr::consolidate(store);
}

// Object storage, to a copy: objects first, metadata last, behind the marker CREATING_KEY.
void optimise_to_object(const zarr::KvStore& src, const sfs::path& cube, const std::string& out,
                        const std::vector<CubeArray>& arrays,
                        const std::vector<std::pair<const CubeArray*, zarr::ArrayMeta>>& plan,
                        int threads, std::vector<std::string>& outside) {
    zarr::VsiStore dst(out);
    ObjectLease lease(dst, "output '" + out + "'", "optimise");
    if (dst.exists(CREATING_KEY)) {
        log::warn("removing the unfinished optimised cube '" + out + "' of an earlier run");
        erase_all_but_lease(dst);
    } else if (has_objects_besides_lease(dst)) {
        throw OutputError("output '" + out + "' exists", "Remove it or choose another -o path");
    }
    dst.put(CREATING_KEY, "{\"format\": \"baims-creating/1\"}\n");
    std::vector<std::string> keys;
    for (const auto& name : src.list("")) {
        if (name == ".zmetadata" || name == ".zgroup" || name == ".zattrs" || name == LOCK_FILE ||
            name == JOURNAL_KEY || name == STAGING_DIR || name == WORK_DIR ||
            name == CREATING_KEY) {
            continue;
        }
        bool rewritten = false;
        for (const auto& p : plan) {
            rewritten = rewritten || p.first->name == name;
        }
        if (!rewritten) {
            for (auto& k : keys_inside(src, cube, name, arrays, outside)) {
                keys.push_back(std::move(k));
            }
        }
    }
    // Chunks before the metadata of their array, so that no array is seen before its chunks.
    std::stable_partition(keys.begin(), keys.end(), [](const std::string& k) {
        return !k.ends_with("/.zarray") && !k.ends_with("/.zattrs");
    });
    copy_keys(src, dst, keys, threads);
    for (const auto& [a, m] : plan) {
        rewrite_array(src, *a, dst, a->name, m, threads);
    }
    fault_point("optimise.before_publish");
    copy_keys(src, dst, {".zattrs"}, 1);
    copy_keys(src, dst, {".zgroup"}, 1); // a reader sees a group from here on
    zarr::consolidate(dst);
    dst.erase(CREATING_KEY);
}

} // namespace

std::map<std::string, size_t> parse_chunk_spec(const std::string& spec) {
    std::map<std::string, size_t> out;
    size_t i = 0;
    while (i <= spec.size() && !spec.empty()) {
        size_t j = spec.find(',', i);
        if (j == std::string::npos) {
            j = spec.size();
        }
        const std::string part = spec.substr(i, j - i);
        const size_t eq = part.find('=');
        size_t value = 0;
        bool ok = eq != std::string::npos && eq > 0 && eq + 1 < part.size();
        if (ok) {
            for (char ch : part.substr(eq + 1)) {
                ok = ok && ch >= '0' && ch <= '9';
            }
        }
        if (ok) {
            value = std::stoul(part.substr(eq + 1));
            ok = value > 0;
        }
        if (!ok) {
            throw UsageError("--chunks: '" + part + "' is not DIM=SIZE with SIZE >= 1",
                             "Write e.g. --chunks time=1,lat=512,lon=512");
        }
        out[part.substr(0, eq)] = value;
        i = j + 1;
    }
    return out;
}

std::string OptimiseResult::summary() const {
    if (!changed) {
        return "cube is already optimised (nothing changed)";
    }
    std::string s = "rewrote " + std::to_string(rewritten.size()) + " arrays";
    if (!rewritten.empty()) {
        s += " (";
        for (size_t i = 0; i < rewritten.size(); ++i) {
            s += (i ? ", " : "") + rewritten[i];
        }
        s += ")";
    }
    s += consolidated ? "; wrote .zmetadata" : "";
    if (!outside.empty()) {
        s += "; " + std::string(in_place ? "deleted " : "left out ") +
             std::to_string(outside.size()) + " chunk" + (outside.size() == 1 ? "" : "s") +
             " beyond the end of their array";
    }
    return s;
}

OptimiseResult optimise(const OptimiseRequest& req) {
    ThreadPool pool(req.threads); // one pool of workers for the run's parallel_for calls
    ThreadPool::Scope pool_scope(pool);
    const sfs::path cube = req.cube;
    if (req.in_place == !req.output.empty()) {
        throw UsageError("give exactly one of -o OUT and --in-place",
                         "Run 'baims optimise --help' for usage");
    }
    std::error_code ec;
    const bool src_object = zarr::is_object_storage_path(cube.string());
    const bool out_object = zarr::is_object_storage_path(req.output.string());
    if (!req.in_place && !src_object && !out_object) {
        // A copy into the cube itself would copy its own growing folder (it failed with 'File
        // name too long' and left the unfinished copy in the cube).
        const sfs::path c = fs::resolved(cube);
        if (fs::within(req.output, cube)) {
            std::string name = c.filename().string();
            name = (name.ends_with(".zarr") ? name.substr(0, name.size() - 5) : name) +
                   ".optimised.zarr";
            throw UsageError("-o '" + req.output.string() + "' " +
                                 (fs::resolved(req.output) == c
                                      ? "is the cube '" + cube.string() + "' itself"
                                      : "lies inside the cube '" + cube.string() + "'"),
                             "Write the optimised copy beside the cube, e.g. -o '" +
                                 (c.parent_path() / name).string() +
                                 "', or use --in-place to rewrite the cube itself");
        }
    }
    std::unique_ptr<CubeLock> lock;
    if (req.in_place && !req.dry_run && src_object) {
        zarr::VsiStore s(cube.string());
        if (s.exists(".zgroup")) {
            lock = lock_cube(cube, "cube '" + cube.string() + "'", "optimise");
            complete_interrupted(s, cube.string(), req.threads);
        }
    } else if (req.in_place && !req.dry_run && sfs::exists(cube / ".zgroup", ec)) {
        lock = lock_cube(cube, "cube '" + cube.string() + "'", "optimise");
        zarr::FileStore s(cube, true);
        if (!s.list(WORK_DIR).empty() || sfs::exists(cube / WORK_DIR, ec)) {
            log::warn("removing the leftovers of an interrupted optimise of cube '" +
                      cube.string() + "'");
            s.erase_dir(WORK_DIR);
            sfs::remove_all(cube / WORK_DIR, ec);
            fs::sync_dir(cube);
        }
    }
    auto arrays = read_cube_arrays(cube);
    const auto owned = open_cube_store(cube);
    zarr::KvStore& src = *owned;
    classify_arrays(arrays, zarr::read_attrs(src, ""));
    if (src.exists(JOURNAL_KEY)) {
        throw OutputError("cube '" + cube.string() + "' has an unfinished baims gen update",
                          "Run the same baims gen again to complete it, then optimise");
    }
    for (const auto& [dim, size] : req.chunks) {
        bool found = false;
        for (const auto& a : arrays) {
            found = found || (a.is_data && std::count(a.dims.begin(), a.dims.end(), dim));
        }
        if (!found) {
            throw UsageError("--chunks: no data variable of cube '" + cube.string() +
                                 "' has dimension '" + dim + "'",
                             "Use the names in _ARRAY_DIMENSIONS");
        }
    }
    OptimiseResult result;
    result.in_place = req.in_place;
    std::vector<std::pair<const CubeArray*, zarr::ArrayMeta>> plan;
    for (const auto& a : arrays) {
        auto t = target_chunks(a, req.chunks);
        if (t != a.meta.chunks) {
            zarr::ArrayMeta m = a.meta;
            m.chunks = t;
            plan.emplace_back(&a, m);
            result.rewritten.push_back(a.name);
        }
    }

    if (!req.in_place && out_object) {
        result.changed = true;
        result.consolidated = true;
        if (req.dry_run) {
            if (has_objects_besides_lease(zarr::VsiStore(req.output.string()))) {
                throw OutputError("output '" + req.output.string() + "' exists",
                                  "Remove it or choose another -o path");
            }
            return result;
        }
        optimise_to_object(src, cube, req.output.string(), arrays, plan, req.threads,
                           result.outside);
        return result;
    }
    if (!req.in_place) {
        const sfs::path out = req.output;
        if (sfs::exists(out, ec)) {
            throw OutputError("output '" + out.string() + "' exists",
                              "Remove it or choose another -o path");
        }
        result.changed = true;
        result.consolidated = true;
        if (req.dry_run) {
            return result;
        }
        const sfs::path tmp = out.parent_path() / ("." + out.filename().string() + ".baims-tmp");
        sfs::remove_all(tmp, ec);
        sfs::create_directories(tmp, ec);
        if (ec) {
            throw OutputError("cannot create '" + tmp.string() + "': " + ec.message(),
                              "Check that the output directory is writable");
        }
        // Nothing in the hidden folder is fsynced on its own (a non-durable store, copy_file): one
        // syncfs after the last file, .zmetadata included, makes the whole copy durable before
        // the rename publishes it. A kill or crash before the rename leaves only the hidden
        // folder, which a rerun removes.
        // A failed copy (a full disk, a damaged chunk) removes its unfinished folder.
        struct RemoveTmp {
            sfs::path path;
            ~RemoveTmp() {
                if (!path.empty()) {
                    std::error_code e;
                    sfs::remove_all(path, e);
                }
            }
        } remove_tmp{tmp};
        zarr::FileStore dst(tmp, false);
        for (const auto& name : src.list("")) {
            if (name == ".zmetadata" || name == LOCK_FILE || name == JOURNAL_KEY ||
                name == STAGING_DIR || name == WORK_DIR) {
                continue;
            }
            bool rewritten = false;
            for (const auto& p : plan) {
                rewritten = rewritten || p.first->name == name;
            }
            if (!rewritten && src_object) {
                copy_keys(src, dst, keys_inside(src, cube, name, arrays, result.outside),
                          req.threads);
            } else if (!rewritten) {
                copy_entry(cube, name, tmp, arrays, result.outside);
            }
        }
        for (const auto& [a, m] : plan) {
            rewrite_array(src, *a, dst, a->name, m, req.threads);
        }
        zarr::consolidate(dst);
        fs::sync_filesystem(tmp);
        fault_point("optimise.before_publish");
        if (::rename(tmp.c_str(), out.c_str()) != 0) {
            throw OutputError("cannot rename '" + tmp.string() + "' to '" + out.string() +
                              "': " + std::strerror(errno));
        }
        remove_tmp.path.clear();
        fs::sync_dir(out.has_parent_path() ? out.parent_path() : sfs::path("."));
        return result;
    }

    // In place. Chunks outside an array's grid (a killed append's, which gen would delete too)
    // are deleted first: under the cube's lock no writer has them in progress.
    for (const auto& a : arrays) {
        keys_inside(src, cube, a.name, arrays, result.outside);
    }
    if (!req.dry_run && !result.outside.empty()) {
        if (auto* vs = dynamic_cast<zarr::VsiStore*>(&src)) {
            vs->erase_keys(result.outside);
        } else {
            for (const auto& k : result.outside) {
                src.erase(k);
            }
        }
        src.sync();
        fault_point("optimise.outside_removed");
    }
    const auto current = zarr::read_consolidated(src);
    if (plan.empty() && result.outside.empty() && current &&
        *current == zarr::consolidated_metadata(src)) {
        return result; // nothing to do
    }
    result.changed = true;
    result.consolidated = true;
    if (req.dry_run) {
        return result;
    }
    // The old .zmetadata would describe old chunks once an array is switched: readers fall back
    // to the per-array metadata until the new one is written. It is removed just before the
    // first switch, so a run that fails before (no space for the staged copy) keeps it.
    bool zmetadata_removed = false;
    const auto remove_zmetadata = [&] {
        if (!plan.empty() && current && !zmetadata_removed) {
            src.erase(".zmetadata");
            src.sync();
            zmetadata_removed = true;
            fault_point("optimise.zmetadata_removed");
        }
    };
    if (src_object) {
        remove_zmetadata();
        optimise_object_in_place(dynamic_cast<zarr::VsiStore&>(src), plan, req.threads);
        return result;
    }
    try {
        for (const auto& [a, m] : plan) {
            const std::string staged = WORK_DIR + "/" + a->name;
            rewrite_array(src, *a, src, staged, m, req.threads);
            fs::sync_filesystem(cube);
            fault_point("optimise.staged");
            remove_zmetadata();
            exchange_dirs(cube / WORK_DIR / a->name, cube / a->name);
            fault_point("optimise.exchanged");
            src.erase_dir(staged);
            std::error_code ec2;
            sfs::remove_all(cube / staged, ec2);
        }
    } catch (...) {
        // A failed run (a full disk, a damaged chunk) gives the staged copy's space back and,
        // when arrays were already switched, describes the cube as it now is (each array whole,
        // with its old or its new chunks): readers that need .zmetadata still open it. Both at
        // best; a rerun completes the job either way.
        std::error_code ec4;
        sfs::remove_all(cube / WORK_DIR, ec4);
        if (zmetadata_removed) {
            try {
                zarr::consolidate(src);
            } catch (...) {
            }
        }
        throw;
    }
    std::error_code ec3;
    sfs::remove_all(cube / WORK_DIR, ec3);
    fault_point("optimise.before_consolidate");
    zarr::consolidate(src);
    return result;
}

} // namespace baims::cube
