#pragma once
// What identifies an input file's content for `baims gen`'s record of which inputs made each time
// step (.baims-sources.json): its name, size, modification time and the CRC-32 of its bytes.

#include <nlohmann/json.hpp>

#include <filesystem>

namespace baims::io {

// {"name": "<file name without directories>", "size": <bytes>, "mtime": "<ISO 8601, ns>",
//  "crc32": "<8 hex digits>"}. Reads the whole file. Throws InputError if it cannot be read.
nlohmann::json file_fingerprint(const std::filesystem::path& path);

} // namespace baims::io
