#pragma once
// Small helpers shared by the zarr unit tests.

#include "baims/core/fs.hpp"

#include <filesystem>
#include <stdexcept>
#include <stdlib.h>
#include <string>

namespace baims::zarr::test {

inline std::filesystem::path golden_cube() {
    return std::filesystem::path(BAIMS_SOURCE_DIR) /
           "tests/data/golden/golden-xcube-1.0.5/ostia-golden.zarr";
}

inline std::string golden_file(const std::string& key) {
    return baims::fs::read_file(golden_cube() / key);
}

// A fresh directory under $TMPDIR (or /tmp), removed on destruction.
class TempDir {
public:
    TempDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "baims-zarr-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        m_path = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return m_path; }

private:
    std::filesystem::path m_path;
};

} // namespace baims::zarr::test
