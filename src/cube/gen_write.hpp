#pragma once
// gen's write side: where computed chunks go (a new cube's folder, or the staging area of an
// update), and how the run's result becomes the cube: a new cube is built in <path>.baims-new/
// and renamed into place; an existing cube is updated through its journal (journal.hpp).

#include "gen_compute.hpp"
#include "gen_plan.hpp"
#include "journal.hpp"

#include "baims/core/fault.hpp"
#include "baims/core/fs.hpp"
#include "baims/core/log.hpp"
#include "baims/zarr/kv_store.hpp"

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

namespace baims::cube::gen {

// The cube's store: files are written without an fsync each; sync() flushes the whole batch with
// one syncfs at every commit point (before the journal, the metadata and the final rename).
class CubeStore : public zarr::FileStore {
public:
    explicit CubeStore(const std::filesystem::path& root)
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
                std::filesystem::create_directories(dir, ec);
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
    explicit UnfinishedCube(std::filesystem::path dir)
        : m_dir(std::move(dir)) {}
    UnfinishedCube(const UnfinishedCube&) = delete;
    UnfinishedCube& operator=(const UnfinishedCube&) = delete;
    void done() { m_dir.clear(); }
    ~UnfinishedCube() {
        if (m_dir.empty()) {
            return;
        }
        std::error_code ec;
        std::filesystem::remove_all(m_dir, ec);
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
    std::filesystem::path m_dir;
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

// When nothing else changes but the record of what made some steps (new mtimes, or steps made
// elsewhere recomputed to the same bytes): .baims-sources.json alone is replaced (atomically);
// the Zarr content is untouched.
void write_refreshed_records(zarr::KvStore& store, const CubeState& old,
                             std::vector<std::pair<size_t, nlohmann::json>> refreshed);

// An existing cube opened for an update (or a dry run): locked (not in a dry run), an update
// that was committed but not applied completed, the leftovers of uncommitted ones removed.
struct OpenCube {
    std::unique_ptr<fs::FileLock> lock;
    std::unique_ptr<CubeStore> store;
};
OpenCube open_existing_cube(const std::filesystem::path& cube, bool dry_run);

// A new cube under construction in <cube>.baims-new/ (locked; emptied of what a killed create
// left there).
struct NewCube {
    std::unique_ptr<fs::FileLock> lock;
    std::optional<UnfinishedCube> unfinished; // after the lock: removed while it is held
    std::unique_ptr<CubeStore> store;
    std::filesystem::path root; // <cube>.baims-new
};
void start_new_cube(NewCube& nc, const std::filesystem::path& cube);

// Writes the new cube's metadata and renames it into place (the commit point of a create).
void publish_new_cube(NewCube& nc, const CubeState& state, const std::filesystem::path& cube);

// Commits an update: the chunks of steps that move, the staged slices and the new state go into
// the journal (the commit point), which is then applied.
void commit_update(CubeStore& store, const std::filesystem::path& cube, size_t old_nt,
                   const MergedAxis& axis, std::vector<StagedSlice> staged);

} // namespace baims::cube::gen
