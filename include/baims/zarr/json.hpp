#pragma once
// Metadata JSON exactly as zarr-python 2.13 writes it (zarr.util.json_dumps):
//   json.dumps(o, indent=4, sort_keys=True, ensure_ascii=True, separators=(',', ': '))
// i.e. sorted keys, 4-space indent, ASCII only (\uXXXX escapes, lower-case hex, surrogate pairs),
// floats as Python repr (1.0, 1e-05, 1e+16), NaN/Infinity/-Infinity as bare tokens, no trailing
// newline.

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace baims::zarr {

// Bytes of a string that are not valid UTF-8 are written as the code point of the same value
// (Latin-1), so the output is always valid ASCII JSON.
std::string dump_json(const nlohmann::json& j);

// Parses JSON as Python's json.loads does, so NaN, Infinity and -Infinity tokens are accepted.
// Throws InputError naming `what` (e.g. the key) on bad JSON.
nlohmann::json parse_json(std::string_view text, const std::string& what);

// Python repr() of a float: "1.0", "0.1", "1e-05", "1e+16", "NaN", "Infinity", "-Infinity".
std::string python_float_repr(double v);

} // namespace baims::zarr
