#pragma once
// What every subcommand shares: the global options and the registry entry.

#include "baims/config/document.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace baims::app {

struct GlobalOptions {
    std::string log_level = "info";
    std::string log_format = "text";
    bool quiet = false;
    std::string progress = "auto";
    int threads = 0; // 0 = all cores
    bool dry_run = false;
    bool print_config = false;
    bool deterministic = false;
};

struct Command {
    std::string name;
    CLI::App* app = nullptr;
    // Returns the process exit code (0, or 8 for partial success). Throws baims::Error.
    std::function<int(const GlobalOptions&)> run;
};

using Registry = std::vector<Command>;

// Effective thread count (--threads, else all cores).
int thread_count(const GlobalOptions& g);

// Loads -c files (deep merge), reporting errors as ConfigError.
config::Document load_config_files(const std::vector<std::string>& files);

// The command registrations (one explicit list in main.cpp).
void register_gen(CLI::App& app, Registry& registry);
void register_ingest_vector(CLI::App& app, Registry& registry);
void register_catalog(CLI::App& app, Registry& registry);
void register_rasterize(CLI::App& app, Registry& registry);

// Version text for --version.
std::string version_text();

} // namespace baims::app
