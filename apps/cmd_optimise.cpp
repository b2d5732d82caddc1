// baims optimise (alias optimize): consolidated metadata, coordinates in one chunk, optional
// rechunk (docs/cli/optimise.md).

#include "common.hpp"

#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/cube/optimise.hpp"

#include <memory>

namespace baims::app {

namespace {
struct OptimiseOptions {
    std::string cube;
    std::string output;
    bool in_place = false;
    std::string chunks;
};
} // namespace

void register_optimise(CLI::App& app, Registry& registry, const std::optional<std::string>& word) {
    auto o = std::make_shared<OptimiseOptions>();
    auto* sub = app.add_subcommand(
        "optimise", "Consolidate metadata, unchunk coordinates, optionally rechunk a Zarr cube");
    sub->alias("optimize");
    if (!builds(*sub, word)) {
        registry.push_back({"optimise", sub, {}});
        return;
    }
    sub->add_option("cube", o->cube, "The Zarr cube")->required();
    sub->add_option("-o,--output", o->output, "Write the optimised cube here (must not exist)");
    sub->add_flag("--in-place", o->in_place, "Rewrite the cube itself, crash-safely");
    sub->add_option("--chunks", o->chunks,
                    "Rechunk data variables: DIM=SIZE,... e.g. time=1,lat=512,lon=512");
    registry.push_back({"optimise", sub, [o](const GlobalOptions& g) {
                            cube::OptimiseRequest req;
                            req.cube = o->cube;
                            req.output = o->output;
                            req.in_place = o->in_place;
                            if (!o->chunks.empty()) {
                                req.chunks = cube::parse_chunk_spec(o->chunks);
                            }
                            req.dry_run = g.dry_run;
                            req.threads = thread_count(g);
                            auto r = cube::optimise(req);
                            log::info(std::string(g.dry_run ? "dry run: " : "") + r.summary());
                            return EXIT_OK;
                        }});
}

} // namespace baims::app
