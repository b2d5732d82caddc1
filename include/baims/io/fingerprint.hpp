#pragma once
// What identifies an input file's content for `baims gen`'s record of which inputs made each time
// step (.baims-sources.json): its name, size, modification time and the CRC-32 of its bytes.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

namespace baims::io {

// {"name": "<file name without directories>", "size": <bytes>, "mtime": "<ISO 8601, ns>"}: one
// stat, no read. Throws InputError if the file cannot be stat'ed.
nlohmann::json file_identity(const std::filesystem::path& path);

// The CRC-32 of the file's bytes as 8 hex digits. Reads the whole file. Throws InputError.
std::string file_crc32(const std::filesystem::path& path);

} // namespace baims::io
