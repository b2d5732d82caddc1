// The metadata-last commit protocol for object storage (commit.hpp; docs/crash-safety.md,
// "Object storage"). Object stores have no rename of a folder, no atomic rename of a key and no
// lock, only an atomic PUT of one object. So:
//   - a new cube is written in place under its final keys: first the marker .baims-creating,
//     then the chunks, the metadata with .zmetadata, and last the marker is deleted. A run that
//     finds the marker removes what is there and builds the cube again.
//   - an update stages its chunks under .baims-staging/, writes .baims-journal.json (the commit
//     point; the same journal as on a local disk) and applies it with server-side copies and
//     deletes, recording its progress after every time step that shifts, so that a rerun
//     completes it: see apply() below. The consolidated metadata is written last.

#include "commit.hpp"
#include "cube_store.hpp"

#include "baims/core/error.hpp"
#include "baims/core/fault.hpp"
#include "baims/core/log.hpp"
#include "baims/zarr/vsi_store.hpp"

#include <algorithm>

namespace baims::cube {
namespace {

// How many time steps phase S of the journal has moved (apply()).
const std::string PROGRESS_KEY = ".baims-journal-progress";

// "t.y.x" -> t and "y.x".
std::pair<long, std::string> split_chunk(const std::string& key) {
    auto dot = key.find('.');
    return {std::stol(key.substr(0, dot)), key.substr(dot + 1)};
}

// The time steps that shift, latest first: the order of phase S.
std::vector<long> shift_order(const std::vector<long>& mapping) {
    std::vector<long> out;
    for (size_t t = mapping.size(); t-- > 0;) {
        if (mapping[t] != static_cast<long>(t)) {
            out.push_back(static_cast<long>(t));
        }
    }
    return out;
}

// Copies `from` to `to` on the server and deletes `from`; a `from` that is gone was moved by a
// run that crashed (the copy's own look-up of `from` tells, without a request of ours first).
void move(zarr::KvStore& store, const std::string& from, const std::string& to) {
    try {
        store.rename(from, to);
    } catch (const OutputError&) {
        if (store.exists(from)) {
            throw;
        }
    }
}

// Before phases S and C change time steps readers see: the metadata of the new state cut to the
// time steps before the first one the update changes (the same in the old and the new cube), so
// that a reader opening the cube meanwhile (or after a kill, until the rerun) sees a shorter cube
// of correct time steps instead of shifted or half-replaced ones. Only appends: nothing to do.
// About 20 small PUTs; repeated by a rerun with the same content.
void hide_changing_steps(zarr::KvStore& store, const Journal& j) {
    size_t first = j.mapping.size();
    for (size_t t = 0; t < j.mapping.size(); ++t) {
        if (j.mapping[t] != static_cast<long>(t)) {
            first = t;
            break;
        }
    }
    for (const auto& s : j.staged) {
        first = std::min(first, s.final_index);
    }
    if (first >= j.mapping.size()) {
        return;
    }
    CubeState cut = j.state;
    cut.time.resize(first);
    if (!cut.bounds.empty()) {
        cut.bounds.resize(first);
    }
    if (!cut.sources.empty()) {
        cut.sources.resize(first);
    }
    write_cube_metadata(store, cut);
    fault_point("journal-hidden");
}

// Applies a committed journal from its phase on. Each step is repeatable after a crash:
//  S      the first k time steps of shift_order() have moved, k being the number in the small
//         object .baims-journal-progress (0 when absent), rewritten after every time step: the
//         journal itself, with the whole new state, is only written at the commit and at the
//         start of phases C and M. Moving time step t means, per
//         variable, copying each of its chunks to mapping[t] and deleting the source (a rename
//         of the store: copy on the server, then delete). The mapping only shifts up and keeps
//         the order, so when t moves, the place mapping[t] is free: its time step has moved on
//         (its sources were deleted before it was recorded as done) or it lies beyond the old
//         end (cleared before the commit). And t's own chunks are still the old ones: they
//         become targets only when an earlier time step moves, after t is recorded as done. So
//         a rerun repeats the interrupted time step: a source that is gone was moved, a source
//         that is still there (copied, not yet deleted) is copied again.
//  C      staged chunks are copied into place (and deleted), chunks that are empty in the new
//         content deleted.
//  M      metadata with .zmetadata (write_cube_metadata), then the journal and the staging
//         area are deleted.
void apply(zarr::KvStore& store, Journal j) {
    auto advance = [&](std::string next) {
        j.phase = std::move(next);
        write_journal(store, j);
    };
    const auto order = shift_order(j.mapping);
    if (j.phase == "S" || j.phase == "C") {
        hide_changing_steps(store, j);
    }
    if (j.phase == "S") {
        size_t done = 0;
        if (auto text = store.get(PROGRESS_KEY)) {
            try {
                done = std::min<size_t>(std::stoul(*text), order.size());
            } catch (const std::exception&) {
                throw OutputError("the update journal of cube '" + store.describe() +
                                      "' has an unreadable " + PROGRESS_KEY,
                                  "Restore the cube from a backup; it is written whole, so this "
                                  "means outside damage");
            }
        }
        // var -> time -> positions present at that time before the update
        std::map<std::string, std::map<long, std::vector<std::string>>> had;
        for (const auto& [var, chunks] : j.moving) {
            for (const auto& c : chunks) {
                auto [t, pos] = split_chunk(c);
                had[var][t].push_back(pos);
            }
        }
        static const std::vector<std::string> none;
        auto at = [&](const std::string& var, long t) -> const std::vector<std::string>& {
            auto v = had.find(var);
            if (v == had.end()) {
                return none;
            }
            auto p = v->second.find(t);
            return p == v->second.end() ? none : p->second;
        };
        for (size_t k = done; k < order.size(); ++k) {
            const long t = order[k];
            const long to = j.mapping[static_cast<size_t>(t)];
            for (const auto& [var, chunks] : j.moving) {
                for (const auto& pos : at(var, t)) {
                    fault_point("journal-S");
                    move(store, var + "/" + std::to_string(t) + "." + pos,
                         var + "/" + std::to_string(to) + "." + pos);
                }
            }
            store.put(PROGRESS_KEY, std::to_string(k + 1));
        }
        advance("C");
    }
    if (j.phase == "C") {
        for (const auto& s : j.staged) {
            for (const auto& [var, list] : s.write) {
                for (const auto& pos : list) {
                    fault_point("journal-C");
                    move(store, STAGING_DIR + "/" + std::to_string(s.seq) + "/" + var + "/" + pos,
                         var + "/" + std::to_string(s.final_index) + "." + pos);
                }
            }
            for (const auto& [var, list] : s.erase) {
                for (const auto& pos : list) {
                    store.erase(var + "/" + std::to_string(s.final_index) + "." + pos);
                }
            }
        }
        advance("M");
    }
    if (j.phase == "M") {
        fault_point("journal-M");
        write_cube_metadata(store, j.state); // .zmetadata, then the time chunks
        fault_point("journal-M-done");
        store.erase(PROGRESS_KEY); // first: without the journal it would be stale
        store.erase(JOURNAL_KEY);
        store.erase_dir(STAGING_DIR);
        return;
    }
    throw OutputError("the update journal of cube '" + store.describe() + "' has unknown phase '" +
                      j.phase + "'");
}

class ObjectCommit : public CommitProtocol {
public:
    // Update of the cube at `cube`.
    ObjectCommit(const std::string& cube, bool dry_run)
        : m_store(cube) {
        if (!dry_run) {
            m_lease = std::make_unique<ObjectLease>(m_store, "cube '" + cube + "'", "gen");
        }
        if (m_store.exists(CREATING_KEY)) {
            throw OutputError("cube '" + cube + "' was not completely created",
                              "Run the same baims gen again: it builds the cube anew");
        }
        if (auto j = read_journal(m_store)) {
            if (dry_run) {
                log::warn("cube '" + cube +
                          "' has an unfinished update; a real run completes it first");
            } else {
                log::warn("completing an interrupted update of cube '" + cube + "'");
                apply(m_store, std::move(*j));
            }
        }
        if (!dry_run) {
            m_store.erase_dir(STAGING_DIR); // leftovers of an update that never committed
        }
    }

    // A new cube, written in place behind the marker.
    explicit ObjectCommit(const std::string& cube)
        : m_store(cube)
        , m_creating(true) {
        m_lease = std::make_unique<ObjectLease>(m_store, "cube '" + cube + "'", "gen");
        if (m_store.exists(CREATING_KEY)) {
            log::warn("removing the unfinished new cube '" + cube + "' of an earlier run");
            erase_all_but_lease(m_store);
        } else if (has_objects_besides_lease(m_store)) {
            throw OutputError("output path '" + cube + "' holds objects and is not a Zarr cube",
                              "Choose another output_path or remove them");
        }
        m_store.put(CREATING_KEY, "{\"format\": \"baims-creating/1\"}\n");
    }

    ObjectCommit(const ObjectCommit&) = delete;
    ObjectCommit& operator=(const ObjectCommit&) = delete;

    // A creation that failed (not killed) removes what it wrote, as on a local disk.
    ~ObjectCommit() override {
        if (!m_creating) {
            return;
        }
        try {
            m_store.erase_all();
            log::warn("removed the unfinished new cube '" + m_store.describe() + "'");
        } catch (const std::exception& e) {
            try {
                log::warn("could not remove the unfinished new cube '" + m_store.describe() +
                          "': " + e.what() + "; the next run to that path removes it");
            } catch (...) { // NOLINT(bugprone-empty-catch): logging must not throw from here
            }
        }
    }

    zarr::KvStore& store() override { return m_store; }

    void put_unpublished(const std::string& key, std::string_view data) override {
        m_store.put(key, data); // one PUT: no cheaper way on object storage
    }

    std::string staged_key(size_t seq, const std::string& var,
                           const std::string& pos) const override {
        return STAGING_DIR + "/" + std::to_string(seq) + "/" + var + "/" + pos;
    }

    void publish_new(const CubeState& st) override {
        if (!m_creating) {
            throw InternalError("publish_new on a cube opened for an update");
        }
        write_cube_metadata(m_store, st); // .zmetadata, then the time chunks
        fault_point("create-rename");     // the same place as the rename of a local cube
        m_store.erase(CREATING_KEY);      // the cube is complete
        m_creating = false;
    }

    void commit_update(std::vector<long> mapping, std::vector<StagedSlice> staged,
                       CubeState state) override {
        if (m_creating) {
            throw InternalError("commit_update on a cube being created");
        }
        const size_t old_nt = mapping.size();
        Journal j;
        j.mapping = std::move(mapping);
        for (const auto& name : state.var_order) {
            for (const auto& ck : list_chunks(m_store, name)) {
                long t = std::stol(ck.substr(0, ck.find('.')));
                if (t >= static_cast<long>(old_nt)) {
                    // Beyond the cube's end (a failed run's copies, another tool): no reader
                    // sees them, and the update's places must be free.
                    m_store.erase(name + "/" + ck);
                } else if (j.mapping[static_cast<size_t>(t)] != t) {
                    j.moving[name].push_back(ck);
                }
            }
        }
        j.staged = std::move(staged);
        j.state = std::move(state);
        fault_point("before-commit");
        write_journal(m_store, j); // commit point
        apply(m_store, std::move(j));
    }

private:
    zarr::VsiStore m_store;
    std::unique_ptr<ObjectLease> m_lease; // excludes other writers (not in a dry run)
    bool m_creating = false;
};

} // namespace

bool on_object_storage(const std::filesystem::path& cube) {
    return zarr::is_object_storage_path(cube.string());
}

bool object_cube_exists(const std::filesystem::path& cube) {
    zarr::VsiStore store(cube.string());
    if (store.exists(CREATING_KEY)) {
        return false; // an unfinished creation: open_for_create starts it again
    }
    if (store.exists(".zgroup")) {
        return true;
    }
    if (has_objects_besides_lease(store)) {
        throw OutputError("output path '" + cube.string() +
                              "' holds objects and is not a Zarr cube",
                          "Choose another output_path or remove them");
    }
    return false;
}

std::unique_ptr<CommitProtocol> open_object_for_update(const std::filesystem::path& cube,
                                                       bool dry_run) {
    return std::make_unique<ObjectCommit>(cube.string(), dry_run);
}

std::unique_ptr<CommitProtocol> open_object_for_create(const std::filesystem::path& cube) {
    return std::make_unique<ObjectCommit>(cube.string());
}

} // namespace baims::cube
