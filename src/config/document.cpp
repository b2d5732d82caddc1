#include "baims/config/document.hpp"

#include "baims/core/error.hpp"
#include "baims/core/fs.hpp"

#include <cstdlib>

namespace baims::config {
namespace {

std::string child_path(const std::string& parent, const std::string& key) {
    return parent.empty() ? key : parent + "." + key;
}

std::string item_path(const std::string& parent, size_t i) {
    return parent + "[" + std::to_string(i) + "]";
}

// Copies node into a fresh tree, substituting ${ENV} in scalars and recording origins.
YAML::Node rebuild(const YAML::Node& node, const std::string& path, const std::string& file,
                   std::map<std::string, Origin>& origins) {
    auto mark = node.Mark();
    Origin here{file, mark.line >= 0 ? mark.line + 1 : 0, mark.column >= 0 ? mark.column + 1 : 0};
    if (!path.empty()) {
        origins[path] = here;
    }
    switch (node.Type()) {
    case YAML::NodeType::Map: {
        YAML::Node out(YAML::NodeType::Map);
        std::map<std::string, Origin> keys_here; // a key given twice is refused, not overwritten
        for (const auto& kv : node) {
            if (!kv.first.IsScalar()) {
                auto km = kv.first.Mark();
                throw ConfigError(Origin{file, km.line + 1, km.column + 1}.str() + ": " +
                                      (path.empty() ? std::string("a key") : path + ": a key") +
                                      " is a list or mapping",
                                  "Keys must be plain names");
            }
            auto key = kv.first.as<std::string>();
            auto kmark = kv.first.Mark();
            auto p = child_path(path, key);
            Origin key_origin{file, kmark.line + 1, kmark.column + 1};
            if (auto [it, fresh] = keys_here.emplace(key, key_origin); !fresh) {
                throw ConfigError(key_origin.str() + ": duplicate key '" + p +
                                      "' (first given at " + it->second.str() + ")",
                                  "Remove one of them");
            }
            out[key] = rebuild(kv.second, p, file, origins);
            // The key's own position is the better pointer for "unknown key" errors.
            origins[p + "#key"] = key_origin;
        }
        return out;
    }
    case YAML::NodeType::Sequence: {
        YAML::Node out(YAML::NodeType::Sequence);
        size_t i = 0;
        for (const auto& item : node) {
            out.push_back(rebuild(item, item_path(path, i), file, origins));
            ++i;
        }
        return out;
    }
    case YAML::NodeType::Scalar: {
        auto s = node.Scalar();
        if (s.find("${") != std::string::npos) {
            return YAML::Node(substitute_env(s, here.str() + ": " + path));
        }
        YAML::Node out(s);
        if (node.Tag() == "!") {
            out.SetTag("!"); // keep quoted-string-ness
        }
        return out;
    }
    default:
        return YAML::Node();
    }
}

void merge_into(YAML::Node& dst, const YAML::Node& src) {
    if (!src.IsMap() || !dst.IsMap()) {
        dst = src;
        return;
    }
    for (const auto& kv : src) {
        auto key = kv.first.as<std::string>();
        if (dst[key] && dst[key].IsMap() && kv.second.IsMap()) {
            YAML::Node child = dst[key];
            merge_into(child, kv.second);
        } else {
            dst[key] = kv.second;
        }
    }
}

} // namespace

std::string Origin::str() const {
    if (file.empty()) {
        return "command line";
    }
    if (line <= 0) {
        return file;
    }
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

Document::Document()
    : m_root(YAML::NodeType::Map) {}

Document Document::from_string(const std::string& yaml, const std::string& name) {
    Document doc;
    YAML::Node parsed;
    try {
        parsed = YAML::Load(yaml);
    } catch (const YAML::ParserException& e) {
        throw ConfigError(name + ":" + std::to_string(e.mark.line + 1) + ":" +
                              std::to_string(e.mark.column + 1) + ": invalid YAML: " + e.msg,
                          "Fix the syntax at that position");
    }
    if (parsed.IsNull()) {
        throw ConfigError(name + ": the config is empty", "Give at least one key");
    }
    if (!parsed.IsMap()) {
        throw ConfigError(name + ": the config must be a mapping of keys to values",
                          "See docs/config.md");
    }
    doc.m_root = rebuild(parsed, "", name, doc.m_origins);
    doc.m_files.push_back(name);
    return doc;
}

Document Document::load(const std::vector<std::filesystem::path>& files) {
    Document doc;
    for (const auto& f : files) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(f, ec)) {
            throw ConfigError("config file '" + f.string() + "' does not exist",
                              "Check the path given with -c");
        }
        std::string text;
        try {
            text = fs::read_file(f);
        } catch (const Error& e) {
            throw ConfigError(e.what(), "Check the path given with -c");
        }
        doc.merge(from_string(text, f.string()));
    }
    return doc;
}

void Document::merge(const Document& other) {
    merge_into(m_root, other.m_root);
    for (const auto& [k, v] : other.m_origins) {
        m_origins[k] = v;
    }
    m_files.insert(m_files.end(), other.m_files.begin(), other.m_files.end());
}

Origin Document::origin(const std::string& path) const {
    std::string p = path;
    while (!p.empty()) {
        auto it = m_origins.find(p);
        if (it != m_origins.end()) {
            return it->second;
        }
        auto dot = p.find_last_of(".[");
        if (dot == std::string::npos) {
            break;
        }
        p = p.substr(0, dot);
    }
    return Origin{m_files.empty() ? std::string() : m_files.back(), 0, 0};
}

void Document::set_origin(const std::string& path, Origin origin) {
    m_origins[path] = origin;
}

void Document::set_override(const std::string& dotted_path, const std::string& value) {
    YAML::Node node = m_root;
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
        auto dot = dotted_path.find('.', start);
        parts.push_back(dotted_path.substr(start, dot == std::string::npos ? dot : dot - start));
        if (dot == std::string::npos) {
            break;
        }
        start = dot + 1;
    }
    std::vector<YAML::Node> chain{m_root};
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
        YAML::Node next = chain.back()[parts[i]];
        if (!next.IsMap()) {
            chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
            next = chain.back()[parts[i]];
        }
        chain.push_back(next);
    }
    chain.back()[parts.back()] = value;
    m_origins[dotted_path] = Origin{};
}

std::string substitute_env(const std::string& s, const std::string& where) {
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
        if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '{') {
            auto end = s.find('}', i + 2);
            if (end == std::string::npos) {
                throw ConfigError(where + ": unterminated '${' in '" + s + "'",
                                  "Write ${NAME} or ${NAME:-default}");
            }
            std::string expr = s.substr(i + 2, end - i - 2);
            std::string name = expr, def;
            bool has_default = false;
            auto sep = expr.find(":-");
            if (sep != std::string::npos) {
                name = expr.substr(0, sep);
                def = expr.substr(sep + 2);
                has_default = true;
            }
            const char* v = std::getenv(name.c_str());
            if (v && *v) {
                out += v;
            } else if (has_default) {
                out += def;
            } else {
                throw ConfigError(where + ": environment variable " + name + " is not set",
                                  "Export it or write ${" + name + ":-default}");
            }
            i = end + 1;
        } else {
            out += s[i++];
        }
    }
    return out;
}

std::string to_yaml(const YAML::Node& node) {
    YAML::Emitter em;
    em << node;
    return std::string(em.c_str()) + "\n";
}

} // namespace baims::config
