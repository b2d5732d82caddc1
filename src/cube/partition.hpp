#pragma once
// gen --partition K/N and --finalize (docs/scale-out.md): N processes each write part of a new
// cube's chunk grid beside the cube; one finalize publishes it. Implemented with the POSIX
// journal (commit_posix.cpp): the parts and the new cube are folders on one file system.

#include "commit.hpp"

#include "baims/cube/cube_state.hpp"

#include <filesystem>
#include <memory>

namespace baims::cube {

// --partition k/n of a new cube (1 <= k <= n): the chunks go to <cube>.baims-parts/<k>-of-<n>/
// (emptied first: a rerun of a partition starts it again), and publish_new() only marks the
// partition done (with the state it computed); nothing becomes visible at `cube`.
std::unique_ptr<CommitProtocol> open_for_partition(const std::filesystem::path& cube, size_t k,
                                                   size_t n);

// --finalize: once every partition of `cube` is done, builds the cube from their chunks and
// publishes it (as a create), then removes the partitions. Throws OutputError naming the
// partitions that are not done, or when they disagree about the cube. Returns the cube's state.
CubeState finalize_partitions(const std::filesystem::path& cube);

} // namespace baims::cube
