#include "baims/core/error.hpp"
#include "baims/core/fs.hpp"
#include "baims/core/text.hpp"
#include "baims/cube/gen.hpp"

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

namespace baims::cube {
namespace {

bool has_wildcard(const std::string& s) {
    return s.find_first_of("*?[") != std::string::npos;
}

void expand(const std::filesystem::path& base, const std::vector<std::string>& parts, size_t i,
            std::vector<std::string>& out) {
    namespace sfs = std::filesystem;
    std::error_code ec;
    if (i == parts.size()) {
        if (sfs::is_regular_file(base, ec)) {
            out.push_back(base.string());
        }
        return;
    }
    const auto& part = parts[i];
    if (part == "**") {
        expand(base, parts, i + 1, out); // zero directories
        for (sfs::directory_iterator it(base, ec), end; !ec && it != end; it.increment(ec)) {
            if (it->is_directory(ec)) {
                expand(it->path(), parts, i, out);
            }
        }
        return;
    }
    if (!has_wildcard(part)) {
        expand(base / part, parts, i + 1, out);
        return;
    }
    std::vector<sfs::path> matches;
    for (sfs::directory_iterator it(base.empty() ? "." : base, ec), end; !ec && it != end;
         it.increment(ec)) {
        auto name = it->path().filename().string();
        if (text::glob_match(part, name)) {
            matches.push_back(base.empty() ? sfs::path(name) : base / name);
        }
    }
    std::sort(matches.begin(), matches.end());
    for (const auto& m : matches) {
        expand(m, parts, i + 1, out);
    }
}

std::vector<std::string> expand_glob(const std::string& pattern) {
    std::vector<std::string> parts;
    for (auto& p : text::split(pattern, '/')) {
        if (!p.empty()) {
            parts.push_back(p);
        }
    }
    std::filesystem::path base = pattern.starts_with("/") ? "/" : "";
    std::vector<std::string> out;
    expand(base, parts, 0, out);
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

std::vector<std::string> resolve_inputs(const std::vector<std::string>& specs) {
    std::vector<std::string> out;
    for (const auto& spec : specs) {
        if (has_wildcard(spec)) {
            auto m = expand_glob(spec);
            if (m.empty()) {
                throw InputError("no input matches '" + spec + "'",
                                 "Check the pattern and the current directory");
            }
            out.insert(out.end(), m.begin(), m.end());
        } else if (text::ends_with(spec, ".txt")) {
            std::string content;
            try {
                content = fs::read_file(spec);
            } catch (const Error&) {
                throw InputError("cannot read the input list '" + spec + "'", "Check the path");
            }
            std::istringstream in(content);
            std::string line;
            while (std::getline(in, line)) {
                line = text::trim(line);
                if (line.empty() || line[0] == '#') {
                    continue;
                }
                auto sub = resolve_inputs({line});
                out.insert(out.end(), sub.begin(), sub.end());
            }
        } else {
            out.push_back(spec);
        }
    }
    // Keep the first occurrence of each path.
    std::set<std::string> seen;
    std::vector<std::string> unique;
    for (auto& p : out) {
        if (seen.insert(p).second) {
            unique.push_back(std::move(p));
        }
    }
    return unique;
}

} // namespace baims::cube
