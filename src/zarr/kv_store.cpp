#include "baims/zarr/kv_store.hpp"

#include "baims/core/error.hpp"

namespace baims::zarr {

std::unique_ptr<StoreLock> KvStore::lock(const std::string& key, const std::string& what) {
    throw InternalError("store '" + describe() + "' cannot lock '" + key + "' (for " + what +
                        "): it has no lock capability");
}

bool is_valid_key(std::string_view key) {
    if (key.empty() || key.front() == '/' || key.back() == '/') {
        return false;
    }
    size_t start = 0;
    while (start <= key.size()) {
        size_t end = key.find('/', start);
        if (end == std::string_view::npos) {
            end = key.size();
        }
        std::string_view part = key.substr(start, end - start);
        if (part.empty() || part == "." || part == "..") {
            return false;
        }
        start = end + 1;
    }
    for (char c : key) {
        if (c == '\\' || c == '\0') {
            return false;
        }
    }
    return true;
}

std::string join_key(std::string_view prefix, std::string_view name) {
    std::string out;
    out.reserve(prefix.size() + 1 + name.size());
    out.append(prefix);
    if (!prefix.empty()) {
        out.push_back('/');
    }
    out.append(name);
    return out;
}

} // namespace baims::zarr
