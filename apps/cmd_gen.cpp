// baims gen: build or extend a Zarr cube from CF NetCDF inputs (docs/cli/gen.md).

#include "common.hpp"

#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/cube/gen.hpp"

#include <iostream>
#include <memory>

namespace baims::app {
namespace {

struct GenOptions {
    std::vector<std::string> configs;
    std::vector<std::string> inputs;
    std::string output;
    bool fail_fast = false;
};

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
    auto result = cube::generate(req);
    if (!g.dry_run) {
        log::info(result.summary());
    }
    if (!result.failed.empty()) {
        std::cerr << "baims gen: " << result.failed.size() << " of " << result.inputs_total
                  << " inputs failed:" << std::endl;
        for (const auto& f : result.failed) {
            std::cerr << "  " << f << std::endl;
        }
    }
    return result.exit_code();
}

} // namespace

void register_gen(CLI::App& app, Registry& registry) {
    auto opts = std::make_shared<GenOptions>();
    auto* sub = app.add_subcommand("gen", "Build or extend a Zarr data cube from CF NetCDF inputs");
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
    registry.push_back({"gen", sub, [opts, sub](const GlobalOptions& g) {
                            std::string line = "baims gen";
                            for (const auto& c : opts->configs) {
                                line += " -c " + c;
                            }
                            if (!opts->output.empty()) {
                                line += " -o " + opts->output;
                            }
                            for (const auto& i : opts->inputs) {
                                line += " " + i;
                            }
                            (void)sub;
                            return run_gen(*opts, g, line);
                        }});
}

} // namespace baims::app
