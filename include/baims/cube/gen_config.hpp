#pragma once
// The `baims gen` configuration (xcube-compatible key names), parsed and validated before any
// output is touched.

#include "baims/config/document.hpp"
#include "baims/cube/cube_state.hpp"
#include "baims/cube/encoding.hpp"
#include "baims/cube/resample.hpp"
#include "baims/grid/grid.hpp"
#include "baims/io/crs.hpp"
#include "baims/zarr/codec.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace baims::cube {

struct OutputVariable {
    std::string pattern; // input variable name, may hold * and ? wildcards
    std::string rename;  // output name ("" = same as input)
    std::optional<Resampling> resampling;
    nlohmann::json attrs = nlohmann::json::object(); // extra/overriding attributes
    // Pixels where it is false become NaN (xcube writes it as an attribute; baims applies it).
    std::string valid_pixel_expression;
    std::string valid_where; // "file:line:col: output_variables[i].<name>.valid_pixel_expression"
};

// processed_variables entry (xcube): a variable computed from the input variables on the source
// pixels of each input, before resampling (see src/cube/gen_expr.hpp).
struct ProcessedVariable {
    std::string name;
    std::string expression;             // "" = none: the variable of that name (maybe masked)
    std::string valid_pixel_expression; // "" = none
    std::string where;                  // "file:line:col: processed_variables[i].<name>"
    std::string expression_where, valid_where;
    nlohmann::json attrs = nlohmann::json::object(); // the other keys: attributes
};

// output_writer_params.packing.<var>: {dtype, scale_factor, add_offset, _FillValue}
struct Packing {
    Encoding encoding;
    std::string where; // "file:line:col: output_writer_params.packing.<var>" for messages
};

struct GenConfig {
    std::vector<std::string> input_paths;
    std::string input_processor = "default";
    bool mosaic = false;
    // input_processor_params for the input kind (xy_names, bands, time_pattern, resolution).
    nlohmann::json input_params = nlohmann::json::object();

    grid::Box region;
    std::optional<std::pair<size_t, size_t>> size;       // W, H
    std::optional<std::pair<double, double>> resolution; // x, y
    std::string output_crs = "EPSG:4326";
    // nullopt: WGS 84 lat/lon (dims lat, lon); else the projected CRS of output_crs (dims y, x;
    // output_region and output_resolution in its units).
    std::optional<io::CubeCrs> crs;

    std::vector<OutputVariable> variables; // empty = every data variable of the inputs
    std::vector<ProcessedVariable> processed;
    Resampling resampling = Resampling::Nearest;

    std::string output_path;
    size_t chunk_time = 1;
    // 0 = not given: min(512, height) for a new cube, the cube's own otherwise (y/x on a
    // projected output_crs)
    size_t chunk_lat = 0;
    size_t chunk_lon = 0;
    zarr::Compressor compressor;
    std::map<std::string, Packing> packing;             // output variable name -> packing
    nlohmann::json metadata = nlohmann::json::object(); // flattened output_metadata
    // output_metadata.keep_input_attrs: each input's global attributes are recorded with the
    // time steps it makes and shown in the cube's global attribute input_attrs.
    bool keep_input_attrs = false;

    grid::Grid output_grid() const;
    // The effective configuration as YAML (for --print-config).
    std::string to_yaml() const;
};

// The cube's global attribute that holds the inputs' own global attributes (keep_input_attrs):
// {time of the step (ISO 8601): {input file name: {attribute: value}}}.
inline constexpr const char* INPUT_ATTRS = "input_attrs";

// The largest grid gen accepts: pixels along each axis, and pixels per time step.
inline constexpr size_t MAX_OUTPUT_AXIS = 1000000;
inline constexpr double MAX_OUTPUT_PIXELS = 1e11;

// Why name cannot be an output variable name ("" when it can): empty, a cube coordinate (time,
// lat, lon, their bounds, crs; on a projected cube, projected = true, also x, y and their
// bounds), starting with '.', or holding '/', '\' or a control character.
std::string output_name_problem(const std::string& name, bool projected = false);

// When no cube is at `cube` yet, its parent folder must be writable; a missing parent is created
// (not on a dry run). Throws OutputError naming the folder.
void check_output_folder(const std::filesystem::path& cube, bool dry_run);

// What of the config an update of `cube` will not apply, as warning lines (issue: silent config
// drift): variable attributes (an existing cube keeps its own); time steps not passed to this run
// (indices not in `passed`) whose record has another recipe than `recipe` (the cube will mix
// them); and, when `up_to_date`, output_metadata that differs from the cube's global attributes.
std::vector<std::string> config_drift(const GenConfig& c, const CubeState& cube,
                                      const std::string& recipe, const std::set<size_t>& passed,
                                      bool up_to_date);

// The hint of every expression error.
inline std::string expression_hint() {
    return "Fix the expression (the syntax is in docs/config.md, section Expressions)";
}

// Parses and validates; throws ConfigError with file:line:col and the key path.
GenConfig parse_gen_config(const config::Document& doc);

} // namespace baims::cube
