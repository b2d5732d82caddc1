// baims prune: delete all-missing chunks of data variables (docs/cli/prune.md).

#include "common.hpp"

#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/cube/prune.hpp"

#include <iostream>
#include <memory>

namespace baims::app {

void register_prune(CLI::App& app, Registry& registry, const std::optional<std::string>& word) {
    auto cube = std::make_shared<std::string>();
    auto* sub = app.add_subcommand(
        "prune", "Delete chunk files of data variables whose values are all missing");
    if (!builds(*sub, word)) {
        registry.push_back({"prune", sub, {}});
        return;
    }
    sub->add_option("cube", *cube, "The Zarr cube")->required();
    registry.push_back({"prune", sub, [cube](const GlobalOptions& g) {
                            cube::PruneRequest req;
                            req.cube = *cube;
                            req.dry_run = g.dry_run;
                            req.threads = thread_count(g);
                            auto r = cube::prune(req);
                            if (g.dry_run) {
                                for (const auto& c : r.pruned) {
                                    std::cout << c.key << " " << c.bytes << "\n";
                                }
                            }
                            log::info(r.summary());
                            return EXIT_OK;
                        }});
}

} // namespace baims::app
