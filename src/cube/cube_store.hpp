#pragma once
// A cube's store and its exclusion of other writers, on a local disk or on object storage, for
// the commands that change a cube in place (gen's object commit, prune, optimise):
//   - a local cube: zarr::FileStore, and flock on <cube>/.baims-lock (baims::fs::FileLock);
//   - a cube on object storage (/vsis3/): zarr::VsiStore, and a lease object <cube>/.baims-lock
//     (ObjectLease below; docs/object-storage.md "One writer per cube").

#include "baims/zarr/kv_store.hpp"
#include "baims/zarr/vsi_store.hpp"

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace baims::cube {

// Object storage: written first and deleted last by the creation of a cube (gen) or of an
// optimised copy; a cube with it is unfinished, and the next run to that path starts it again.
inline const std::string CREATING_KEY = ".baims-creating";

// The store of the cube at `cube`: a VsiStore for /vsis3/ paths, else a FileStore (durable).
std::unique_ptr<zarr::KvStore> open_cube_store(const std::filesystem::path& cube);

// Held while a command excludes other writers of a cube; released when destroyed.
class CubeLock {
public:
    virtual ~CubeLock() = default;
};

// Excludes other baims writers of the cube at `cube` (flock locally, a lease on object storage).
// Throws OutputError (exit 5) naming `what` and the holder when another process holds it.
// `command` ("prune") is recorded in a lease.
std::unique_ptr<CubeLock> lock_cube(const std::filesystem::path& cube, const std::string& what,
                                    const std::string& command);

// A lease on a cube on object storage: the object <cube>/.baims-lock holds a JSON document with
// the holder (host, pid, a random token), the command and the time the lease expires. S3 has no
// lock and (through GDAL) no conditional write, so:
//   1. read the lease; if another holder's lease is valid, refuse (OutputError). A lease is
//      stale once it has expired, or at once when its holder ran on this host and its process
//      no longer exists (a kill -9);
//   2. write our own lease (one PUT, which replaces a stale one);
//   3. wait a moment, read it back and refuse if another writer's lease replaced ours.
// A thread renews the lease every third of its duration; the destructor stops it and deletes
// the lease if it is still ours. Two writers that start within the same moment can both pass on
// a store without read-after-write consistency: the exclusion is best-effort (documented).
class ObjectLease : public CubeLock {
public:
    ObjectLease(zarr::VsiStore& store, std::string what, std::string command);
    ObjectLease(const ObjectLease&) = delete;
    ObjectLease& operator=(const ObjectLease&) = delete;
    ~ObjectLease() override;

    // The lease's duration: BAIMS_S3_LEASE_SECONDS (default 600, at least 10).
    static std::chrono::seconds duration();

private:
    std::string document() const;
    void renew_loop();

    zarr::VsiStore& m_store;
    std::string m_what;
    std::string m_command;
    std::string m_holder;
    std::string m_host;
    std::chrono::seconds m_duration;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_stop = false;
    std::thread m_renewer;
};

// Object storage: true if the cube's prefix holds an object other than the lease.
bool has_objects_besides_lease(const zarr::VsiStore& store);

// Object storage: deletes every object of the cube but the lease.
void erase_all_but_lease(zarr::VsiStore& store);

} // namespace baims::cube
