#pragma once
// gen --partition K/N and --finalize (docs/scale-out.md): N processes each write part of a new
// cube's chunk grid beside the cube; one finalize publishes it. Two implementations:
//  - a cube on a shared file system: the POSIX journal (commit_posix.cpp); the parts and the new
//    cube are folders on one file system, the staged chunks are hard-linked into place;
//  - a cube on object storage (/vsis3/): partition_object.cpp; the parts are objects under the
//    prefix <cube>.baims-parts/ in the same bucket, copied into place on the server.
// What both share (names, the comparison of the partitions' done-markers): partition.cpp.

#include "commit.hpp"

#include "baims/cube/cube_state.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace baims::cube {

// --partition k/n (1 <= k <= n): the chunks go to <cube>.baims-parts/<k>-of-<n>/ (emptied first:
// a rerun of a partition starts it again); nothing becomes visible at `cube`.
//  - a new cube (update = false): publish_new() only marks the partition done, with the state it
//    computed;
//  - an update of the cube at `cube` (update = true): store() is the cube, read and never written
//    or locked; the chunks are staged (staged_key) in the partition's folder, and commit_update()
//    only marks the partition done, with the update and the cube's state it started from.
std::unique_ptr<CommitProtocol> open_for_partition(const std::filesystem::path& cube, size_t k,
                                                   size_t n, bool update);

struct Finalized {
    bool created = false;    // a new cube was published
    bool up_to_date = false; // an update with nothing to change but the records of the inputs
    size_t appended = 0, inserted = 0, replaced = 0;
    size_t time_steps = 0; // of the cube afterwards
};

// --finalize: once every partition of `cube` is done, commits their work, then removes the
// partitions:
//  - a new cube: built from the partitions' chunks and published (as a create);
//  - an update: the partitions' staged chunks linked into the cube's staging area and committed
//    as the update of one process (in place for appends, by exchange for inserts and
//    replacements); refused when the cube changed after the partitions read it.
// Throws OutputError naming the partitions that are not done (the cube untouched), or when they
// disagree about the cube. A finalize killed at any point is completed by running it again.
// Both take the lock of every partition (its lock file, or its lease object on object storage)
// for the whole finalize, so that a partition rerun meanwhile is refused, and a finalize while a
// partition runs is refused (OutputError, exit 5).
Finalized finalize_partitions(const std::filesystem::path& cube);

// The object-storage implementations of the two above (partition_object.cpp).
std::unique_ptr<CommitProtocol> open_object_for_partition(const std::filesystem::path& cube,
                                                          size_t k, size_t n, bool update);
Finalized finalize_object_partitions(const std::filesystem::path& cube);

// The partition writers of both implementations: what they share is the staging key of an
// update's chunks and the done-marker, written last, that finalize reads (partition.cpp). A
// writer implements store(), put_unpublished() and mark_done().
//  - new cube: publish_new() marks the partition done with the state it computed;
//  - update (set_base called): commit_update() marks it done with {"base": the cube's state when
//    the partition read it, "journal": the update (journal.hpp)}.
class PartitionWriterBase : public CommitProtocol {
public:
    std::string staged_key(size_t seq, const std::string& var,
                           const std::string& pos) const override;
    void publish_new(const CubeState& state) override;
    void commit_update(std::vector<long> mapping, std::vector<StagedSlice> staged,
                       CubeState state) override;

protected:
    // The partition is an update of the cube whose state it read.
    void set_base(const CubeState& base);
    // Writes the done-marker once every chunk of the partition is durable.
    virtual void mark_done(const nlohmann::json& marker) = 0;

private:
    bool m_update = false;
    nlohmann::json m_base;
};

// Shared by both implementations (partition.cpp).
inline const std::string PARTS_SUFFIX = ".baims-parts"; // <cube>.baims-parts/<k>-of-<n>/
inline const std::string PART_DONE = ".baims-part-done.json";

// "<k>-of-<n>"
std::string part_name(size_t k, size_t n);

// "partition k/n of cube '<cube>'": the `what` of a partition's lock.
std::string part_lock_what(const std::string& cube, size_t k, size_t n);

// The state a partition recorded, without the attributes that differ between runs, and without
// the arrays' shapes (an update plans them with the old length of the time axis).
nlohmann::json comparable_state(const nlohmann::json& state);

// JSON as it reads back from a file (NaN written as null, numbers re-parsed).
nlohmann::json normalized(const nlohmann::json& j);

// The done-markers of partitions 1..n (nullopt: not done) of the cube `cube` whose partitions
// are at `parts`: throws OutputError naming the partitions not done, or when two partitions made
// different cubes. Returns the markers.
std::vector<nlohmann::json> check_markers(const std::string& cube, size_t n,
                                          std::vector<std::optional<nlohmann::json>> markers);

// The update of the partitions' markers as one journal: the first partition's, with the staged
// chunks (and chunks to erase) of every partition.
Journal merged_journal(const std::vector<nlohmann::json>& markers);

// The counts of a finalized update by its journal (appended, inserted, replaced).
void count_update(const Journal& j, Finalized& out);

} // namespace baims::cube
