#include "baims/core/error.hpp"
#include "baims/zarr/kv_store.hpp"

#include <set>

namespace baims::zarr {
namespace {

void check_key(const std::string& key, const char* op) {
    if (!is_valid_key(key)) {
        throw InternalError(std::string("invalid zarr store key '") + key + "' in " + op);
    }
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

template <class Map> bool has_subtree(const Map& data, const std::string& prefix) {
    auto it = data.lower_bound(prefix);
    return it != data.end() && starts_with(it->first, prefix);
}

} // namespace

MemoryStore::MemoryStore(std::string name)
    : m_name(std::move(name)) {}

std::optional<std::string> MemoryStore::get(const std::string& key) const {
    check_key(key, "get");
    std::shared_lock lock(m_mutex);
    auto it = m_data.find(key);
    if (it == m_data.end()) {
        return std::nullopt;
    }
    return it->second;
}

void MemoryStore::put(const std::string& key, std::string_view data) {
    check_key(key, "put");
    std::string copy(data); // allocate outside the lock
    std::unique_lock lock(m_mutex);
    m_data.insert_or_assign(key, std::move(copy));
}

void MemoryStore::erase(const std::string& key) {
    check_key(key, "erase");
    std::unique_lock lock(m_mutex);
    m_data.erase(key);
}

bool MemoryStore::exists(const std::string& key) const {
    check_key(key, "exists");
    std::shared_lock lock(m_mutex);
    return m_data.find(key) != m_data.end();
}

std::vector<std::string> MemoryStore::list(const std::string& dir) const {
    if (!dir.empty()) {
        check_key(dir, "list");
    }
    const std::string prefix = dir.empty() ? std::string() : dir + "/";
    std::set<std::string, std::less<>> names;
    std::shared_lock lock(m_mutex);
    for (auto it = m_data.lower_bound(prefix); it != m_data.end() && starts_with(it->first, prefix);
         ++it) {
        std::string_view rest = std::string_view(it->first).substr(prefix.size());
        names.emplace(rest.substr(0, rest.find('/')));
    }
    return {names.begin(), names.end()};
}

StoreCapabilities MemoryStore::capabilities() const {
    StoreCapabilities c;
    c.atomic_rename = true;
    c.rename_tree = true;
    return c;
}

void MemoryStore::rename(const std::string& from, const std::string& to) {
    check_key(from, "rename");
    check_key(to, "rename");
    const std::string what = "cannot rename '" + from + "' to '" + to + "' in " + m_name;
    std::unique_lock lock(m_mutex);
    if (from == to) {
        if (m_data.count(from) == 0 && !has_subtree(m_data, from + "/")) {
            throw OutputError(what + ": no such key");
        }
        return;
    }
    auto it = m_data.find(from);
    if (it != m_data.end()) {
        if (has_subtree(m_data, to + "/")) {
            throw OutputError(what + ": target is a directory");
        }
        std::string value = std::move(it->second);
        m_data.erase(it);
        m_data.insert_or_assign(to, std::move(value));
        return;
    }
    const std::string src_prefix = from + "/";
    const std::string dst_prefix = to + "/";
    if (!has_subtree(m_data, src_prefix)) {
        throw OutputError(what + ": no such key");
    }
    if (m_data.count(to) != 0 || has_subtree(m_data, dst_prefix)) {
        throw OutputError(what + ": target exists");
    }
    if (starts_with(to, src_prefix)) {
        throw OutputError(what + ": target is inside the source");
    }
    auto first = m_data.lower_bound(src_prefix);
    auto last = first;
    while (last != m_data.end() && starts_with(last->first, src_prefix)) {
        ++last;
    }
    std::map<std::string, std::string, std::less<>> moved;
    for (auto i = first; i != last; ++i) {
        moved.emplace(dst_prefix + i->first.substr(src_prefix.size()), std::move(i->second));
    }
    m_data.erase(first, last);
    m_data.merge(moved);
}

void MemoryStore::erase_dir(const std::string& dir) {
    check_key(dir, "erase_dir");
    const std::string prefix = dir + "/";
    std::unique_lock lock(m_mutex);
    auto first = m_data.lower_bound(prefix);
    auto last = first;
    while (last != m_data.end() && starts_with(last->first, prefix)) {
        ++last;
    }
    m_data.erase(first, last);
}

std::string MemoryStore::describe() const {
    return m_name;
}

std::vector<std::string> MemoryStore::keys() const {
    std::shared_lock lock(m_mutex);
    std::vector<std::string> out;
    out.reserve(m_data.size());
    for (const auto& [key, value] : m_data) {
        out.push_back(key);
    }
    return out;
}

size_t MemoryStore::size() const {
    std::shared_lock lock(m_mutex);
    return m_data.size();
}

// ---------------------------------------------------------------------------------------------

FaultyStore::FaultyStore(KvStore& inner, int fail_on_put_number)
    : m_inner(inner)
    , m_fail_on(fail_on_put_number) {}

std::optional<std::string> FaultyStore::get(const std::string& key) const {
    return m_inner.get(key);
}

void FaultyStore::put(const std::string& key, std::string_view data) {
    int n = ++m_puts;
    if (n == m_fail_on) {
        throw OutputError("injected failure on put #" + std::to_string(n) + " ('" + key + "' in " +
                          m_inner.describe() + ")");
    }
    m_inner.put(key, data);
}

void FaultyStore::erase(const std::string& key) {
    m_inner.erase(key);
}

bool FaultyStore::exists(const std::string& key) const {
    return m_inner.exists(key);
}

std::vector<std::string> FaultyStore::list(const std::string& dir) const {
    return m_inner.list(dir);
}

void FaultyStore::rename(const std::string& from, const std::string& to) {
    m_inner.rename(from, to);
}

void FaultyStore::erase_dir(const std::string& dir) {
    m_inner.erase_dir(dir);
}

StoreCapabilities FaultyStore::capabilities() const {
    return m_inner.capabilities();
}

std::unique_ptr<StoreLock> FaultyStore::lock(const std::string& key, const std::string& what) {
    return m_inner.lock(key, what);
}

void FaultyStore::sync() {
    m_inner.sync();
}

std::string FaultyStore::describe() const {
    return m_inner.describe();
}

} // namespace baims::zarr
