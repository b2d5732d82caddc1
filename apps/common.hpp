#pragma once
// What every subcommand shares: the global options and the registry entry.

#include "baims/config/document.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
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

// The first word of the command line that is not a global option or its value: the command's name
// (or a typo), or "--" when that comes first; nothing when there is no such word.
std::optional<std::string> command_word(int argc, char** argv);

// "unknown command 'x' (did you mean 'y'?)" when the first word after the global options is not
// a command; nothing when it is one or when there is none.
std::optional<std::string> unknown_command(int argc, char** argv, const Registry& registry);

// Whether `sub` gets its options in this run: only the command the command line names does (`word`
// is command_word's; every command after a "--"). The others are registered with their
// name, alias and description only, all that `baims --help` and the parser need of them: building
// every command's options was a third of the instructions and ~30 page faults of each start-up
// (bench/results/2026-12-03-updstart.md). A command without its options is never parsed (exactly
// one command is: the one command_word names).
bool builds(const CLI::App& sub, const std::optional<std::string>& word);

// Loads -c files (deep merge), reporting errors as ConfigError.
config::Document load_config_files(const std::vector<std::string>& files);

// The command registrations (one explicit list in main.cpp); `word`: see builds().
void register_gen(CLI::App& app, Registry& registry, const std::optional<std::string>& word);
void register_ingest_vector(CLI::App& app, Registry& registry,
                            const std::optional<std::string>& word);
void register_catalog(CLI::App& app, Registry& registry, const std::optional<std::string>& word);
void register_rasterize(CLI::App& app, Registry& registry, const std::optional<std::string>& word);
void register_prune(CLI::App& app, Registry& registry, const std::optional<std::string>& word);
void register_optimise(CLI::App& app, Registry& registry, const std::optional<std::string>& word);
void register_extract(CLI::App& app, Registry& registry, const std::optional<std::string>& word);
void register_tiles(CLI::App& app, Registry& registry, const std::optional<std::string>& word);

// Version text for --version.
std::string version_text();

} // namespace baims::app
