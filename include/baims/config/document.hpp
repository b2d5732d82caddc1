#pragma once
// Loading YAML configs: several files deep-merged left to right, ${ENV} substituted in scalars,
// and for every key path the file:line:col it came from, so errors can point at it.

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace baims::config {

struct Origin {
    std::string file;
    int line = 0; // 1-based; 0 = unknown (e.g. set on the command line)
    int column = 0;
    std::string str() const; // "file:line:col" or "file" or "command line"
};

class Document {
public:
    Document();
    // Loads and deep-merges the files (mappings merge recursively, everything else is replaced).
    static Document load(const std::vector<std::filesystem::path>& files);
    // For tests and for configs given as text.
    static Document from_string(const std::string& yaml, const std::string& name = "<string>");

    // Deep-merges another document into this one (other wins).
    void merge(const Document& other);

    const YAML::Node& root() const { return m_root; }
    YAML::Node& root() { return m_root; }

    // Where the value at a dotted key path was defined ("a.b[2].c"); falls back to the parent.
    Origin origin(const std::string& path) const;
    void set_origin(const std::string& path, Origin origin);

    // Sets a scalar from the command line (path is dotted, mappings only).
    void set_override(const std::string& dotted_path, const std::string& value);

    std::vector<std::string> files() const { return m_files; }

private:
    YAML::Node m_root;
    std::map<std::string, Origin> m_origins;
    std::vector<std::string> m_files;
};

// Replaces ${NAME} and ${NAME:-default} in s from the environment. Throws ConfigError for an
// unset variable without a default. where is used in the message.
std::string substitute_env(const std::string& s, const std::string& where);

// Emits a node as YAML text (block style).
std::string to_yaml(const YAML::Node& node);

} // namespace baims::config
