#include "baims/core/error.hpp"
#include "baims/core/fs.hpp"
#include "baims/zarr/kv_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace baims::zarr {
namespace {

void check_key(const std::string& key, const char* op) {
    if (!is_valid_key(key)) {
        throw InternalError(std::string("invalid zarr store key '") + key + "' in " + op);
    }
}

void check_dir(const std::string& dir, const char* op) {
    if (!dir.empty()) {
        check_key(dir, op);
    }
}

std::string errno_text(int err) {
    return std::strerror(err);
}

// Closes a file descriptor on scope exit.
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

struct DirGuard {
    DIR* dir;
    ~DirGuard() {
        if (dir != nullptr) {
            ::closedir(dir);
        }
    }
};

} // namespace

FileStore::FileStore(std::filesystem::path root, bool durable)
    : m_root(std::move(root))
    , m_durable(durable) {}

bool FileStore::is_temp_name(std::string_view name) {
    // "<name>.tmp.<digits>.<digits>"
    auto all_digits = [](std::string_view s) {
        return !s.empty() &&
               std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    size_t last = name.rfind('.');
    if (last == std::string_view::npos || !all_digits(name.substr(last + 1))) {
        return false;
    }
    std::string_view head = name.substr(0, last);
    size_t pid_dot = head.rfind('.');
    if (pid_dot == std::string_view::npos || !all_digits(head.substr(pid_dot + 1))) {
        return false;
    }
    head = head.substr(0, pid_dot);
    return head.size() >= 4 && head.substr(head.size() - 4) == ".tmp";
}

std::filesystem::path FileStore::path_of(const std::string& key) const {
    return key.empty() ? m_root : m_root / key;
}

void FileStore::touched(const std::string& key) {
    if (!m_durable) {
        return;
    }
    // The parent directory and every ancestor up to the root: puts may have created them.
    std::lock_guard lock(m_dirty_mutex);
    std::string dir = key;
    while (true) {
        size_t slash = dir.rfind('/');
        dir = slash == std::string::npos ? std::string() : dir.substr(0, slash);
        if (!m_dirty_dirs.insert(dir).second || dir.empty()) {
            break; // already recorded (so are its ancestors), or the root
        }
    }
}

std::optional<std::string> FileStore::get(const std::string& key) const {
    check_key(key, "get");
    const auto path = path_of(key);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR) {
            return std::nullopt;
        }
        throw InputError("cannot open '" + path.string() + "': " + errno_text(err));
    }
    FdGuard guard{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        throw InputError("cannot stat '" + path.string() + "': " + errno_text(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return std::nullopt;
    }
    // One spare byte, so that reaching EOF needs no reallocation; a file that grows meanwhile
    // (not one of ours: puts replace files by rename) is still read to its end. A read that
    // stops short of the spare byte exactly at the size fstat gave has reached the end: the
    // second read() that would return 0 is skipped (one read per file, as a rule).
    const size_t size = static_cast<size_t>(st.st_size);
    std::string out;
    out.resize(size + 1);
    size_t got = 0;
    while (true) {
        if (got == out.size()) {
            out.resize(out.size() * 2);
        }
        const size_t asked = out.size() - got;
        ssize_t n = ::read(fd, out.data() + got, asked);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw InputError("cannot read '" + path.string() + "': " + errno_text(errno));
        }
        if (n == 0) {
            break;
        }
        got += static_cast<size_t>(n);
        if (got == size && static_cast<size_t>(n) < asked) {
            break;
        }
    }
    out.resize(got);
    return out;
}

void FileStore::put(const std::string& key, std::string_view data) {
    check_key(key, "put");
    fs::atomic_write(path_of(key), data, m_durable);
    touched(key);
}

void FileStore::erase(const std::string& key) {
    check_key(key, "erase");
    const auto path = path_of(key);
    if (::unlink(path.c_str()) != 0) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR) {
            return;
        }
        throw OutputError("cannot delete '" + path.string() + "': " + errno_text(err));
    }
    touched(key);
}

bool FileStore::exists(const std::string& key) const {
    check_key(key, "exists");
    struct stat st {};
    return ::stat(path_of(key).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<std::string> FileStore::list(const std::string& dir) const {
    check_dir(dir, "list");
    const auto path = path_of(dir);
    std::vector<std::string> names;
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR) {
            return names;
        }
        throw InputError("cannot list '" + path.string() + "': " + errno_text(err));
    }
    DirGuard guard{d};
    while (true) {
        errno = 0;
        const dirent* entry = ::readdir(d);
        if (entry == nullptr) {
            if (errno != 0) {
                throw InputError("cannot list '" + path.string() + "': " + errno_text(errno));
            }
            break;
        }
        std::string_view name(entry->d_name);
        if (name == "." || name == ".." || is_temp_name(name)) {
            continue;
        }
        names.emplace_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
}

void FileStore::rename(const std::string& from, const std::string& to) {
    check_key(from, "rename");
    check_key(to, "rename");
    const auto src = path_of(from);
    const auto dst = path_of(to);
    // The target folder usually exists: it is only created when the first attempt says so.
    int rc = ::rename(src.c_str(), dst.c_str());
    if (rc != 0 && errno == ENOENT) {
        std::error_code ec;
        if (std::filesystem::create_directories(dst.parent_path(), ec)) {
            rc = ::rename(src.c_str(), dst.c_str());
        }
    }
    if (rc != 0) {
        int err = errno;
        throw OutputError("cannot rename '" + src.string() + "' to '" + dst.string() +
                          "': " + errno_text(err));
    }
    touched(from);
    touched(to);
}

void FileStore::erase_dir(const std::string& dir) {
    check_key(dir, "erase_dir");
    const auto path = path_of(dir);
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) {
        throw OutputError("cannot delete '" + path.string() + "': " + ec.message());
    }
    touched(dir);
}

void FileStore::sync() {
    if (!m_durable) {
        return;
    }
    std::set<std::string> dirs;
    {
        std::lock_guard lock(m_dirty_mutex);
        dirs.swap(m_dirty_dirs);
    }
    // Deepest first, so that a new directory's entries are durable before its parent's entry.
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
        fs::sync_dir(path_of(*it));
    }
}

StoreCapabilities FileStore::capabilities() const {
    StoreCapabilities c;
    c.atomic_rename = true;
    c.rename_tree = true;
    c.sync = m_durable;
    c.lock = true;
    return c;
}

namespace {
class FileStoreLock : public StoreLock {
public:
    FileStoreLock(const std::filesystem::path& path, const std::string& what)
        : m_lock(path, what) {}

private:
    fs::FileLock m_lock;
};
} // namespace

std::unique_ptr<StoreLock> FileStore::lock(const std::string& key, const std::string& what) {
    check_key(key, "lock");
    return std::make_unique<FileStoreLock>(path_of(key), what);
}

std::string FileStore::describe() const {
    return m_root.string();
}

} // namespace baims::zarr
