#pragma once
// The pieces of `baims gen` share these types (gen.cpp runs them in order):
//   gen_plan     inputs -> time slices -> places in the cube, variables, records (pure)
//   gen_compute  resampling maps, reading a slice, resampling, encoding into chunks
//   gen_write    where chunks go (sinks), creating and updating the cube through its commit
//                protocol (commit.hpp)
//   gen_attrs    the cube's global attributes

#include "baims/core/huge_pages.hpp"
#include "baims/cube/cube_state.hpp"
#include "baims/cube/encoding.hpp"
#include "baims/cube/resample.hpp"
#include "baims/grid/time.hpp"
#include "baims/io/input.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace baims::cube::gen {

constexpr float NaNf = std::numeric_limits<float>::quiet_NaN();
constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
constexpr double ONE_MS_DAYS = 1.0 / 86400000.0;

// A variable of one source as read (npix values; a swath's is ~80 MB): its storage is a big
// block (huge_pages.hpp) where it is that big, so that it can take the one just freed (a swath's
// lat/lon, freed once its map is built) instead of fresh pages the kernel must clear.
using Slab = std::vector<float, BigBlockAllocator<float>>;

// Equal to 1 ms (or both NaN).
inline bool same_time(double a, double b) {
    return (std::isnan(a) && std::isnan(b)) || std::abs(a - b) < ONE_MS_DAYS;
}

// "y.x", the position of a chunk in a slice.
inline std::string chunk_pos(size_t y, size_t x) {
    return std::to_string(y) + "." + std::to_string(x);
}

// What gen keeps of one input after scanning its header (scan_inputs); the input is opened again
// with the same processor and params to read a slice (load_slice).
struct InputInfo {
    std::string path;
    std::string processor = "default";                // input_processor_name
    nlohmann::json params = nlohmann::json::object(); // input_processor_params
    io::Geometry geometry;
    std::vector<io::TimeStep> steps;
    grid::time::Calendar calendar = grid::time::Calendar::Gregorian;
    std::vector<io::VarInfo> vars;
    nlohmann::json identity; // io::Input::identity: name, size, mtime
    // io::Input::global_attrs, read only with keep_input_attrs (null otherwise): recorded with
    // the time steps the input makes (slice_record) and shown in the global attribute input_attrs.
    nlohmann::json attrs;
    mutable std::string crc; // io::file_crc32, computed when first needed
    bool failed = false;
};

struct Source {
    size_t input;
    size_t step;
};

struct Slice {
    double time;
    double start = NaN, end = NaN;
    std::vector<Source> sources; // several only with mosaic: first valid pixel wins
    // placement
    bool replace = false;
    size_t old_index = 0; // for replace
    size_t seq = 0;
};

struct OutVar {
    std::string name;  // in the cube
    std::string input; // in the inputs
    Resampling resampling = Resampling::Nearest;
    DataVar var;
    Encoding enc; // how its float32 values are stored
};

} // namespace baims::cube::gen
