#include "baims/config/reader.hpp"

#include "baims/core/text.hpp"

#include <algorithm>

namespace baims::config {

Reader::Reader(const Document& doc, YAML::Node node, std::string path)
    : m_doc(doc)
    , m_node(std::move(node))
    , m_path(std::move(path)) {
    if (m_node && !m_node.IsNull() && !m_node.IsMap()) {
        throw ConfigError(m_doc.origin(m_path).str() + ": " + m_path +
                          ": expected a mapping, got " + describe(m_node));
    }
}

std::string Reader::key_path(const std::string& key) const {
    return m_path.empty() ? key : m_path + "." + key;
}

std::string Reader::where(const std::string& key) const {
    return m_doc.origin(key_path(key)).str();
}

bool Reader::has(const std::string& key) const {
    m_known.insert(key);
    return m_node && m_node.IsMap() && m_node[key] && !m_node[key].IsNull();
}

YAML::Node Reader::raw(const std::string& key) {
    m_seen.insert(key);
    if (!m_node || !m_node.IsMap()) {
        return YAML::Node();
    }
    const YAML::Node& cn = m_node;
    auto n = cn[key];
    if (!n) {
        return YAML::Node();
    }
    return n;
}

std::string Reader::one_of(const std::string& key, const std::vector<std::string>& allowed,
                           const std::string& def) {
    auto v = optional<std::string>(key, def);
    for (const auto& a : allowed) {
        if (a == v) {
            return v;
        }
    }
    std::string msg = "expected one of " + text::join(allowed, ", ") + "; got '" + v + "'";
    auto guess = text::did_you_mean(v, allowed);
    if (!guess.empty()) {
        msg += " (did you mean '" + guess + "'?)";
    }
    fail(key, msg);
}

Reader Reader::child(const std::string& key) {
    auto n = raw(key);
    if (!n || n.IsNull()) {
        return Reader(m_doc, YAML::Node(YAML::NodeType::Map), key_path(key));
    }
    if (!n.IsMap()) {
        fail(key, "expected a mapping, got " + describe(n));
    }
    return Reader(m_doc, n, key_path(key));
}

void Reader::allow_only(const std::vector<std::string>& known) {
    m_known.insert(known.begin(), known.end());
    if (!m_node || !m_node.IsMap()) {
        return;
    }
    for (const auto& kv : m_node) {
        auto key = kv.first.as<std::string>();
        if (std::find(known.begin(), known.end(), key) == known.end()) {
            unknown_key(key, known);
        }
    }
}

void Reader::finish(const std::vector<std::string>& known_extra) {
    if (!m_node || !m_node.IsMap()) {
        return;
    }
    std::set<std::string> candidates(m_seen.begin(), m_seen.end());
    candidates.insert(m_known.begin(), m_known.end());
    candidates.insert(known_extra.begin(), known_extra.end());
    for (const auto& kv : m_node) {
        auto key = kv.first.as<std::string>();
        bool ok = m_seen.count(key) > 0;
        for (const auto& k : known_extra) {
            ok = ok || k == key;
        }
        if (!ok) {
            unknown_key(key, std::vector<std::string>(candidates.begin(), candidates.end()));
        }
    }
}

void Reader::unknown_key(const std::string& key, const std::vector<std::string>& candidates) const {
    auto origin = m_doc.origin(key_path(key) + "#key");
    std::string msg = origin.str() + ": unknown key '" + key_path(key) + "'";
    auto guess = text::did_you_mean(key, candidates);
    std::string hint;
    if (!guess.empty()) {
        msg += " (did you mean '" + guess + "'?)";
        hint = "Fix the key name";
    } else {
        hint = "See docs/config.md for the keys";
    }
    throw ConfigError(msg, hint);
}

void Reader::fail(const std::string& key, const std::string& message,
                  const std::string& hint) const {
    throw ConfigError(where(key) + ": " + key_path(key) + ": " + message, hint);
}

std::string Reader::describe(const YAML::Node& n) {
    if (n.IsScalar()) {
        return "'" + n.Scalar() + "'";
    }
    if (n.IsSequence()) {
        return "a list";
    }
    if (n.IsMap()) {
        return "a mapping";
    }
    return "nothing";
}

} // namespace baims::config
