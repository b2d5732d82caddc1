// baims gen: build or extend a Zarr cube from NetCDF (regular, projected, swath), GeoTIFF or
// Sentinel-2 SAFE inputs (docs/cli/gen.md).

#include "common.hpp"

#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/core/text.hpp"
#include "baims/cube/gen.hpp"

#include <iostream>
#include <memory>
#include <tuple>

namespace baims::app {
namespace {

struct GenOptions {
    std::vector<std::string> configs;
    std::vector<std::string> inputs;
    std::string output;
    bool fail_fast = false;
    std::string partition; // "K/N"
    bool finalize = false;
};

// "K/N" with 1 <= K <= N.
std::pair<size_t, size_t> parse_partition(const std::string& text) {
    const auto slash = text.find('/');
    size_t k = 0, n = 0;
    try {
        if (slash != std::string::npos &&
            text.find_first_not_of("0123456789/") == std::string::npos) {
            k = std::stoul(text.substr(0, slash));
            n = std::stoul(text.substr(slash + 1));
        }
    } catch (const std::exception&) {
        k = n = 0;
    }
    if (k < 1 || k > n) {
        throw UsageError("--partition '" + text + "' is not K/N with 1 <= K <= N",
                         "Give e.g. --partition 2/4 for the second of four processes");
    }
    return {k, n};
}

// The command as the cube's history records it: arguments shell-quoted, and the inputs (which grow
// with the input folder) bounded to the first few and a count.
std::string history_line(const GenOptions& o) {
    constexpr size_t MAX_INPUTS = 5;
    std::string line = "baims gen";
    for (const auto& c : o.configs) {
        line += " -c " + text::shell_quote(c);
    }
    if (!o.output.empty()) {
        line += " -o " + text::shell_quote(o.output);
    }
    if (o.fail_fast) {
        line += " --fail-fast";
    }
    for (size_t i = 0; i < o.inputs.size() && i < MAX_INPUTS; ++i) {
        line += " " + text::shell_quote(o.inputs[i]);
    }
    if (o.inputs.size() > MAX_INPUTS) {
        line += " ... (" + std::to_string(o.inputs.size() - MAX_INPUTS) + " more inputs)";
    }
    return line;
}

int run_gen(const GenOptions& o, const GlobalOptions& g, const std::string& command_line) {
    auto doc = load_config_files(o.configs);
    if (!o.output.empty()) {
        doc.set_override("output_path", o.output);
    }
    auto cfg = cube::parse_gen_config(doc);
    if (g.print_config) {
        if (!o.inputs.empty()) {
            cfg.input_paths = o.inputs;
        }
        std::cout << cfg.to_yaml();
        return EXIT_OK;
    }
    cube::GenRequest req;
    req.config = std::move(cfg);
    req.inputs = o.inputs;
    req.fail_fast = o.fail_fast;
    req.dry_run = g.dry_run;
    req.threads = thread_count(g);
    req.command_line = command_line;
    if (!o.partition.empty()) {
        std::tie(req.partition, req.partitions) = parse_partition(o.partition);
    }
    req.finalize = o.finalize;
    if (req.finalize && req.partitions > 0) {
        throw UsageError("--partition and --finalize do not go together",
                         "Run each partition, then one baims gen --finalize");
    }
    auto result = cube::generate(req);
    if (!g.dry_run) {
        log::info(result.summary());
    }
    if (!result.failed.empty()) {
        const std::string head = "baims gen: " + std::to_string(result.failed.size()) + " of " +
                                 std::to_string(result.inputs_total) + " inputs failed:";
        if (g.log_format == "json") { // one JSON object per line, as every other line
            log::error(head);
            for (const auto& f : result.failed) {
                log::error("failed input: " + f);
            }
        } else {
            std::cerr << head << std::endl;
            for (const auto& f : result.failed) {
                std::cerr << "  " << f << std::endl;
            }
        }
    }
    return result.exit_code();
}

} // namespace

void register_gen(CLI::App& app, Registry& registry, const std::optional<std::string>& word) {
    auto opts = std::make_shared<GenOptions>();
    auto* sub =
        app.add_subcommand("gen", "Build or extend a Zarr data cube from NetCDF (regular, "
                                  "projected or swath), GeoTIFF or Sentinel-2 L2A SAFE inputs");
    if (!builds(*sub, word)) {
        registry.push_back({"gen", sub, {}});
        return;
    }
    sub->add_option("-c,--config", opts->configs,
                    "Config file (YAML, xcube gen keys); several are deep-merged left to right")
        ->required()
        ->allow_extra_args(false)
        ->check(CLI::ExistingFile);
    sub->add_option(
        "inputs", opts->inputs,
        "Input files, globs (*, ?, **) or one .txt list of paths (default: input_paths)");
    sub->add_option("-o,--output", opts->output, "Output cube path (overrides output_path)");
    sub->add_flag("--fail-fast", opts->fail_fast,
                  "Stop at the first bad input (default: report it, skip it, exit 8 at the end)");
    sub->add_option("--partition", opts->partition,
                    "K/N: make only part K of N of the chunks of a new cube or of an update "
                    "(one of N processes; then --finalize)");
    sub->add_flag("--finalize", opts->finalize,
                  "Publish the new cube, or commit the update, once all --partition K/N runs "
                  "are done");
    registry.push_back({"gen", sub, [opts, sub](const GlobalOptions& g) {
                            const auto line = history_line(*opts);
                            (void)sub;
                            return run_gen(*opts, g, line);
                        }});
}

} // namespace baims::app
