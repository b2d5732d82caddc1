#include "config_file.hpp"

#include "baims/config/document.hpp"
#include "baims/core/error.hpp"
#include "baims/core/text.hpp"

#include <algorithm>
#include <vector>

namespace baims::app {
namespace {

// The options a file may set: every long name but --help and -c/--config itself, and the aliases.
std::map<std::string, CLI::Option*> settable(CLI::App& cmd,
                                             const std::map<std::string, std::string>& aliases) {
    std::map<std::string, CLI::Option*> out;
    for (CLI::Option* o : cmd.get_options()) {
        for (const auto& name : o->get_lnames()) {
            if (name != "help" && name != "config") {
                out[name] = o;
            }
        }
    }
    for (const auto& [key, option] : aliases) {
        if (CLI::Option* o = cmd.get_option_no_throw(option)) {
            out[key] = o;
        }
    }
    return out;
}

} // namespace

void apply_config_file(CLI::App& cmd, const std::string& file,
                       const std::map<std::string, std::string>& aliases) {
    const config::Document doc = config::Document::load({file});
    const YAML::Node& root = doc.root();
    if (!root || root.IsNull()) {
        return; // an empty file sets nothing (Document::load refuses one that is not a mapping)
    }
    const auto options = settable(cmd, aliases);
    std::vector<std::string> names;
    for (const auto& [name, option] : options) {
        names.push_back(name);
    }
    for (const auto& kv : root) {
        const std::string key = kv.first.as<std::string>();
        std::string name = key;
        std::replace(name.begin(), name.end(), '_', '-');
        const std::string where = doc.origin(key + "#key").str();
        auto it = options.find(name);
        if (it == options.end()) {
            std::string what = where + ": unknown key '" + key + "'";
            if (auto guess = text::did_you_mean(name, names); !guess.empty()) {
                what += " (did you mean '" + guess + "'?)";
            }
            throw ConfigError(what, "Use the long option names of 'baims " + cmd.get_name() +
                                        " --help', without '--'");
        }
        CLI::Option* option = it->second;
        if (option->count() > 0) {
            continue; // given on the command line: it wins
        }
        const YAML::Node& value = kv.second;
        const std::string at = doc.origin(key).str();
        std::vector<std::string> items;
        if (value.IsScalar()) {
            items.push_back(value.Scalar());
        } else if (value.IsSequence()) {
            for (const auto& item : value) {
                if (!item.IsScalar()) {
                    throw ConfigError(at + ": " + key + ": a list item is a list or mapping",
                                      "Give plain values, e.g. [scl, 10]");
                }
                items.push_back(item.Scalar());
            }
        } else {
            throw ConfigError(at + ": " + key + ": expected a value or a list of values",
                              "Give a value, e.g. '" + key + ": ...', or remove the key");
        }
        try {
            option->clear();
            for (auto& item : items) {
                option->add_result(item);
            }
            option->run_callback();
        } catch (const CLI::Error& e) {
            throw ConfigError(at + ": " + key + ": " + e.what(), "Fix the value");
        }
    }
}

} // namespace baims::app
