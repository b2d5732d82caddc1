#pragma once
// Typed reading of one YAML mapping with exact error messages:
//   "<file>:<line>:<col>: <key.path>: expected a number, got 'abc'"
// allow_only() rejects unknown keys before any value is read; finish() rejects keys that were never
// read. Both suggest the closest of every key the mapping may hold ("did you mean").

#include "baims/config/document.hpp"
#include "baims/core/error.hpp"

#include <yaml-cpp/yaml.h>

#include <optional>
#include <set>
#include <string>
#include <typeinfo>
#include <vector>

namespace baims::config {

class Reader {
public:
    Reader(const Document& doc, YAML::Node node, std::string path = {});

    // Whether the key is present and not null (the key counts as known for "did you mean").
    bool has(const std::string& key) const;
    // The raw node (marks the key as known); empty node when absent.
    YAML::Node raw(const std::string& key);

    template <class T> T required(const std::string& key) {
        auto n = raw(key);
        if (!n || n.IsNull()) {
            fail(key, "is required", "Add it to the config");
        }
        return convert<T>(n, key);
    }

    template <class T> T optional(const std::string& key, T def) {
        auto n = raw(key);
        if (!n || n.IsNull()) {
            return def;
        }
        return convert<T>(n, key);
    }

    template <class T> std::optional<T> maybe(const std::string& key) {
        auto n = raw(key);
        if (!n || n.IsNull()) {
            return std::nullopt;
        }
        return convert<T>(n, key);
    }

    // A string that must be one of allowed (with "did you mean" on a typo).
    std::string one_of(const std::string& key, const std::vector<std::string>& allowed,
                       const std::string& def);

    // A nested mapping (empty mapping when absent).
    Reader child(const std::string& key);

    // Rejects, before any value is read, every key that is not in known (all the keys this mapping
    // may hold), suggesting the closest one. Also makes them candidates for finish().
    void allow_only(const std::vector<std::string>& known);

    // Rejects keys that were not read. known_extra are accepted silently (documented but unused).
    void finish(const std::vector<std::string>& known_extra = {});

    [[noreturn]] void fail(const std::string& key, const std::string& message,
                           const std::string& hint = {}) const;
    std::string key_path(const std::string& key) const;
    std::string where(const std::string& key) const;
    const Document& document() const { return m_doc; }
    const YAML::Node& node() const { return m_node; }

private:
    template <class T> T convert(const YAML::Node& n, const std::string& key) {
        try {
            return n.as<T>();
        } catch (const YAML::Exception&) {
            fail(key, "expected " + type_name<T>() + ", got " + describe(n));
        }
    }
    template <class T> static std::string type_name() {
        if constexpr (std::is_same_v<T, bool>) {
            return "true or false";
        } else if constexpr (std::is_integral_v<T>) {
            return "a whole number";
        } else if constexpr (std::is_floating_point_v<T>) {
            return "a number";
        } else if constexpr (std::is_same_v<T, std::string>) {
            return "a text value";
        } else if constexpr (std::is_same_v<T, std::vector<double>> ||
                             std::is_same_v<T, std::vector<int>> ||
                             std::is_same_v<T, std::vector<long>>) {
            return "a list of numbers";
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            return "a list of text values";
        } else {
            return "a value of another type";
        }
    }
    static std::string describe(const YAML::Node& n);
    [[noreturn]] void unknown_key(const std::string& key,
                                  const std::vector<std::string>& candidates) const;

    const Document& m_doc;
    YAML::Node m_node;
    std::string m_path;
    std::set<std::string> m_seen;
    mutable std::set<std::string> m_known; // asked about or declared: "did you mean" candidates
};

} // namespace baims::config
