// baims tiles: the xcube .levels pyramid of a cube (docs/cli/tiles.md).

#include "common.hpp"

#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/cube/tiles.hpp"

#include <memory>
#include <optional>
#include <sstream>

namespace baims::app {
namespace {

struct TilesOptions {
    std::string cube, output, tile_size, agg_methods = "auto", level0 = "link";
    int num_levels_max = 0;
    bool update = false;
    std::string png, cmap = "viridis";
    std::optional<double> vmin, vmax;
};

size_t parse_size(const std::string& s) {
    try {
        size_t pos = 0;
        long v = std::stol(s, &pos);
        if (pos == s.size() && v > 0) {
            return static_cast<size_t>(v);
        }
    } catch (const std::exception&) {
    }
    throw UsageError("--tile-size '" + s + "' is not a positive integer",
                     "Give W or W,H in pixels, e.g. --tile-size 512 or --tile-size 512,256");
}

int run_tiles(const TilesOptions& o, const GlobalOptions& g) {
    cube::TilesRequest req;
    req.cube = o.cube;
    req.output = o.output;
    if (!o.tile_size.empty()) {
        auto comma = o.tile_size.find(',');
        req.tile_w = parse_size(o.tile_size.substr(0, comma));
        req.tile_h =
            comma == std::string::npos ? req.tile_w : parse_size(o.tile_size.substr(comma + 1));
    }
    req.num_levels_max = o.num_levels_max;
    // "mean" for all, or "sst=mean,mask=mode" per variable (others: auto)
    std::string rest = o.agg_methods;
    while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string item = rest.substr(0, comma);
        rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
        auto eq = item.find('=');
        if (eq == std::string::npos) {
            req.agg_default = cube::check_agg_method(item);
        } else {
            req.agg[item.substr(0, eq)] = cube::check_agg_method(item.substr(eq + 1));
        }
    }
    if (o.level0 != "link" && o.level0 != "copy") {
        throw UsageError(
            "--level0 '" + o.level0 + "' is not link or copy",
            "Use --level0 link (a 0.link to the cube) or --level0 copy (a 0.zarr copy)");
    }
    req.link = o.level0 == "link";
    req.update = o.update;
    req.threads = thread_count(g);
    req.dry_run = g.dry_run;
    if (!o.png.empty()) {
        cube::PngRequest png;
        png.dir = o.png;
        // "viridis" for all, or "sst=viridis,mask=gray" per variable (others: viridis)
        for (std::string left = o.cmap; !left.empty();) {
            auto comma = left.find(',');
            std::string item = left.substr(0, comma);
            left = comma == std::string::npos ? "" : left.substr(comma + 1);
            auto eq = item.find('=');
            if (eq == std::string::npos) {
                png.cmap = cube::check_cmap(item);
            } else {
                png.cmap_of[item.substr(0, eq)] = cube::check_cmap(item.substr(eq + 1));
            }
        }
        png.vmin = o.vmin;
        png.vmax = o.vmax;
        if (o.vmin && o.vmax && !(*o.vmin < *o.vmax)) {
            auto num = [](double d) {
                std::ostringstream s;
                s << d;
                return s.str();
            };
            throw UsageError("--vmin " + num(*o.vmin) + " is not less than --vmax " + num(*o.vmax),
                             "Swap them");
        }
        req.png = png;
    } else if (o.vmin || o.vmax || o.cmap != "viridis") {
        throw UsageError("--cmap, --vmin and --vmax need --png DIR", "Add --png DIR, or drop them");
    }
    auto r = cube::build_tiles(req);
    log::info(r.summary());
    return EXIT_OK;
}

} // namespace

void register_tiles(CLI::App& app, Registry& registry, const std::optional<std::string>& word) {
    auto opts = std::make_shared<TilesOptions>();
    auto* sub = app.add_subcommand("tiles", "Build the xcube multi-resolution pyramid (.levels)");
    if (!builds(*sub, word)) {
        registry.push_back({"tiles", sub, {}});
        return;
    }
    sub->add_option("cube", opts->cube, "The cube (level 0)")->required();
    sub->add_option("-o,--output", opts->output,
                    "Pyramid directory (default: <cube without .zarr>.levels beside the cube)");
    sub->add_option("--tile-size", opts->tile_size,
                    "Tile (chunk) size W[,H] in pixels (default: the cube's spatial chunks)");
    sub->add_option("--num-levels-max", opts->num_levels_max,
                    "At most this many levels, level 0 included (default: no limit)");
    sub->add_option("--agg-methods", opts->agg_methods,
                    "METHOD or VAR=METHOD,...: first mean median min max mode auto (default auto: "
                    "mean for floats, mode for integers)");
    sub->add_option("--level0", opts->level0,
                    "link: 0.link, a relative path to the cube (default); copy: a 0.zarr copy");
    sub->add_flag("--update", opts->update,
                  "Add the cube's new or replaced time slices to an existing pyramid");
    sub->add_option("--png", opts->png,
                    "Also write XYZ web-mercator PNG tiles of every variable and time step, and "
                    "an index.html viewer, into DIR");
    sub->add_option("--cmap", opts->cmap,
                    "NAME or VAR=NAME,...: colour map of --png: " + cube::cmap_names() +
                        " (default viridis)");
    sub->add_option("--vmin", opts->vmin,
                    "Value at the low end of the colour map (default: valid_min, else the 2nd "
                    "percentile)");
    sub->add_option("--vmax", opts->vmax,
                    "Value at the high end of the colour map (default: valid_max, else the 98th "
                    "percentile)");
    registry.push_back(
        {"tiles", sub, [opts](const GlobalOptions& g) { return run_tiles(*opts, g); }});
}

} // namespace baims::app
