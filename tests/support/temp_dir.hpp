#pragma once
// Temporary directories and file reading for the tests (tests/support, linked into every test
// through baims_catch_main).

#include <filesystem>
#include <string>

namespace baims::test {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return m_path; }

private:
    std::filesystem::path m_path;
};

// A fresh directory removed when the test process exits (for helpers that hand out paths).
std::filesystem::path temp_dir();

// The whole file as bytes; "" when it cannot be read.
std::string slurp(const std::filesystem::path& path);

} // namespace baims::test
