#pragma once
// One interface for every kind of `gen` input (SPEC §2 input_processor_name).
//
// open_input(processor, path, params) opens one input and returns an Input: its source geometry
// (geometry.hpp), time steps and calendar, variables, global attributes and identity. read()
// returns one decoded float32 slab of (variable, step) on that geometry. gen scans every input
// once (header only), then reopens an input on its reading thread for each slice it reads.
//
// Kinds: each is one file of its own under src/io/ (CF NetCDF: netcdf/cf_input.cpp) and one row
// in the table of src/io/input.cpp, which maps the input_processor_name to the kind's open
// function. To add a kind: write `std::unique_ptr<Input> open_<kind>(path, params)` in its own
// file, declare it in src/io/input_kinds.hpp and add its row to the table. If its geometry is a
// new kind as well, add it to geometry.hpp and a mapping for it in cube/resample.
//
// No third-party types here.

#include "baims/grid/time.hpp"
#include "baims/io/geometry.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baims::io {

// Days since 1970-01-01T00:00:00 of the input's calendar (see baims/grid/time.hpp), rounded to
// the millisecond.
struct TimeStep {
    double time = 0.0;
    std::optional<double> start, end; // the step's time bounds, when known
};

struct VarInfo {
    std::string name;
    std::string nc_type;  // "byte","ubyte","char","short","ushort","int","uint","int64","uint64",
                          // "float","double" (after _Unsigned: a short with _Unsigned "true" is
                          // "ushort")
    bool integer = false; // integer storage without scale_factor/add_offset: a flag/class variable
    // The input kind's resampling for this variable when the config sets none for it in
    // output_variables ("mode" for the class variable SCL of Sentinel-2 L2A); empty:
    // output_resampling.
    std::string resampling;
    // All attributes except the packing/encoding ones (scale_factor, add_offset, _FillValue,
    // missing_value, _Unsigned, coordinates, grid_mapping, bounds and every "_…" attribute).
    // valid_min/valid_max/valid_range of a packed variable are converted to physical units.
    nlohmann::json attrs = nlohmann::json::object();
};

// A rectangle of a geometry's array in storage order (geometry.hpp's rows x cols): rows
// [row0, row1), columns [col0, col1). Empty when row0 == row1 or col0 == col1.
struct Window {
    size_t row0 = 0, row1 = 0, col0 = 0, col1 = 0;
    bool empty() const { return row0 >= row1 || col0 >= col1; }
};

// A set of cells of a geometry's array (flat indices row * cols + column, below `size`): the cells
// a resampling map reads (gen reads only those of a swath: Input::read_cells). bits holds bit i
// for cell i; base[w] is the number of cells in the words before word w (size / 64 + 1 entries),
// so that a cell's position among the set's, in flat order, is rank(i).
struct CellSet {
    size_t size = 0;  // the cells of the array
    size_t count = 0; // the cells in the set
    std::vector<uint64_t> bits;
    std::vector<uint32_t> base;
    bool has(size_t i) const { return (bits[i >> 6] >> (i & 63)) & 1u; }
    // The position of cell i among the set's cells (in flat order) when has(i).
    size_t rank(size_t i) const {
        const uint64_t below = bits[i >> 6] & ((uint64_t{1} << (i & 63)) - 1);
        return base[i >> 6] + static_cast<size_t>(__builtin_popcountll(below));
    }
    // fn(i, k) for each cell i of the set in [first, last), k = rank(i), in order.
    template <typename Fn> void for_each_in(size_t first, size_t last, Fn&& fn) const {
        size_t w = first >> 6;
        size_t k = first < last ? rank(first) : 0;
        for (; (w << 6) < last; ++w) {
            uint64_t word = bits[w];
            if ((w << 6) < first) {
                word &= ~uint64_t{0} << (first & 63);
            }
            if (last < (w << 6) + 64) {
                word &= (uint64_t{1} << (last & 63)) - 1;
            }
            while (word) {
                const size_t i = (w << 6) + static_cast<size_t>(__builtin_ctzll(word));
                fn(i, k++);
                word &= word - 1;
            }
        }
    }
};

// The exact flag words of a variable (Input::read_words), one per pixel: in w32 when its stored
// integers fit in 32 bits (integer types of up to 32 bits), else in w64 (the other stays empty);
// valid[i] 0 where the value is missing.
struct FlagWords {
    std::vector<uint32_t> w32;
    std::vector<uint64_t> w64;
    std::vector<uint8_t> valid;
};

// Runs `n` independent tasks task(0) .. task(n - 1), possibly concurrently, and returns when all
// are done (rethrowing the first exception).
using ForEach = std::function<void(size_t n, const std::function<void(size_t)>& task)>;

// One opened input. Not thread-safe: use it from the thread that opened it (a kind may hand
// work to other threads through ForEach).
class Input {
public:
    virtual ~Input() = default;

    virtual const std::filesystem::path& path() const = 0;
    virtual const Geometry& geometry() const = 0;
    // geometry() moved out (no copy of a large one); geometry() may not be used afterwards.
    virtual Geometry take_geometry() { return geometry(); }
    // geometry() without large coordinate arrays, for a scan that needs only its kind and size: a
    // curvilinear input gives its LatLon2D's height and width only (shape_only, geometry.hpp),
    // without reading its 2-D lat/lon; the other kinds a copy of geometry(). gen reads the full
    // geometry again (take_geometry) when it builds that input's resampling map.
    virtual Geometry geometry_shape() const { return geometry(); }
    // A curvilinear input whose lat/lon are stored as integers: a reader of their rows in blocks
    // (geometry.hpp), for a map built without the whole arrays; nullptr otherwise (and by
    // default).
    virtual std::unique_ptr<SwathRows> swath_rows() const { return nullptr; }
    // One per time index (size 1 when the input has no time dimension).
    virtual const std::vector<TimeStep>& steps() const = 0;
    virtual grid::time::Calendar calendar() const = 0;
    // The data variables on geometry(), in file order.
    virtual const std::vector<VarInfo>& variables() const = 0;
    virtual nlohmann::json global_attrs() const = 0;
    // What identifies the input's content in gen's records (.baims-sources.json): by default
    // io::file_identity(path()) (name, size, mtime).
    virtual nlohmann::json identity() const;

    // Decoded float32 of one step: rows(geometry()) * cols(geometry()) values (see geometry.hpp),
    // NaN where there is no valid value. A variable without time reads the same for every step.
    // for_each may run parts of the read on other threads (the CF reader inflates one chunk per
    // task); a kind that cannot may ignore it. Throws InputError for an unknown variable or a
    // read failure, InternalError for a step out of range.
    virtual void read(const std::string& var, size_t step, float* out,
                      const ForEach& for_each) const = 0;
    // read() that needs to set only the values inside `window`: those equal read()'s, the others
    // may be left as they were (a resampling map that uses only the window's cells, gen). By
    // default read(); the CF reader reads and inflates only the chunks that meet the window.
    virtual void read_window(const std::string& var, size_t step, float* out,
                             const ForEach& for_each, const Window& window) const;
    // The same values, read on this thread only (by default: the above with a serial for_each).
    virtual void read(const std::string& var, size_t step, float* out) const;
    // The stored integers of a variable, exact at every width up to 64 bits: the flag words that
    // CF flag tests read (float32 keeps 24 significant bits, double 53). out[i] is the value
    // modulo 2^64 (a negative one in two's complement; after _Unsigned), valid[i] is 0 where
    // read() gives NaN (fill value, missing_value, outside the valid range) and 1 elsewhere. By
    // default from read() (exact for kinds whose values float32 holds, words_from_values); CF
    // NetCDF, curvilinear and GeoTIFF inputs read their integer variables' stored integers.
    // for_each as for read(). The words go to out.w64, or out.w32 where they fit (FlagWords).
    virtual void read_words(const std::string& var, size_t step, FlagWords& out,
                            const ForEach& for_each) const;
    // read() and read_words() of the cells of `cells` only: out[k] (out.w32/w64/valid[k]) is the
    // value of the k-th cell of the set (cells.count values). By default the whole array is read
    // and its cells picked; the CF reader (and so a swath's NetCDF) picks them from each chunk
    // as it is inflated, so that the whole array is never in memory.
    virtual void read_cells(const std::string& var, size_t step, float* out,
                            const ForEach& for_each, const CellSet& cells) const;
    virtual void read_words_cells(const std::string& var, size_t step, FlagWords& out,
                                  const ForEach& for_each, const CellSet& cells) const;

    const VarInfo* find(std::string_view name) const;
};

// Words of decoded values (read_words() of values held in floating point): a whole value is its
// integer modulo 2^64 (a fraction is truncated); NaN and values outside [-2^63, 2^64) are invalid.
void words_from_values(const double* values, size_t n, uint64_t* out, uint8_t* valid);

// Opens `path` with the input processor `processor` ("default" is CF NetCDF) and its
// input_processor_params. Throws InputError naming the file when it cannot be read, ConfigError
// for an unknown processor (with the known names).
std::unique_ptr<Input> open_input(const std::string& processor, const std::filesystem::path& path,
                                  const nlohmann::json& params = nlohmann::json::object());

// The processors open_input() knows, in table order.
std::vector<std::string> input_processor_names();

} // namespace baims::io
