// gen's write side: sinks, creating a cube by rename, updating one through its journal.

#include "gen_write.hpp"

#include "baims/core/error.hpp"

namespace baims::cube::gen {

namespace sfs = std::filesystem;

void write_refreshed_records(zarr::KvStore& store, const CubeState& old,
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

OpenCube open_existing_cube(const sfs::path& out_path, bool dry_run) {
    OpenCube oc;
    if (!dry_run) {
        oc.lock = std::make_unique<fs::FileLock>(out_path / LOCK_FILE,
                                                 "cube '" + out_path.string() + "'");
    }
    oc.store = std::make_unique<CubeStore>(out_path);
    auto& store = *oc.store;
    bool interrupted = false;
    if (auto j = read_journal(store)) {
        interrupted = true;
        if (dry_run) {
            log::warn("cube '" + out_path.string() +
                      "' has an unfinished update; a real run completes it first");
        } else {
            log::warn("completing an interrupted update of cube '" + out_path.string() + "'");
            apply_journal(store, out_path, std::move(*j));
        }
    }
    if (!dry_run) {
        store.erase_dir(STAGING_DIR);             // leftovers of an update that never committed
        remove_temp_files(out_path, interrupted); // and of a put killed half-way
    }
    return oc;
}

void start_new_cube(NewCube& nc, const sfs::path& out_path) {
    nc.root = out_path;
    nc.root += ".baims-new";
    nc.lock =
        std::make_unique<fs::FileLock>(nc.root / LOCK_FILE, "cube '" + out_path.string() + "'");
    // A previous create that died leaves this folder behind: start it again.
    std::error_code ec;
    for (sfs::directory_iterator it(nc.root, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().filename() != LOCK_FILE) {
            sfs::remove_all(it->path(), ec);
        }
    }
    nc.store = std::make_unique<CubeStore>(nc.root);
    nc.unfinished.emplace(nc.root);
}

void publish_new_cube(NewCube& nc, const CubeState& st, const sfs::path& out_path) {
    std::error_code ec;
    write_cube_metadata(*nc.store, st); // ends with .zmetadata, synced by consolidate()
    fault_point("create-rename");
    if (sfs::exists(out_path, ec)) {
        sfs::remove(out_path, ec); // an empty directory
    }
    sfs::rename(nc.root, out_path, ec);
    if (ec) {
        throw OutputError("cannot move the new cube into place at '" + out_path.string() +
                          "': " + ec.message());
    }
    nc.unfinished->done();
    fs::sync_dir(out_path.has_parent_path() ? out_path.parent_path() : sfs::path("."));
}

void commit_update(CubeStore& store, const sfs::path& out_path, size_t old_nt,
                   const MergedAxis& axis, std::vector<StagedSlice> staged) {
    Journal j;
    j.mapping = axis.mapping;
    for (size_t k = 0; k < staged.size(); ++k) {
        staged[k].final_index = axis.final_index[k];
    }
    for (const auto& name : axis.state.var_order) {
        for (const auto& ck : list_chunks(store, name)) {
            long t = std::stol(ck.substr(0, ck.find('.')));
            if (t >= static_cast<long>(old_nt)) {
                // Beyond the cube's end (left by another tool): no reader sees it, and the shift
                // needs those places free.
                store.erase(name + "/" + ck);
            } else if (j.mapping[static_cast<size_t>(t)] != t) {
                j.moving[name].push_back(ck);
            }
        }
    }
    j.staged = std::move(staged);
    j.state = axis.state;
    store.sync();
    fault_point("before-commit");
    write_journal(store, j); // commit point
    apply_journal(store, out_path, std::move(j));
}

} // namespace baims::cube::gen
