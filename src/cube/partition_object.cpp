// gen --partition K/N and --finalize for a cube on object storage (/vsis3/; partition.hpp,
// docs/scale-out.md, docs/object-storage.md). The workers share no disk, only the bucket:
//   - partition k of n writes its objects under the prefix <cube>.baims-parts/<k>-of-<n>/ (a
//     new cube's chunks under their final keys; an update's staged chunks under
//     .baims-staging/<seq>/<var>/<y>.<x>), and last the done-marker .baims-part-done.json, the
//     same marker as on a file system. It holds the lease <k>-of-<n>/.baims-lock while it runs
//     and never writes the cube.
//   - --finalize takes every partition's lease, checks every marker (and that the cube is the one
//     the partitions read), then copies the objects on the server: a new cube is created behind
//     its .baims-creating marker (commit_object.cpp) and published metadata last; an update's
//     chunks are copied into the cube's staging area and committed through the journal of the
//     metadata-last protocol (a slice appended after the cube's end is copied straight to its
//     final keys, as gen writes it). The partitions stay whole until the cube is published or the
//     update committed and applied, so a finalize killed anywhere is completed by running it
//     again; last, the prefix <cube>.baims-parts/ is deleted.

#include "cube_store.hpp"
#include "partition.hpp"

#include "baims/core/error.hpp"
#include "baims/core/fault.hpp"
#include "baims/core/log.hpp"
#include "baims/zarr/vsi_store.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace baims::cube {
namespace {

std::string parts_prefix(const std::string& cube) {
    return cube + PARTS_SUFFIX;
}

class ObjectPartitionWriter : public PartitionWriterBase {
public:
    ObjectPartitionWriter(const std::string& cube, size_t k, size_t n, bool update)
        : m_part(parts_prefix(cube) + "/" + part_name(k, n)) {
        m_lease = std::make_unique<ObjectLease>(m_part, part_lock_what(cube, k, n), "gen");
        // A run of this partition that died or finished before: start it again.
        erase_all_but_lease(m_part);
        if (update) {
            m_cube = std::make_unique<zarr::VsiStore>(cube);
            auto base = read_cube(*m_cube);
            if (!base) {
                throw OutputError("cube '" + cube + "' has no .zgroup");
            }
            set_base(*base);
        }
    }

    // The cube that is read (an update), or the partition's prefix (a new cube).
    zarr::KvStore& store() override {
        return m_cube ? static_cast<zarr::KvStore&>(*m_cube) : m_part;
    }
    void put_unpublished(const std::string& key, std::string_view data) override {
        m_part.put(key, data);
    }

private:
    // Written last: every chunk is on the server before the marker (each PUT has completed).
    void mark_done(const nlohmann::json& marker) override {
        fault_point("partition-done");
        m_part.put(PART_DONE, marker.dump());
    }

    zarr::VsiStore m_part;                  // <cube>.baims-parts/<k>-of-<n>
    std::unique_ptr<ObjectLease> m_lease;   // destroyed before m_part
    std::unique_ptr<zarr::VsiStore> m_cube; // an update: the cube, only read
};

// Copies (from path, to key) on the server, several requests in flight: each copy is a few round
// trips and moves no data through this process. The first failure is thrown once all stopped.
void copy_all(zarr::VsiStore& cube,
              const std::vector<std::pair<std::string, std::string>>& copies) {
    constexpr size_t IN_FLIGHT = 8;
    std::atomic<size_t> next{0};
    std::exception_ptr failed;
    std::mutex failed_mutex;
    auto work = [&] {
        for (size_t i = next++; i < copies.size(); i = next++) {
            try {
                fault_point("finalize-link");
                cube.copy_in(copies[i].first, copies[i].second);
            } catch (...) {
                std::lock_guard lock(failed_mutex);
                if (!failed) {
                    failed = std::current_exception();
                }
                next = copies.size();
            }
        }
    };
    std::vector<std::thread> threads;
    for (size_t t = 1; t < std::min(IN_FLIGHT, copies.size()); ++t) {
        threads.emplace_back(work);
    }
    work();
    for (auto& t : threads) {
        t.join();
    }
    if (failed) {
        std::rethrow_exception(failed);
    }
}

// The partitions' prefixes, their leases (held to the end of the finalize) and markers.
struct Parts {
    std::string cube;
    std::unique_ptr<zarr::VsiStore> all; // <cube>.baims-parts
    size_t n = 0;
    std::vector<std::unique_ptr<zarr::VsiStore>> stores; // partition k at [k - 1]
    std::vector<std::unique_ptr<ObjectLease>> leases;    // destroyed before stores
    std::vector<nlohmann::json> markers;

    std::string path_of(size_t k, const std::string& key) const {
        return stores[k - 1]->root() + "/" + key;
    }

    // Deletes every partition once their result is the cube.
    void remove() {
        try {
            all->erase_all();
        } catch (const Error& e) {
            log::warn("could not delete the finalized partitions '" + all->root() +
                      "/': " + e.what() + "; delete them by hand");
        }
    }
};

Finalized finalize_create(Parts& parts) {
    const auto& marker = parts.markers[0];
    const auto state = CubeState::from_json(marker);
    Finalized out;
    out.created = true;
    out.appended = state.nt();
    out.time_steps = state.nt();
    if (object_cube_exists(parts.cube)) {
        // A finalize killed after publishing the cube, before deleting the partitions?
        zarr::VsiStore store(parts.cube);
        auto cur = read_cube(store);
        if (cur && comparable_state(normalized(cur->to_json())) == comparable_state(marker)) {
            parts.remove();
            return out;
        }
        throw OutputError("cube '" + parts.cube + "' exists, and the partitions in '" +
                              parts.all->root() + "/' made a new cube",
                          "Delete '" + parts.all->root() +
                              "/' and run the partitions again: they then update the cube");
    }
    // Behind .baims-creating: the leftovers of a finalize killed half-way are removed first.
    auto commit = open_object_for_create(parts.cube);
    zarr::VsiStore cube(parts.cube);
    std::vector<std::pair<std::string, std::string>> copies;
    for (size_t k = 1; k <= parts.n; ++k) {
        for (const auto& key : parts.stores[k - 1]->list_tree("")) {
            if (key != LOCK_FILE && key != PART_DONE) {
                copies.emplace_back(parts.path_of(k, key), key);
            }
        }
    }
    copy_all(cube, copies);
    commit->publish_new(state); // metadata, then .baims-creating deleted
    commit.reset();
    parts.remove();
    return out;
}

Finalized finalize_update(Parts& parts) {
    // Leased; an interrupted update (this finalize's too) completed; the staging area emptied.
    auto commit = open_object_for_update(parts.cube, false);
    auto cur = read_cube(commit->store());
    const auto& first = parts.markers[0];
    Finalized out;
    out.time_steps = journal_from_json(first.at("journal")).state.nt();
    const auto now = cur ? normalized(cur->to_json()) : nlohmann::json();
    if (now != first.at("base")) {
        if (cur && comparable_state(now) == comparable_state(first["journal"]["state"])) {
            commit.reset();
            parts.remove(); // finalized before; killed before the partitions were deleted
            return out;
        }
        throw OutputError("cube '" + parts.cube +
                              "' changed after its partitions read it (another gen updated it)",
                          "Delete '" + parts.all->root() + "/' and run every partition again");
    }
    // The partitions' staged chunks, copied on the server: a slice appended after the cube's end
    // straight to its final keys (the commit protocol clears them first; no reader looks there),
    // the others into the cube's staging area.
    auto j = merged_journal(parts.markers);
    const std::set<long> kept(j.mapping.begin(), j.mapping.end());
    std::map<size_t, size_t> direct; // seq -> final time index
    for (const auto& s : j.staged) {
        if (!kept.contains(static_cast<long>(s.final_index))) {
            const auto at = commit->direct_index(s.seq, j.state.time.at(s.final_index));
            if (at && *at == s.final_index) {
                direct[s.seq] = *at;
            }
        }
    }
    zarr::VsiStore cube(parts.cube);
    std::vector<std::pair<std::string, std::string>> copies;
    for (size_t k = 1; k <= parts.n; ++k) {
        for (const auto& s : journal_from_json(parts.markers[k - 1].at("journal")).staged) {
            const auto d = direct.find(s.seq);
            for (const auto& [var, list] : s.write) {
                for (const auto& pos : list) {
                    const auto key =
                        STAGING_DIR + "/" + std::to_string(s.seq) + "/" + var + "/" + pos;
                    copies.emplace_back(parts.path_of(k, key),
                                        d == direct.end()
                                            ? key
                                            : var + "/" + std::to_string(d->second) + "." + pos);
                }
            }
        }
    }
    copy_all(cube, copies);
    count_update(j, out);
    if (j.staged.empty()) {
        // Nothing to compute (every step made from these inputs before): only the records of
        // what made the steps may be new, as in a run of one process.
        out.up_to_date = true;
        write_records_update(commit->store(), *cur, j.state);
    } else {
        commit->commit_update(std::move(j.mapping), std::move(j.staged), std::move(j.state));
    }
    commit.reset();
    parts.remove();
    return out;
}

} // namespace

std::unique_ptr<CommitProtocol> open_object_for_partition(const std::filesystem::path& cube,
                                                          size_t k, size_t n, bool update) {
    return std::make_unique<ObjectPartitionWriter>(cube.string(), k, n, update);
}

Finalized finalize_object_partitions(const std::filesystem::path& cube_path) {
    Parts parts;
    parts.cube = cube_path.string();
    parts.all = std::make_unique<zarr::VsiStore>(parts_prefix(parts.cube));
    const std::string where = parts.all->root() + "/";
    // n from the partitions' prefixes "<k>-of-<n>/"
    std::set<size_t> counts;
    std::string last;
    for (const auto& key : parts.all->list_tree("")) {
        const auto name = key.substr(0, key.find('/'));
        const auto of = name.find("-of-");
        if (name == last || of == std::string::npos) {
            continue;
        }
        last = name;
        try {
            counts.insert(std::stoul(name.substr(of + 4)));
        } catch (const std::exception&) { // NOLINT(bugprone-empty-catch): not a partition's prefix
        }
    }
    if (counts.empty()) {
        throw OutputError("cube '" + parts.cube +
                              "' has no partitions to finalize (no objects under '" + where + "')",
                          "Run baims gen --partition K/N for every K first");
    }
    if (counts.size() > 1) {
        throw OutputError("the partitions of cube '" + parts.cube +
                              "' were made with different counts N (prefixes under '" + where +
                              "')",
                          "Delete '" + where + "' and run every partition again");
    }
    parts.n = *counts.begin();
    // Every partition's lease, held to the end: a partition run meanwhile is refused (and this
    // finalize, while a partition runs).
    std::vector<std::optional<nlohmann::json>> found;
    for (size_t k = 1; k <= parts.n; ++k) {
        parts.stores.push_back(std::make_unique<zarr::VsiStore>(where + part_name(k, parts.n)));
        parts.leases.push_back(std::make_unique<ObjectLease>(
            *parts.stores.back(), part_lock_what(parts.cube, k, parts.n), "gen --finalize"));
        if (auto text = parts.stores.back()->get(PART_DONE)) {
            found.emplace_back(nlohmann::json::parse(*text));
        } else {
            found.emplace_back();
        }
    }
    parts.markers = check_markers(parts.cube, parts.n, std::move(found));
    if (parts.markers[0].contains("journal")) {
        return finalize_update(parts);
    }
    return finalize_create(parts);
}

} // namespace baims::cube
