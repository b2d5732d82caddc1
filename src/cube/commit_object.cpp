// The metadata-last commit protocol for object storage (commit.hpp; docs/crash-safety.md,
// "Object storage"). Object stores have no rename of a folder, no atomic rename of a key and no
// lock, only an atomic PUT of one object. So:
//   - a new cube is written in place under its final keys: first the marker .baims-creating,
//     then the chunks, the metadata with .zmetadata, and last the marker is deleted. A run that
//     finds the marker removes what is there and builds the cube again.
//   - an update writes the chunks of slices appended after the cube's end straight to their final
//     keys (beyond the shape the metadata names: no reader looks there) and stages the others
//     under .baims-staging/, writes .baims-journal.json (the commit point; the same journal as on
//     a local disk) and applies it with server-side copies (one CopyObject request each, no
//     delete of the source), recording its progress after every time step that shifts, so that
//     a rerun completes it: see apply() below. The consolidated metadata is written last.

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

// Copies `from` to `to` on the server. A `from` that is gone was moved (copied, then deleted) by
// an earlier version of this protocol whose run was killed: nothing left to do.
void copy_or_moved(zarr::VsiStore& store, const std::string& from, const std::string& to) {
    try {
        store.copy(from, to);
    } catch (const OutputError&) {
        if (store.exists(from)) {
            throw;
        }
    }
}

std::string chunk_key(const std::string& var, size_t t, const std::string& pos) {
    return var + "/" + std::to_string(t) + "." + pos;
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
//         start of phases C and M. Moving time step t means, per variable, copying each of its
//         chunks to mapping[t] (one CopyObject each; the source is not deleted) and deleting the
//         chunks that the place mapping[t] still holds where t has none. The mapping only shifts
//         up and keeps the order, so when t moves, the place mapping[t] is free: its time step
//         has moved on (its chunks were copied, and the copies left behind are overwritten or
//         deleted now) or it lies beyond the old end (cleared before the commit). And t's own
//         chunks are still the old ones: they become targets only when an earlier time step
//         moves, after t is recorded as done. So a rerun repeats the interrupted time step, and
//         copying again what was copied changes nothing. (A journal of an earlier version,
//         whose moves deleted their sources, completes too: a source that is gone was moved.)
//  C      staged chunks are copied into place, and the chunks the new content must not have are
//         deleted at the time steps readers saw: a replaced step's chunks that are empty now,
//         and what a step that moved on left at the place of a new step. Slices appended beyond
//         the old end were written there directly (nothing to do) or are copied like the
//         others; their places were cleared before the commit.
//  M      metadata with .zmetadata (write_cube_metadata), then the journal and the staging
//         area are deleted.
void apply(zarr::VsiStore& store, Journal j) {
    auto advance = [&](std::string next) {
        j.phase = std::move(next);
        write_journal(store, j);
    };
    const auto order = shift_order(j.mapping);
    const size_t old_nt = j.mapping.size();
    // var -> time -> positions present at that time before the update (moving steps only)
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
    // The keys of var at time index `to` among `old` positions that `keep` does not have.
    auto stale = [](const std::string& var, long to, const std::vector<std::string>& old,
                    std::vector<std::string> keep, std::vector<std::string>& out) {
        std::sort(keep.begin(), keep.end());
        for (const auto& pos : old) {
            if (!std::binary_search(keep.begin(), keep.end(), pos)) {
                out.push_back(chunk_key(var, static_cast<size_t>(to), pos));
            }
        }
    };
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
        for (size_t k = done; k < order.size(); ++k) {
            const long t = order[k];
            const long to = j.mapping[static_cast<size_t>(t)];
            std::vector<std::string> gone;
            for (const auto& [var, chunks] : j.moving) {
                for (const auto& pos : at(var, t)) {
                    fault_point("journal-S");
                    copy_or_moved(store, chunk_key(var, static_cast<size_t>(t), pos),
                                  chunk_key(var, static_cast<size_t>(to), pos));
                }
                if (to < static_cast<long>(old_nt)) { // the step that was there moved on
                    stale(var, to, at(var, to), at(var, t), gone);
                }
            }
            store.erase_keys(gone);
            store.put(PROGRESS_KEY, std::to_string(k + 1));
        }
        advance("C");
    }
    if (j.phase == "C") {
        // new time index -> true if an old step lands there (a replaced or moved step)
        std::vector<bool> kept(j.state.nt(), false);
        for (const long to : j.mapping) {
            kept[static_cast<size_t>(to)] = true;
        }
        std::vector<std::string> gone;
        for (const auto& s : j.staged) {
            for (const auto& [var, list] : s.write) {
                for (const auto& pos : list) {
                    fault_point("journal-C");
                    copy_or_moved(store,
                                  STAGING_DIR + "/" + std::to_string(s.seq) + "/" + var + "/" + pos,
                                  chunk_key(var, s.final_index, pos));
                }
            }
            if (s.final_index >= old_nt) {
                continue; // cleared before the commit
            }
            const long f = static_cast<long>(s.final_index);
            if (!kept[s.final_index]) {
                // a new step where an old one was (it moved on in phase S): every chunk of the
                // old one that the new one does not write goes
                for (const auto& [var, per_t] : had) {
                    auto w = s.write.find(var);
                    stale(var, f, at(var, f), w == s.write.end() ? none : w->second, gone);
                }
            } else {
                for (const auto& [var, list] : s.erase) {
                    for (const auto& pos : list) {
                        gone.push_back(chunk_key(var, s.final_index, pos));
                    }
                }
            }
        }
        store.erase_keys(gone);
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

    // A slice after the cube's end goes straight to its final key: beyond the shape that
    // .zmetadata and every .zarray name, so no reader sees it before phase M, and a run that dies
    // before the commit leaves chunks there that the next update deletes first (below, and in
    // commit_update). Once a slice lands before the end (an insert), the later ones are staged:
    // their final index moves up by the inserted steps, into the places phase S fills.
    std::optional<size_t> direct_index(size_t seq, double time) override {
        if (m_creating || m_no_direct) {
            return std::nullopt;
        }
        if (!m_old) {
            auto old = read_cube(m_store);
            if (!old) {
                throw OutputError("cube '" + m_store.describe() + "' has no .zgroup");
            }
            m_old = std::move(old);
        }
        const size_t old_nt = m_old->nt();
        if (old_nt > 0 && !(time > m_old->time.back())) {
            m_no_direct = true;
            return std::nullopt;
        }
        if (!m_listed) {
            list_and_clear(old_nt, m_old->var_order); // before the first chunk is written
        }
        const size_t index = old_nt + m_direct.size();
        m_direct[seq] = index;
        return index;
    }

    void commit_update(std::vector<long> mapping, std::vector<StagedSlice> staged,
                       CubeState state) override {
        if (m_creating) {
            throw InternalError("commit_update on a cube being created");
        }
        const size_t old_nt = mapping.size();
        if (!m_listed) {
            list_and_clear(old_nt, state.var_order);
        }
        Journal j;
        j.mapping = std::move(mapping);
        for (const auto& [name, chunks] : *m_listed) {
            for (const auto& ck : chunks) {
                const long t = std::stol(ck.substr(0, ck.find('.')));
                if (j.mapping[static_cast<size_t>(t)] != t) {
                    j.moving[name].push_back(ck);
                }
            }
        }
        std::vector<std::string> misplaced;
        for (auto& s : staged) {
            auto d = m_direct.find(s.seq);
            if (d == m_direct.end()) {
                continue;
            }
            if (d->second != s.final_index) {
                // Not where it belongs (not expected: direct_index stops at an insert): staged
                // after all, before the commit, where no reader looks.
                for (const auto& [var, list] : s.write) {
                    for (const auto& pos : list) {
                        m_store.copy(chunk_key(var, d->second, pos), staged_key(s.seq, var, pos));
                        misplaced.push_back(chunk_key(var, d->second, pos));
                    }
                }
                continue;
            }
            s.write.clear(); // in place already
            s.erase.clear(); // nothing was there (cleared before the first chunk)
        }
        m_store.erase_keys(misplaced);
        j.staged = std::move(staged);
        j.state = std::move(state);
        fault_point("before-commit");
        write_journal(m_store, j); // commit point
        apply(m_store, std::move(j));
    }

private:
    // Lists every data variable's chunks once: those beyond the cube's end (a failed run's, or
    // another tool's: no reader sees them, and the update's places must be free) are deleted,
    // the others kept for the journal (nothing else changes them while the lease is held).
    void list_and_clear(size_t old_nt, const std::vector<std::string>& vars) {
        m_listed.emplace();
        std::vector<std::string> beyond;
        for (const auto& name : vars) {
            auto& mine = (*m_listed)[name];
            for (const auto& ck : list_chunks(m_store, name)) {
                const long t = std::stol(ck.substr(0, ck.find('.')));
                if (t >= static_cast<long>(old_nt)) {
                    beyond.push_back(name + "/" + ck);
                } else {
                    mine.push_back(ck);
                }
            }
        }
        m_store.erase_keys(beyond);
    }

private:
    zarr::VsiStore m_store;
    std::unique_ptr<ObjectLease> m_lease; // excludes other writers (not in a dry run)
    bool m_creating = false;
    std::optional<CubeState> m_old;    // the cube before the update (read for direct_index)
    bool m_no_direct = false;          // a slice was inserted: the later ones are staged
    std::map<size_t, size_t> m_direct; // seq -> time index of the slices written in place
    std::optional<std::map<std::string, std::vector<std::string>>> m_listed; // var -> "t.y.x"
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
