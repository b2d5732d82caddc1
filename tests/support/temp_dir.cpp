#include "support/temp_dir.hpp"

#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <stdlib.h>
#include <system_error>
#include <vector>

namespace baims::test {

namespace {

std::filesystem::path make_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "baims-test.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
        throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
    }
    return tmpl;
}

void remove_dir(const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

// The directories of temp_dir(), removed at exit.
struct ProcessDirs {
    std::vector<std::filesystem::path> dirs;
    ~ProcessDirs() {
        for (const auto& d : dirs) {
            remove_dir(d);
        }
    }
};

ProcessDirs& process_dirs() {
    static ProcessDirs dirs;
    return dirs;
}

} // namespace

TempDir::TempDir()
    : m_path(make_dir()) {}

TempDir::~TempDir() {
    remove_dir(m_path);
}

std::filesystem::path temp_dir() {
    auto& dirs = process_dirs(); // constructed first, so destroyed after any later static user
    auto d = make_dir();
    dirs.dirs.push_back(d);
    return d;
}

std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace baims::test
