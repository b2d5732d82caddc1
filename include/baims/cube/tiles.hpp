#pragma once
// baims tiles: the xcube multi-resolution pyramid (CUBE.levels) of a Zarr v2 cube
// (docs/cli/tiles.md). median and mode aggregate every level k >= 1 directly from level 0 with
// 2^k x 2^k blocks (exact); first, min, max and mean derive level k from level k-1's 2x2 cells. All
// levels in one pass over level 0, in parallel over the tiles of the deepest level.

#include "baims/cube/tiles_png.hpp"

#include <map>
#include <optional>
#include <string>

namespace baims::cube {

struct TilesRequest {
    std::string cube;                       // the level-0 cube
    std::string output;                     // "" = <cube without .zarr>.levels
    size_t tile_w = 0, tile_h = 0;          // 0 = the cube's spatial chunking
    int num_levels_max = 0;                 // 0 = no limit
    std::string agg_default = "auto";       // first mean median min max mode auto
    std::map<std::string, std::string> agg; // per variable
    bool link = true;                       // 0.link (default) or a 0.zarr copy
    bool update = false;                    // add new/replaced time slices only
    int threads = 1;
    bool dry_run = false;
    std::optional<PngRequest> png; // --png: XYZ PNG tiles and index.html after the pyramid
};

struct TilesResult {
    int num_levels = 0;
    size_t chunks_written = 0, chunks_empty = 0; // empty = all fill, not written
    size_t slices = 0;                           // time slices computed
    bool rebuilt = true;                         // false for an incremental --update
    std::optional<PngResult> png;
    std::string summary() const;
};

// Throws UsageError (bad method, unknown variable), InputError (not a cube), OutputError.
TilesResult build_tiles(const TilesRequest& req);

// "mean" → "mean"; throws UsageError for an unknown method.
std::string check_agg_method(const std::string& method);

} // namespace baims::cube
