#pragma once
// The commit protocol of a cube: how the chunks and metadata a run writes become visible to
// readers all at once, and how a run killed half-way is completed or undone by the next one.
//
// gen writes through a CommitProtocol and never names a file system itself. The protocol asks the
// store what it can do (zarr::StoreCapabilities) and refuses a store that lacks what it needs.
//
// Implementations:
//   - the POSIX journal (commit_posix.cpp, today's only one): a new cube is built in
//     <cube>.baims-new/ and renamed into place; an update stages its chunks under
//     .baims-staging/, writes .baims-journal.json (the commit point) and applies it by renames
//     (journal.hpp). Needs atomic rename (of keys and of a whole folder), sync and a lock.
//   - the metadata-last protocol for object storage (commit_object.cpp; /vsis3/ paths): a new
//     cube is written in place behind a marker object; an update stages its chunks, writes the
//     same journal and applies it by server-side copies, recording its progress; the
//     consolidated metadata is written last. Needs nothing but atomic puts of single objects.
//     open_for_update and open_for_create choose it for paths on_object_storage().

#include "journal.hpp"

#include "baims/cube/cube_state.hpp"
#include "baims/zarr/kv_store.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baims::cube {

class CommitProtocol {
public:
    virtual ~CommitProtocol() = default;

    // The store the run reads and writes: the cube's, or the new cube's while it is built.
    virtual zarr::KvStore& store() = 0;

    // Writes bytes that no reader sees before the commit (a new cube's chunks, staged chunks of
    // an update), without the cost of an atomic put. Safe from many threads.
    virtual void put_unpublished(const std::string& key, std::string_view data) = 0;

    // The key under which the chunk `pos` ("y.x") of variable var of the update's staged slice
    // seq is written (with put_unpublished).
    virtual std::string staged_key(size_t seq, const std::string& var,
                                   const std::string& pos) const = 0;

    // Update: called for each slice that replaces no time step of the cube, in time order, before
    // its chunks are put (not for a slice whose input could not be read). The time index at
    // which the protocol has the slice's chunks written directly ("<var>/<index>.<y>.<x>", with
    // put_unpublished; beyond the cube's end, where no reader looks before the commit), or
    // nullopt: staged (staged_key). commit_update() still gets the slice, with the positions
    // written. By default every slice is staged.
    virtual std::optional<size_t> direct_index(size_t /*seq*/, double /*time*/) {
        return std::nullopt;
    }

    // New cube: writes its metadata and makes the whole cube visible at once.
    virtual void publish_new(const CubeState& state) = 0;

    // Update: makes visible at once the moves of the time axis (mapping: old time index -> new),
    // the staged slices and the new state (coordinates, metadata, records). After a kill past the
    // commit point the next run's open_for_update completes it; before it, the next run undoes it.
    virtual void commit_update(std::vector<long> mapping, std::vector<StagedSlice> staged,
                               CubeState state) = 0;
};

// Opens the existing cube at `cube` for an update (or a dry run, which neither locks nor changes
// anything): locked, an update that was committed but not applied completed, the leftovers of
// uncommitted ones removed. Throws OutputError when the cube is locked or its store cannot give
// what the protocol needs.
std::unique_ptr<CommitProtocol> open_for_update(const std::filesystem::path& cube, bool dry_run);

// Starts a new cube that becomes visible at `cube` with publish_new(); until then (and when the
// protocol is destroyed without publishing: the run failed) readers see nothing, and what was
// written is removed.
std::unique_ptr<CommitProtocol> open_for_create(const std::filesystem::path& cube);

// True for cubes on object storage (/vsis3/…), which the metadata-last protocol writes.
bool on_object_storage(const std::filesystem::path& cube);

// Object storage: true if a cube is at `cube` (its .zgroup, and no unfinished creation, which
// open_for_create starts again); false if nothing is there. Throws OutputError if objects that
// are not a cube are there.
bool object_cube_exists(const std::filesystem::path& cube);

// The metadata-last protocol behind open_for_update and open_for_create (commit_object.cpp).
std::unique_ptr<CommitProtocol> open_object_for_update(const std::filesystem::path& cube,
                                                       bool dry_run);
std::unique_ptr<CommitProtocol> open_object_for_create(const std::filesystem::path& cube);

// Throws OutputError naming the store and what `protocol` needs from it that it lacks.
void require_capabilities(const zarr::KvStore& store, const zarr::StoreCapabilities& needs,
                          const std::string& protocol);

} // namespace baims::cube
