#pragma once
// Small text helpers shared by config parsing and error messages.

#include <string>
#include <string_view>
#include <vector>

namespace baims::text {

// Levenshtein distance.
size_t edit_distance(std::string_view a, std::string_view b);

// The closest candidate to word, or "" when none is close enough to be a plausible typo.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::vector<std::string> split(std::string_view s, char sep);
std::string trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);
std::string to_lower(std::string_view s);
// s as valid UTF-8: a byte that does not start a valid UTF-8 sequence is taken as the Latin-1
// character of its value (as zarr::dump_json does: NetCDF files and file names from older tools
// hold Latin-1 text such as "\xb0C"). Valid UTF-8 comes back unchanged.
std::string valid_utf8(std::string_view s);
// Whether s is valid UTF-8 (valid_utf8(s) == s), without a copy.
bool is_utf8(std::string_view s);

// s quoted for a POSIX shell when it needs it: 'it''s' style single quotes, or s unchanged when it
// holds only letters, digits and ,./:=@%+_-
std::string shell_quote(std::string_view s);

// s on one line of at most about `max` bytes, for an error line: line breaks and tabs become
// spaces and, when it is longer, its middle is cut out as " … " (a library's message that quotes
// a whole SQL script keeps its start and its cause at the end). Never cuts a UTF-8 sequence.
std::string one_line(std::string_view s, size_t max = 240);

// Glob match with *, ? (no path semantics).
bool glob_match(std::string_view pattern, std::string_view s);

} // namespace baims::text
