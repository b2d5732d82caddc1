// The POSIX journal commit protocol (commit.hpp): a new cube is built in <cube>.baims-new/ and
// renamed into place; an update is staged, committed by its journal and applied (journal.hpp):
// by exchange of the whole cube folder when time steps readers see change, in place when time
// steps are only appended.
// This file and journal.cpp are the only places of gen that know the cube is a folder.

#include "commit.hpp"
#include "partition.hpp"

#include "baims/core/error.hpp"
#include "baims/core/fault.hpp"
#include "baims/core/fs.hpp"
#include "baims/core/log.hpp"

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <unistd.h>

namespace baims::cube {
namespace {

namespace sfs = std::filesystem;

// What the journal needs: renames that are atomic per key and move a whole folder (the new cube
// onto its path), sync at the commit points, and a lock against a second writer.
constexpr zarr::StoreCapabilities JOURNAL_NEEDS{true, true, true, true};

// The cube's store: files are written without an fsync each; sync() flushes the whole batch with
// one syncfs at every commit point (before the journal, the metadata and the final rename).
class CubeStore : public zarr::FileStore {
public:
    explicit CubeStore(const sfs::path& root)
        : zarr::FileStore(root, false) {}
    void sync() override { fs::sync_filesystem(root()); }
    zarr::StoreCapabilities capabilities() const override {
        auto c = zarr::FileStore::capabilities();
        c.sync = true; // syncfs, not the per-file fsync of a durable FileStore
        return c;
    }

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

class PosixJournal : public CommitProtocol {
public:
    // Update of the cube at `cube`.
    PosixJournal(const sfs::path& cube, bool dry_run)
        : m_cube(cube)
        , m_root(cube) {
        m_store = std::make_unique<CubeStore>(m_root);
        require_capabilities(*m_store, JOURNAL_NEEDS, "the update journal");
        if (!dry_run) {
            m_lock = m_store->lock(LOCK_FILE, "cube '" + cube.string() + "'");
        }
        bool interrupted = false;
        if (auto j = read_journal(*m_store)) {
            interrupted = true;
            if (dry_run) {
                log::warn("cube '" + cube.string() +
                          "' has an unfinished update; a real run completes it first");
            } else {
                log::warn("completing an interrupted update of cube '" + cube.string() + "'");
                apply_journal(*m_store, m_root, std::move(*j));
            }
        }
        if (!dry_run) {
            std::error_code ec;
            sfs::remove_all(swap_dir(m_root), ec);  // an old tree whose removal failed
            m_store->erase_dir(STAGING_DIR);        // leftovers of an update that never committed
            remove_temp_files(m_root, interrupted); // and of a put killed half-way
        }
    }

    // A new cube, built in <cube>.baims-new/.
    explicit PosixJournal(const sfs::path& cube)
        : m_cube(cube)
        , m_root(sfs::path(cube) += ".baims-new") {
        m_store = std::make_unique<CubeStore>(m_root);
        require_capabilities(*m_store, JOURNAL_NEEDS, "the creation of a cube by rename");
        m_lock = m_store->lock(LOCK_FILE, "cube '" + cube.string() + "'");
        // A previous create that died leaves this folder behind: start it again.
        std::error_code ec;
        for (sfs::directory_iterator it(m_root, ec), end; !ec && it != end; it.increment(ec)) {
            if (it->path().filename() != LOCK_FILE) {
                sfs::remove_all(it->path(), ec);
            }
        }
        m_unfinished.emplace(m_root);
    }

    zarr::KvStore& store() override { return *m_store; }

    void put_unpublished(const std::string& key, std::string_view data) override {
        m_store->put_unpublished(key, data);
    }

    std::string staged_key(size_t seq, const std::string& var,
                           const std::string& pos) const override {
        return STAGING_DIR + "/" + std::to_string(seq) + "/" + var + "/" + pos;
    }

    void publish_new(const CubeState& st) override {
        if (!m_unfinished) {
            throw InternalError("publish_new on a cube opened for an update");
        }
        std::error_code ec;
        write_cube_metadata(*m_store, st); // ends with .zmetadata, synced by consolidate()
        fault_point("create-rename");
        if (sfs::exists(m_cube, ec)) {
            sfs::remove(m_cube, ec); // an empty directory
        }
        sfs::rename(m_root, m_cube, ec);
        if (ec) {
            throw OutputError("cannot move the new cube into place at '" + m_cube.string() +
                              "': " + ec.message());
        }
        m_unfinished->done();
        fs::sync_dir(m_cube.has_parent_path() ? m_cube.parent_path() : sfs::path("."));
    }

    void commit_update(std::vector<long> mapping, std::vector<StagedSlice> staged,
                       CubeState state) override {
        if (m_unfinished) {
            throw InternalError("commit_update on a cube being created");
        }
        const size_t old_nt = mapping.size();
        Journal j;
        j.mapping = std::move(mapping);
        if (needs_exchange(j.mapping, staged)) {
            // Time steps readers see shift or change: the new cube is built beside the old one
            // and exchanged with it (journal.hpp, phase B).
            check_exchange_support(m_root);
            j.phase = "B";
            j.staged = std::move(staged);
            j.state = std::move(state);
            m_store->sync(); // the staged chunks are durable before the journal names them
            fault_point("before-commit");
            // The commit point. Not synced on its own: phase B ends with a syncfs before the
            // exchange, which makes it durable; a power cut before that loses an update that
            // nobody saw (the next run finds no journal and removes the staging area).
            write_journal_unsynced(*m_store, j);
            apply_journal(*m_store, m_root, std::move(j));
            return;
        }
        // Only appended time steps: applied in place (phases C and M), invisible to readers
        // until .zmetadata names them.
        for (const auto& name : state.var_order) {
            for (const auto& ck : list_chunks(*m_store, name)) {
                long t = std::stol(ck.substr(0, ck.find('.')));
                if (t >= static_cast<long>(old_nt)) {
                    // Beyond the cube's end (left by another tool): no reader sees it, and the
                    // shift needs those places free.
                    m_store->erase(name + "/" + ck);
                } else if (j.mapping[static_cast<size_t>(t)] != t) {
                    j.moving[name].push_back(ck);
                }
            }
        }
        j.staged = std::move(staged);
        j.state = std::move(state);
        m_store->sync();
        fault_point("before-commit");
        write_journal(*m_store, j); // commit point
        apply_journal(*m_store, m_root, std::move(j));
    }

private:
    sfs::path m_cube; // where readers find the cube
    sfs::path m_root; // the folder written: the cube's, or <cube>.baims-new
    // Destroyed in reverse order: the unfinished new cube is removed while the lock is held.
    std::unique_ptr<zarr::StoreLock> m_lock;
    std::optional<UnfinishedCube> m_unfinished;
    std::unique_ptr<CubeStore> m_store;
};

sfs::path parts_dir(const sfs::path& cube) {
    return sfs::path(cube) += PARTS_SUFFIX;
}

// --partition k/n: chunks of one part of the chunk grid, in <cube>.baims-parts/<k>-of-<n>/, and a
// done-marker. Nothing is visible at <cube> before --finalize.
//  - new cube: the chunks under their final keys; the marker is the state this partition computed.
//  - update of the existing cube at <cube> (read, never written nor locked): the staged chunks
//    under .baims-staging/<seq>/<var>/<y>.<x> as in an update's staging area; the marker is
//    {"base": the cube's state when the partition read it, "journal": the update (journal.hpp)}.
class PartitionWriter : public PartitionWriterBase {
public:
    PartitionWriter(const sfs::path& cube, size_t k, size_t n, bool update)
        : m_root(parts_dir(cube) / part_name(k, n)) {
        std::error_code ec;
        sfs::create_directories(m_root, ec);
        if (ec) {
            throw OutputError("cannot create '" + m_root.string() + "': " + ec.message(),
                              "Check that the cube's parent folder is writable");
        }
        m_store = std::make_unique<CubeStore>(m_root);
        m_lock = m_store->lock(LOCK_FILE, part_lock_what(cube.string(), k, n));
        // A run of this partition that died or finished before: start it again.
        for (sfs::directory_iterator it(m_root, ec), end; !ec && it != end; it.increment(ec)) {
            if (it->path().filename() != LOCK_FILE) {
                std::error_code ec2;
                sfs::remove_all(it->path(), ec2);
            }
        }
        if (update) {
            m_cube = std::make_unique<CubeStore>(cube);
            auto base = read_cube(*m_cube);
            if (!base) {
                throw OutputError("cube '" + cube.string() + "' has no .zgroup");
            }
            set_base(*base);
        }
    }

    // The cube that is read (an update), or the partition's folder (a new cube).
    zarr::KvStore& store() override { return m_cube ? *m_cube : *m_store; }
    void put_unpublished(const std::string& key, std::string_view data) override {
        m_store->put_unpublished(key, data);
    }

private:
    void mark_done(const nlohmann::json& marker) override {
        m_store->sync(); // the chunks are durable before the marker says so
        fault_point("partition-done");
        m_store->put(PART_DONE, marker.dump());
        fs::sync_dir(m_root);
    }

    sfs::path m_root;
    std::unique_ptr<zarr::StoreLock> m_lock;
    std::unique_ptr<CubeStore> m_store;
    std::unique_ptr<CubeStore> m_cube; // an update: the cube, only read
};

bool is_cube(const sfs::path& cube) {
    std::error_code ec;
    return sfs::exists(cube / ".zgroup", ec);
}

// Removes the partitions once their result is the cube.
void remove_parts(const sfs::path& parts) {
    std::error_code ec;
    sfs::remove_all(parts, ec);
    if (ec) {
        log::warn("could not remove the finalized partitions '" + parts.string() +
                  "': " + ec.message() + "; remove them by hand");
    }
}

void link_file(const sfs::path& from, const sfs::path& to) {
    fault_point("finalize-link");
    if (::link(from.c_str(), to.c_str()) != 0) {
        const int err = errno;
        throw OutputError("cannot link '" + from.string() + "' to '" + to.string() +
                          "': " + std::strerror(err));
    }
}

// --finalize of partitions of a new cube: the cube built from hard links to their chunks and
// published as a create.
Finalized finalize_create(const sfs::path& cube, const sfs::path& parts, size_t n,
                          const nlohmann::json& marker) {
    const auto state = CubeState::from_json(marker);
    Finalized out;
    out.created = true;
    out.appended = state.nt();
    out.time_steps = state.nt();
    std::error_code ec;
    if (is_cube(cube)) {
        // A finalize killed after publishing the cube, before removing the partitions?
        PosixJournal reader(cube, true);
        auto cur = read_cube(reader.store());
        if (cur && comparable_state(normalized(cur->to_json())) == comparable_state(marker)) {
            remove_parts(parts);
            return out;
        }
        throw OutputError("cube '" + cube.string() + "' exists, and the partitions in '" +
                              parts.string() + "' made a new cube",
                          "Remove '" + parts.string() +
                              "' and run the partitions again: they then update the cube");
    }
    auto commit = open_for_create(cube);
    const auto root = sfs::path(cube) += ".baims-new";
    // hard links, not renames: the partitions stay whole until the cube is published, so a
    // finalize killed half-way is simply run again
    for (size_t k = 1; k <= n; ++k) {
        const auto dir = parts / part_name(k, n);
        for (const auto& var : state.var_order) {
            const auto from = dir / var;
            if (!sfs::is_directory(from, ec)) {
                continue;
            }
            sfs::create_directories(root / var, ec);
            for (const auto& e : sfs::directory_iterator(from)) {
                link_file(e.path(), root / var / e.path().filename());
            }
        }
    }
    commit->publish_new(state);
    remove_parts(parts);
    return out;
}

// --finalize of partitions of an update: their staged chunks linked into the cube's staging
// area, then the update committed as one process commits it (journal.hpp: in place for appends,
// by exchange when steps readers see change). Until the commit point the cube is untouched and
// the partitions whole (links, not renames), so a killed finalize is simply run again.
Finalized finalize_update(const sfs::path& cube, const sfs::path& parts, size_t n,
                          const std::vector<nlohmann::json>& markers) {
    PosixJournal commit(cube, false); // locked; an interrupted update (ours too) completed
    auto cur = read_cube(commit.store());
    auto j = journal_from_json(markers[0].at("journal"));
    Finalized out;
    out.time_steps = j.state.nt();
    const auto now = cur ? normalized(cur->to_json()) : nlohmann::json();
    if (now != markers[0].at("base")) {
        if (cur && comparable_state(now) == comparable_state(markers[0]["journal"]["state"])) {
            remove_parts(parts); // finalized before; killed before the partitions were removed
            return out;
        }
        throw OutputError("cube '" + cube.string() +
                              "' changed after its partitions read it (another gen updated it)",
                          "Remove '" + parts.string() + "' and run every partition again");
    }
    // The union of the partitions' staged chunks, linked into the cube's staging area.
    j = merged_journal(markers);
    std::error_code ec;
    for (size_t k = 1; k <= n; ++k) {
        const auto dir = parts / part_name(k, n);
        for (const auto& s : journal_from_json(markers[k - 1].at("journal")).staged) {
            for (const auto& [var, list] : s.write) {
                const auto rel = sfs::path(STAGING_DIR) / std::to_string(s.seq) / var;
                sfs::create_directories(cube / rel, ec);
                for (const auto& pos : list) {
                    link_file(dir / rel / pos, cube / rel / pos);
                }
            }
        }
    }
    count_update(j, out);
    if (j.staged.empty()) {
        // Nothing to compute (every step made from these inputs before): only the records of
        // what made the steps may be new, as in a run of one process.
        out.up_to_date = true;
        write_records_update(commit.store(), *cur, j.state);
    } else {
        commit.commit_update(std::move(j.mapping), std::move(j.staged), std::move(j.state));
    }
    remove_parts(parts);
    return out;
}

} // namespace

std::unique_ptr<CommitProtocol> open_for_partition(const sfs::path& cube, size_t k, size_t n,
                                                   bool update) {
    if (on_object_storage(cube)) {
        return open_object_for_partition(cube, k, n, update);
    }
    return std::make_unique<PartitionWriter>(cube, k, n, update);
}

Finalized finalize_partitions(const sfs::path& cube) {
    if (on_object_storage(cube)) {
        return finalize_object_partitions(cube);
    }
    const auto parts = parts_dir(cube);
    std::error_code ec;
    // n from the partitions' folders: "<k>-of-<n>"
    std::set<size_t> counts;
    for (sfs::directory_iterator it(parts, ec), end; !ec && it != end; it.increment(ec)) {
        const auto name = it->path().filename().string();
        const auto of = name.find("-of-");
        if (of != std::string::npos) {
            counts.insert(std::stoul(name.substr(of + 4)));
        }
    }
    if (counts.empty()) {
        throw OutputError("cube '" + cube.string() + "' has no partitions to finalize (no '" +
                              parts.string() + "')",
                          "Run baims gen --partition K/N for every K first");
    }
    if (counts.size() > 1) {
        throw OutputError("the partitions of cube '" + cube.string() +
                              "' were made with different counts N (folders in '" + parts.string() +
                              "')",
                          "Remove '" + parts.string() + "' and run every partition again");
    }
    const size_t n = *counts.begin();
    // The partitions' locks, held to the end: a partition run meanwhile is refused (and this
    // finalize, while a partition runs).
    std::vector<std::unique_ptr<zarr::StoreLock>> locks;
    std::vector<std::optional<nlohmann::json>> found;
    for (size_t k = 1; k <= n; ++k) {
        const auto dir = parts / part_name(k, n);
        sfs::create_directories(dir, ec);
        locks.push_back(CubeStore(dir).lock(LOCK_FILE, part_lock_what(cube.string(), k, n)));
        const auto marker = dir / PART_DONE;
        if (sfs::exists(marker, ec)) {
            found.emplace_back(nlohmann::json::parse(fs::read_file(marker)));
        } else {
            found.emplace_back();
        }
    }
    const auto markers = check_markers(cube.string(), n, std::move(found));
    if (markers[0].contains("journal")) {
        return finalize_update(cube, parts, n, markers);
    }
    return finalize_create(cube, parts, n, markers[0]);
}

void require_capabilities(const zarr::KvStore& store, const zarr::StoreCapabilities& needs,
                          const std::string& protocol) {
    const auto has = store.capabilities();
    std::vector<std::string> missing;
    if (needs.atomic_rename && !has.atomic_rename) {
        missing.push_back("atomic rename");
    }
    if (needs.rename_tree && !has.rename_tree) {
        missing.push_back("rename of a folder");
    }
    if (needs.sync && !has.sync) {
        missing.push_back("sync");
    }
    if (needs.lock && !has.lock) {
        missing.push_back("a lock between processes");
    }
    if (!missing.empty()) {
        std::string list;
        for (const auto& m : missing) {
            list += (list.empty() ? "" : ", ") + m;
        }
        throw OutputError("the store of '" + store.describe() + "' has no " + list + ", which " +
                              protocol + " needs",
                          "Write the cube to a local file system");
    }
}

std::unique_ptr<CommitProtocol> open_for_update(const std::filesystem::path& cube, bool dry_run) {
    if (on_object_storage(cube)) {
        return open_object_for_update(cube, dry_run);
    }
    return std::make_unique<PosixJournal>(cube, dry_run);
}

std::unique_ptr<CommitProtocol> open_for_create(const std::filesystem::path& cube) {
    if (on_object_storage(cube)) {
        return open_object_for_create(cube);
    }
    return std::make_unique<PosixJournal>(cube);
}

} // namespace baims::cube
