#include "baims/io/fingerprint.hpp"

#include "baims/core/error.hpp"
#include "baims/core/text.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <libdeflate.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace baims::io {

namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const char* what) {
    throw InputError("cannot read '" + path.string() + "': " + what + ": " + std::strerror(errno));
}

} // namespace

nlohmann::json file_identity(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        fail(path, "stat");
    }
    std::tm tm{};
    gmtime_r(&st.st_mtim.tv_sec, &tm);
    char when[64];
    std::snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long>(st.st_mtim.tv_nsec));
    // (the name as valid UTF-8: it goes into JSON records and is compared with them)
    return {{"name", text::valid_utf8(path.filename().string())},
            {"size", static_cast<unsigned long long>(st.st_size)},
            {"mtime", when}};
}

std::string file_crc32(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(path, "open");
    }
    std::vector<unsigned char> buf(size_t{1} << 20);
    uint32_t crc = 0;
    while (true) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            ::close(fd);
            fail(path, "read");
        }
        if (n == 0) {
            break;
        }
        crc = libdeflate_crc32(crc, buf.data(), static_cast<size_t>(n));
    }
    ::close(fd);
    char hex[16];
    std::snprintf(hex, sizeof hex, "%08x", crc);
    return hex;
}

} // namespace baims::io
