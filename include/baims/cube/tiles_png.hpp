#pragma once
// baims tiles --png: XYZ (web mercator, 256 px) PNG tiles of a pyramid's variables and time steps,
// with a colour map, and an index.html viewer that works offline (docs/cli/tiles.md).

#include "baims/core/fs.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace baims::cube {

struct PngRequest {
    std::string dir;                            // output folder
    std::string cmap = "viridis";               // one of cmap_names(), for every variable...
    std::map<std::string, std::string> cmap_of; // ...but these
    std::optional<double> vmin, vmax;
    int threads = 1;
    bool lock_held = false; // the caller holds png_folder_lock(dir) (else write_png_tiles takes it)
};

struct PngResult {
    size_t tiles = 0;                // tiles written
    size_t steps = 0, unchanged = 0; // (variable, time step) pairs; those whose tiles were kept
    int zmin = 0, zmax = 0;
    std::string summary() const;
};

// The built-in colour maps: "gray, rdbu, viridis".
std::string cmap_names();
// name → name; throws UsageError for an unknown colour map.
std::string check_cmap(const std::string& name);
// The 256-entry RGB table of a colour map (index i: the stops interpolated at i/255, rounded).
std::vector<unsigned char> cmap_table(const std::string& name);

// Writes the tiles of every variable of the pyramid `levels_dir` (made by build_tiles from
// `cube`) and DIR/index.html. Throws UsageError (a cube not on lat/lon), OutputError.
// The writer lock of a PNG folder (DIR/.baims-lock, created with DIR): OutputError (exit 5) "PNG
// folder 'DIR' is locked by another baims process" while another tiles --png writes it.
std::unique_ptr<fs::FileLock> png_folder_lock(const std::string& dir);

// The folder that --png DIR writes: DIR itself, or when DIR is a symbolic link (e.g. into a web
// server's root) the real path of its target, made when it does not exist. The exchange then
// replaces the target folder (its swap folder beside the target, on its file system) and the
// link stays as it was. Throws OutputError when the target cannot be made.
std::filesystem::path real_png_folder(const std::string& dir);

PngResult write_png_tiles(const std::string& cube, const std::string& levels_dir,
                          const PngRequest& req);

} // namespace baims::cube
