#pragma once
// Crash-safe file primitives: atomic_write (temp file + fsync + rename) and an exclusive lock.

#include <filesystem>
#include <string>
#include <string_view>

namespace baims::fs {

// Writes data to path atomically: after a crash, path holds the old or the new content.
// Parent directories are created. Throws OutputError.
void atomic_write(const std::filesystem::path& path, std::string_view data, bool fsync_data = true);

// Writes data to path in place (create or truncate, write, close): no temporary file, no rename,
// no fsync. Only for files that no reader sees before a later commit point (a staging area that
// a rerun discards): a crash can leave the file partly written. The parent must exist.
// start_writeback: the kernel starts writing the data to disk at once (sync_file_range, not
// waiting), so that a later syncfs finds little left to flush. Throws OutputError.
void write_file(const std::filesystem::path& path, std::string_view data,
                bool start_writeback = false);

// Copies the file `from` to the new file `to` (which must not exist) with from's permission bits:
// copy_file_range in the kernel, read/write where the file systems do not support it. No fsync,
// like write_file; start_writeback as there. Returns 0 or the errno of the failed call (the
// partly written `to` is left for the caller's clean-up).
int copy_file(const std::filesystem::path& from, const std::filesystem::path& to,
              bool start_writeback = false);

// Reads a whole file. Throws InputError.
std::string read_file(const std::filesystem::path& path);

// fsyncs a directory so that renames in it are durable.
void sync_dir(const std::filesystem::path& dir);

// Flushes everything written to the file system that holds path (syncfs): one call makes a whole
// batch of un-synced writes durable before a commit point.
void sync_filesystem(const std::filesystem::path& path);

// `p` absolute and normal, with the symbolic links of its existing part resolved (a path that
// does not exist yet keeps its last parts as written).
std::filesystem::path resolved(const std::filesystem::path& p);

// Whether `inner` is `outer` or lies inside it, after resolved() of both: for outputs that must
// not be an input, lie inside it or hold it.
bool within(const std::filesystem::path& inner, const std::filesystem::path& outer);

// An exclusive advisory lock (flock) on a lock file; released on destruction or process death
// (kill -9 included). Throws OutputError naming the holder's pid if another process holds it.
class FileLock {
public:
    FileLock(const std::filesystem::path& lock_path, const std::string& what);
    ~FileLock();
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

private:
    int m_fd = -1;
    std::filesystem::path m_path;
};

} // namespace baims::fs
