#pragma once
// Key-value stores under a Zarr v2 hierarchy (tensorstore-style layering: store → metadata →
// codecs). Keys are '/'-separated relative paths: ".zgroup", "sst/.zarray", "sst/0.1.2".
//
// A valid key is non-empty, relative, has no empty, "." or ".." component and no backslash or NUL;
// see is_valid_key(). Stores throw InternalError for invalid keys: names taken from configs must
// be checked by the caller (with a ConfigError) before they reach a store.

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace baims::zarr {

bool is_valid_key(std::string_view key);

// "a" + "b" → "a/b"; an empty prefix gives the name alone.
std::string join_key(std::string_view prefix, std::string_view name);

// What a store can do beyond get/put/erase/list. Writers that need more (the commit protocol of a
// cube, src/cube/commit.hpp) ask for it and refuse a store without it, instead of assuming a
// local file system: object stores have no atomic rename of a folder, and some no rename at all.
struct StoreCapabilities {
    bool atomic_rename = false; // rename() of a key is atomic: readers see the old or the new name
    bool rename_tree = false;   // rename() moves a whole sub-tree in one atomic step
    bool sync = false;          // sync() makes earlier puts, erases and renames durable
    bool lock = false;          // lock() excludes other processes
};

// Held while a store is locked (KvStore::lock); released when destroyed.
class StoreLock {
public:
    virtual ~StoreLock() = default;
};

class KvStore {
public:
    virtual ~KvStore() = default;
    // What this store can do (the default: nothing beyond get/put/erase/list).
    virtual StoreCapabilities capabilities() const { return {}; }
    // The bytes stored under key, or nullopt if there are none (a directory is not a key).
    virtual std::optional<std::string> get(const std::string& key) const = 0;
    // Stores data under key; atomic per key (readers see the old or the new bytes). Throws
    // OutputError.
    virtual void put(const std::string& key, std::string_view data) = 0;
    // Removes key; a missing key is fine. Throws OutputError.
    virtual void erase(const std::string& key) = 0;
    // True if key holds bytes (directories are not keys).
    virtual bool exists(const std::string& key) const = 0;
    // Names of the entries directly inside dir ("" = root), sorted, files and sub-directories;
    // a missing dir gives an empty list. Temporary files of unfinished puts are never listed.
    virtual std::vector<std::string> list(const std::string& dir) const = 0;
    // Moves a key (or a whole sub-tree) to another name, replacing a key that is there; atomic
    // only as far as capabilities() says (atomic_rename, rename_tree). Throws OutputError (also
    // if `from` does not exist).
    virtual void rename(const std::string& from, const std::string& to) = 0;
    // Removes every key under dir/ (the sub-tree); a missing dir is fine. Not atomic.
    virtual void erase_dir(const std::string& dir) = 0;
    // Makes earlier puts, erases and renames durable (fsync of the directories touched) when
    // capabilities().sync; else does nothing.
    virtual void sync() {}
    // Takes an exclusive lock named key against other processes, held until the result is
    // destroyed; `what` names the locked thing in the error when another process holds it
    // (OutputError). Only with capabilities().lock; else throws InternalError.
    virtual std::unique_ptr<StoreLock> lock(const std::string& key, const std::string& what);
    // For messages: the path or URL of the store.
    virtual std::string describe() const = 0;
};

// A directory on a local file system. Every put is a baims::fs::atomic_write (temp file + fsync +
// rename); with durable = false the data fsync and sync() are skipped (tests, benchmarks). Safe
// for concurrent use from many threads on different keys.
class FileStore : public KvStore {
public:
    explicit FileStore(std::filesystem::path root, bool durable = true);

    const std::filesystem::path& root() const { return m_root; }
    bool durable() const { return m_durable; }

    // Atomic rename of files and folders (POSIX rename on one file system), a lock (flock of a
    // file, baims::fs::FileLock) and sync when durable.
    StoreCapabilities capabilities() const override;
    std::unique_ptr<StoreLock> lock(const std::string& key, const std::string& what) override;

    std::optional<std::string> get(const std::string& key) const override;
    void put(const std::string& key, std::string_view data) override;
    void erase(const std::string& key) override;
    bool exists(const std::string& key) const override;
    std::vector<std::string> list(const std::string& dir) const override;
    void rename(const std::string& from, const std::string& to) override;
    void erase_dir(const std::string& dir) override;
    void sync() override;
    std::string describe() const override;

    // True for the names of temporary files left by atomic_write ("<name>.tmp.<pid>.<n>").
    static bool is_temp_name(std::string_view name);

private:
    std::filesystem::path path_of(const std::string& key) const;
    void touched(const std::string& key);

    std::filesystem::path m_root;
    bool m_durable;
    std::mutex m_dirty_mutex;
    std::set<std::string> m_dirty_dirs; // relative dirs ("" = root) changed since the last sync()
};

// Keys in memory (unit tests, staging). Thread-safe.
class MemoryStore : public KvStore {
public:
    explicit MemoryStore(std::string name = "memory");

    // Renames of keys and sub-trees are atomic (one mutex); nothing to sync, no lock between
    // processes.
    StoreCapabilities capabilities() const override;

    std::optional<std::string> get(const std::string& key) const override;
    void put(const std::string& key, std::string_view data) override;
    void erase(const std::string& key) override;
    bool exists(const std::string& key) const override;
    std::vector<std::string> list(const std::string& dir) const override;
    void rename(const std::string& from, const std::string& to) override;
    void erase_dir(const std::string& dir) override;
    std::string describe() const override;

    // All keys, sorted.
    std::vector<std::string> keys() const;
    size_t size() const;

private:
    std::string m_name;
    mutable std::shared_mutex m_mutex;
    std::map<std::string, std::string, std::less<>> m_data;
};

// Test helper: passes everything through to `inner`, except that the n-th put (1-based) throws
// OutputError("injected failure …") without writing. fail_on_put_number <= 0 never fails.
class FaultyStore : public KvStore {
public:
    FaultyStore(KvStore& inner, int fail_on_put_number);

    // Number of puts seen so far, the failed one included.
    int puts() const { return m_puts.load(); }

    StoreCapabilities capabilities() const override;
    std::unique_ptr<StoreLock> lock(const std::string& key, const std::string& what) override;

    std::optional<std::string> get(const std::string& key) const override;
    void put(const std::string& key, std::string_view data) override;
    void erase(const std::string& key) override;
    bool exists(const std::string& key) const override;
    std::vector<std::string> list(const std::string& dir) const override;
    void rename(const std::string& from, const std::string& to) override;
    void erase_dir(const std::string& dir) override;
    void sync() override;
    std::string describe() const override;

private:
    KvStore& m_inner;
    int m_fail_on;
    std::atomic<int> m_puts{0};
};

} // namespace baims::zarr
