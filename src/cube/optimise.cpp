// baims optimise: see include/baims/cube/optimise.hpp, docs/cli/optimise.md and
// docs/crash-safety.md ("optimise --in-place").

#include "baims/cube/optimise.hpp"

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

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <memory>
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
    return s + (consolidated ? "; wrote .zmetadata" : "");
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
    std::unique_ptr<fs::FileLock> lock;
    if (req.in_place && !req.dry_run && sfs::exists(cube / ".zgroup", ec)) {
        lock = std::make_unique<fs::FileLock>(cube / LOCK_FILE, "cube '" + cube.string() + "'");
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
    zarr::FileStore src(cube, true);
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
        zarr::FileStore dst(tmp, true);
        for (const auto& name : src.list("")) {
            if (name == ".zmetadata" || name == LOCK_FILE || name == JOURNAL_KEY ||
                name == STAGING_DIR || name == WORK_DIR) {
                continue;
            }
            bool rewritten = false;
            for (const auto& p : plan) {
                rewritten = rewritten || p.first->name == name;
            }
            if (!rewritten) {
                copy_tree(cube / name, tmp / name);
            }
        }
        for (const auto& [a, m] : plan) {
            rewrite_array(src, *a, dst, a->name, m, req.threads);
        }
        fs::sync_filesystem(tmp);
        zarr::consolidate(dst);
        fault_point("optimise.before_publish");
        if (::rename(tmp.c_str(), out.c_str()) != 0) {
            throw OutputError("cannot rename '" + tmp.string() + "' to '" + out.string() +
                              "': " + std::strerror(errno));
        }
        fs::sync_dir(out.has_parent_path() ? out.parent_path() : sfs::path("."));
        return result;
    }

    // In place.
    const auto current = zarr::read_consolidated(src);
    if (plan.empty() && current && *current == zarr::consolidated_metadata(src)) {
        return result; // nothing to do
    }
    result.changed = true;
    result.consolidated = true;
    if (req.dry_run) {
        return result;
    }
    if (!plan.empty() && current) {
        // The old .zmetadata would describe old chunks once an array is switched: readers fall
        // back to the per-array metadata until the new one is written.
        src.erase(".zmetadata");
        src.sync();
        fault_point("optimise.zmetadata_removed");
    }
    for (const auto& [a, m] : plan) {
        const std::string staged = WORK_DIR + "/" + a->name;
        rewrite_array(src, *a, src, staged, m, req.threads);
        fs::sync_filesystem(cube);
        fault_point("optimise.staged");
        exchange_dirs(cube / WORK_DIR / a->name, cube / a->name);
        fault_point("optimise.exchanged");
        src.erase_dir(staged);
        std::error_code ec2;
        sfs::remove_all(cube / staged, ec2);
    }
    std::error_code ec3;
    sfs::remove_all(cube / WORK_DIR, ec3);
    fault_point("optimise.before_consolidate");
    zarr::consolidate(src);
    return result;
}

} // namespace baims::cube
