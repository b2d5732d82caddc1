// baims: one binary, one subcommand per job. This file builds the CLI, sets up logging, and maps
// errors to exit codes (docs/exit-codes.md). Commands live in cmd_<name>.cpp.

#include "common.hpp"

#include "baims/core/error.hpp"
#include "baims/core/interrupt.hpp"
#include "baims/core/lazy_lib.hpp"
#include "baims/core/log.hpp"
#include "baims/core/progress.hpp"
#include "baims/core/text.hpp"
#include "baims/io/gdal.hpp"

#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <set>
#include <thread>

namespace baims::app {

int thread_count(const GlobalOptions& g) {
    if (g.threads > 0) {
        return g.threads;
    }
    unsigned n = std::thread::hardware_concurrency();
    return n ? static_cast<int>(n) : 1;
}

std::optional<std::string> command_word(int argc, char** argv) {
    // Global options that take a value as the next word.
    static const std::set<std::string> with_value = {"--log-level", "--log-format", "--progress",
                                                     "--threads"};
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--" || !arg.starts_with("-")) {
            return arg;
        }
        if (with_value.count(arg)) {
            ++i;
        }
    }
    return std::nullopt;
}

std::optional<std::string> unknown_command(int argc, char** argv, const Registry& registry) {
    const auto arg = command_word(argc, argv);
    if (!arg || *arg == "--") {
        return std::nullopt;
    }
    std::vector<std::string> names;
    for (const auto& c : registry) {
        if (c.name == *arg) {
            return std::nullopt;
        }
        names.push_back(c.name);
    }
    std::string msg = "unknown command '" + *arg + "'";
    if (auto guess = text::did_you_mean(*arg, names); !guess.empty()) {
        msg += " (did you mean '" + guess + "'?)";
    }
    return msg;
}

bool builds(const CLI::App& sub, const std::optional<std::string>& word) {
    // after a "--" CLI11 still takes a command's name as the command: any may be parsed
    return word && (*word == "--" || sub.check_name(*word));
}

config::Document load_config_files(const std::vector<std::string>& files) {
    std::vector<std::filesystem::path> paths(files.begin(), files.end());
    return config::Document::load(paths);
}

} // namespace baims::app

int main(int argc, char** argv) {
    using namespace baims;
    app::GlobalOptions global;
    CLI::App cli{"baims: Earth-observation data cubes and parcel monitoring", "baims"};
    cli.fallthrough();
    cli.require_subcommand(1);
    cli.set_version_flag(
        "--version", [] { return app::version_text(); },
        "Print the version, git revision and library versions");
    cli.add_option("--log-level", global.log_level, "Log level")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
        ->capture_default_str();
    cli.add_option("--log-format", global.log_format,
                   "Log format: text, or json (one object a line)")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    cli.add_flag("-q,--quiet", global.quiet, "Only warnings and errors");
    cli.add_option("--progress", global.progress,
                   "Progress display: auto (bar on a terminal, log lines otherwise), always, never")
        ->check(CLI::IsMember({"auto", "always", "never"}))
        ->capture_default_str();
    cli.add_option("--threads", global.threads, "Worker threads (default: all cores)")
        ->check(CLI::Range(1, 1024));
    cli.add_flag("--dry-run", global.dry_run, "Validate inputs and config, write nothing");
    cli.add_flag("--print-config", global.print_config,
                 "Print the effective configuration (YAML) and exit");
    cli.add_flag("--deterministic", global.deterministic,
                 "No timestamps in logs (for reproducible output in tests)");

    app::Registry registry;
    // The commands, in one explicit list; only the one this command line names gets its options.
    const auto word = app::command_word(argc, argv);
    app::register_gen(cli, registry, word);
    app::register_optimise(cli, registry, word);
    app::register_prune(cli, registry, word);
    app::register_tiles(cli, registry, word);
    app::register_ingest_vector(cli, registry, word);
    app::register_catalog(cli, registry, word);
    app::register_rasterize(cli, registry, word);
    app::register_extract(cli, registry, word);

    // The first word that is not a global option must be a command: a typo gets a suggestion.
    if (auto unknown = app::unknown_command(argc, argv, registry)) {
        std::cerr << format_error_line("", *unknown, "Run 'baims --help' for the commands")
                  << std::endl;
        return EXIT_USAGE;
    }
    try {
        cli.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return cli.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return cli.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return cli.exit(e);
    } catch (const CLI::ParseError& e) {
        std::string cmd;
        for (auto* sub : cli.get_subcommands()) {
            cmd = sub->get_name();
        }
        std::string what = e.what();
        if (cmd.empty() && e.get_name() == "RequiredError") {
            std::vector<std::string> names;
            for (const auto& c : registry) {
                names.push_back(c.name);
            }
            what = "no command given (one of " + text::join(names, ", ") + ")";
        }
        std::cerr << format_error_line(cmd, what,
                                       "Run 'baims " + (cmd.empty() ? "" : cmd + " ") +
                                           "--help' for usage")
                  << std::endl;
        return EXIT_USAGE;
    }

    log::Options lo;
    lo.level = global.log_level;
    lo.format = global.log_format == "json" ? log::Format::Json : log::Format::Text;
    lo.quiet = global.quiet;
    lo.deterministic = global.deterministic;
    log::setup(lo);
    Progress::configure(global.progress == "always"  ? ProgressMode::Always
                        : global.progress == "never" ? ProgressMode::Never
                                                     : ProgressMode::Auto,
                        lo.format == log::Format::Json);
    install_signal_handlers();

    const app::Command* selected = nullptr;
    for (const auto& c : registry) {
        if (c.app->parsed()) {
            selected = &c;
        }
    }
    if (!selected) {
        std::cerr << format_error_line("", "no command given", "Run 'baims --help'") << std::endl;
        return EXIT_USAGE;
    }
    lazy_lib::set_command(selected->name.c_str());
    auto report = [&](const std::string& what, const std::string& hint) {
        std::string line = format_error_line(selected->name, log::redact(what), hint);
        if (lo.format == log::Format::Json) {
            log::error_object(line); // stderr then holds JSON objects only
        } else {
            std::cerr << line << std::endl;
        }
    };
    // GDAL's messages go to the log (debug) or into baims's own error line, never to stderr on
    // their own, for every command.
    io::gdal::Session gdal_session;
    try {
        return selected->run(global);
    } catch (const Error& e) {
        report(e.what(), e.hint());
        return e.exit_code();
    } catch (const std::bad_alloc&) {
        report("out of memory", "Lower --threads or the chunk sizes");
        return EXIT_INTERNAL;
    } catch (const std::exception& e) {
        report(std::string("internal error: ") + e.what(), "Please report this with the log");
        return EXIT_INTERNAL;
    }
}
