#pragma once
// Small helpers shared by the zarr unit tests.

#include "baims/core/fs.hpp"

#include <filesystem>
#include <string>

namespace baims::zarr::test {

inline std::filesystem::path golden_cube() {
    return std::filesystem::path(BAIMS_SOURCE_DIR) /
           "tests/data/golden/golden-xcube-1.0.5/ostia-golden.zarr";
}

inline std::string golden_file(const std::string& key) {
    return baims::fs::read_file(golden_cube() / key);
}

} // namespace baims::zarr::test
