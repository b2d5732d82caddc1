#pragma once
// A Zarr store on object storage through GDAL's virtual file systems (/vsis3/bucket/prefix).
// Credentials and the endpoint come from wherever GDAL takes them (AWS_* variables or GDAL
// config options, ~/.aws/credentials and ~/.aws/config; AWS_S3_ENDPOINT, AWS_HTTPS=NO and
// AWS_VIRTUAL_HOSTING=FALSE for a local server); they never appear in an error message.

#include "baims/zarr/kv_store.hpp"

#include <filesystem>
#include <string>
#include <string_view>

namespace baims::zarr {

// True for the GDAL object-storage prefixes a VsiStore accepts ("/vsis3/").
bool is_object_storage_path(std::string_view path);

// Keys are objects under `root` ("/vsis3/bucket/prefix/cube.zarr", no trailing '/'). Each put is
// one PUT of the whole object (atomic per key on S3: readers see the old or the new bytes) and
// durable when it returns; there is no rename (rename() is a server-side copy followed by a
// delete, not atomic), no folder to rename and no lock between processes. Every call forgets what
// GDAL cached about the bucket (sizes, listings), so that it sees what is on the server now. Safe
// for concurrent use from many threads on different keys.
//
// Errors: a read the server cannot answer or refuses throws RemoteError (exit 7), a write, delete
// or copy that fails OutputError; both name the object and the server's answer, never a
// credential, with a hint to check the endpoint, the credentials and the network.
class VsiStore : public KvStore {
public:
    explicit VsiStore(std::string root);

    const std::string& root() const { return m_root; }

    // Nothing beyond get/put/erase/list: see above.
    StoreCapabilities capabilities() const override;

    std::optional<std::string> get(const std::string& key) const override;
    void put(const std::string& key, std::string_view data) override;
    void erase(const std::string& key) override;
    bool exists(const std::string& key) const override;
    std::vector<std::string> list(const std::string& dir) const override;
    // Copy on the server, then delete the source (two requests). Not atomic: after a crash both
    // may exist.
    void rename(const std::string& from, const std::string& to) override;
    // Copies the object `from` to `to` on the server (one CopyObject request; what was at `to` is
    // replaced). Throws OutputError, also when `from` does not exist.
    void copy(const std::string& from, const std::string& to);
    // Copies the object `from_path` (a /vsis3/ path on the same server, any prefix) to the key
    // `to` on the server, as copy(): no bytes pass through this process. Throws OutputError.
    void copy_in(const std::string& from_path, const std::string& to);
    // Deletes every object under dir/ (batched where the server allows).
    void erase_dir(const std::string& dir) override;
    // Deletes every object under the root.
    void erase_all();
    // Deletes the objects `keys` (batched where the server allows); missing ones are fine.
    void erase_keys(const std::vector<std::string>& keys);
    std::string describe() const override;

    // True if any object lies under dir/ ("" = the root).
    bool has_objects(const std::string& dir) const;

    // The keys of the objects under dir/ ("" = the root), at any depth, relative to the root,
    // sorted; at most `limit` of them (0 = all). One listing of the sub-tree (some servers leave
    // deeper "folders" out of list()).
    std::vector<std::string> list_tree(const std::string& dir, size_t limit = 0) const;

    // Copies the object `key` to the local file `to` (streamed, not held in memory), with the
    // object's modification time. Throws InputError (no such object), RemoteError or OutputError
    // (the local file).
    void download(const std::string& key, const std::filesystem::path& to) const;

private:
    std::string path_of(const std::string& key) const;
    void remove_tree(const std::string& dir);

    std::string m_root;
};

} // namespace baims::zarr
