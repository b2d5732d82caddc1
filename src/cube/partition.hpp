#pragma once
// gen --partition K/N and --finalize (docs/scale-out.md): N processes each write part of a new
// cube's chunk grid beside the cube; one finalize publishes it. Implemented with the POSIX
// journal (commit_posix.cpp): the parts and the new cube are folders on one file system.

#include "commit.hpp"

#include "baims/cube/cube_state.hpp"

#include <filesystem>
#include <memory>

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
Finalized finalize_partitions(const std::filesystem::path& cube);

} // namespace baims::cube
