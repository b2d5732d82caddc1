#include "baims/core/fs.hpp"

#include "baims/core/error.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace baims::fs {
namespace {
std::string errno_text() {
    return std::strerror(errno);
}

void write_all(int fd, std::string_view data, const std::filesystem::path& path) {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw OutputError("cannot write '" + path.string() + "': " + errno_text(),
                              "Check free space and permissions");
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
}
} // namespace

void atomic_write(const std::filesystem::path& path, std::string_view data, bool fsync_data) {
    static std::atomic<unsigned long> counter{0};
    std::error_code ec;
    if (path.has_parent_path()) {
        std::filesystem::create_directories(path.parent_path(), ec);
    }
    std::filesystem::path tmp = path;
    tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw OutputError("cannot create '" + tmp.string() + "': " + errno_text(),
                          "Check that the output directory is writable");
    }
    try {
        write_all(fd, data, tmp);
        if (fsync_data && ::fsync(fd) != 0) {
            throw OutputError("cannot sync '" + tmp.string() + "': " + errno_text());
        }
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        auto msg = errno_text();
        ::unlink(tmp.c_str());
        throw OutputError("cannot rename '" + tmp.string() + "' to '" + path.string() +
                          "': " + msg);
    }
}

void write_file(const std::filesystem::path& path, std::string_view data, bool start_writeback) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw OutputError("cannot create '" + path.string() + "': " + errno_text(),
                          "Check that the output directory is writable");
    }
    try {
        write_all(fd, data, path);
    } catch (...) {
        ::close(fd);
        throw;
    }
    if (start_writeback) {
        ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); // a hint: errors show at the syncfs
    }
    if (::close(fd) != 0) {
        throw OutputError("cannot write '" + path.string() + "': " + errno_text(),
                          "Check free space and permissions");
    }
}

int copy_file(const std::filesystem::path& from, const std::filesystem::path& to,
              bool start_writeback) {
    const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        return errno;
    }
    struct stat st {};
    if (::fstat(in, &st) != 0) {
        const int err = errno;
        ::close(in);
        return err;
    }
    const mode_t mode = st.st_mode & 07777;
    const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0) {
        const int err = errno;
        ::close(in);
        return err;
    }
    int err = 0;
    auto left = static_cast<size_t>(st.st_size);
    bool in_kernel = true;
    while (left > 0 && in_kernel) {
        const ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, left, 0);
        if (n > 0) {
            left -= static_cast<size_t>(n);
        } else if (n == 0) {
            break; // the file got shorter: what is there was copied
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL) {
            in_kernel = false; // not supported here: read and write what is left
        } else {
            err = errno;
            break;
        }
    }
    if (!in_kernel) {
        char buf[1 << 16];
        while (true) {
            const ssize_t n = ::read(in, buf, sizeof buf);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                err = n < 0 ? errno : 0;
                break;
            }
            for (ssize_t done = 0; done < n;) {
                const ssize_t w = ::write(out, buf + done, static_cast<size_t>(n - done));
                if (w < 0 && errno != EINTR) {
                    err = errno;
                    break;
                }
                done += w > 0 ? w : 0;
            }
            if (err) {
                break;
            }
        }
    }
    // the exact permission bits, as std::filesystem::copy_file sets them (open's mode is masked
    // by the umask)
    if (!err && ::fchmod(out, mode) != 0) {
        err = errno;
    }
    if (!err && start_writeback) {
        ::sync_file_range(out, 0, 0, SYNC_FILE_RANGE_WRITE); // a hint: errors show at the syncfs
    }
    ::close(in);
    if (::close(out) != 0 && !err) {
        err = errno;
    }
    return err;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw InputError("cannot read '" + path.string() + "': " + errno_text());
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void sync_dir(const std::filesystem::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

std::filesystem::path resolved(const std::filesystem::path& p) {
    std::error_code ec;
    const auto abs = std::filesystem::absolute(p, ec);
    auto r = std::filesystem::weakly_canonical(abs, ec);
    return ec ? abs.lexically_normal() : r;
}

bool within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
    const auto rel = resolved(inner).lexically_relative(resolved(outer));
    return !rel.empty() && *rel.begin() != "..";
}

void sync_filesystem(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw OutputError("cannot open '" + path.string() + "' to sync it: " + errno_text());
    }
    int rc = ::syncfs(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) {
        throw OutputError("cannot sync the file system of '" + path.string() +
                              "': " + std::strerror(err),
                          "Check the disk");
    }
}

FileLock::FileLock(const std::filesystem::path& lock_path, const std::string& what)
    : m_path(lock_path) {
    std::error_code ec;
    if (lock_path.has_parent_path()) {
        std::filesystem::create_directories(lock_path.parent_path(), ec);
    }
    m_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (m_fd < 0) {
        throw OutputError("cannot create lock file '" + lock_path.string() + "': " + errno_text(),
                          "Check that the output directory is writable");
    }
    if (::flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
        std::string holder;
        char buf[64] = {0};
        ssize_t n = ::pread(m_fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            holder = std::string(buf, static_cast<size_t>(n));
            while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) {
                holder.pop_back();
            }
        }
        ::close(m_fd);
        m_fd = -1;
        throw OutputError(what + " is locked by another baims process" +
                              (holder.empty() ? std::string() : " (pid " + holder + ")"),
                          "Wait for it to finish; the lock is released when that process ends");
    }
    // The pid as a record of fixed size ("<pid>", spaces, "\n"), written over the last holder's:
    // no truncation first, which freed the file's block, synced by the last commit, and waited
    // for the file system's journal (0.4-0.7 ms per lock on this project's VMs, longer on a busy
    // disk). A longer file (not ours) is cut to the record.
    constexpr size_t RECORD = 16;
    std::string pid = std::to_string(::getpid());
    pid.resize(RECORD - 1, ' ');
    pid += '\n';
    if (::pwrite(m_fd, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size())) {
        struct stat st {};
        if (::fstat(m_fd, &st) == 0 && st.st_size > static_cast<off_t>(RECORD)) {
            [[maybe_unused]] auto rc = ::ftruncate(m_fd, static_cast<off_t>(RECORD));
        }
    }
}

FileLock::~FileLock() {
    if (m_fd >= 0) {
        ::flock(m_fd, LOCK_UN);
        ::close(m_fd);
    }
}

} // namespace baims::fs
