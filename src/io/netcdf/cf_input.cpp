#include "baims/io/cf_input.hpp"

#include "../input_kinds.hpp"
#include "cf_grid_mapping.hpp"
#include "h5_chunks.hpp"
#include "nc_file.hpp"

#include "baims/core/error.hpp"
#include "baims/core/features.hpp"
#include "baims/core/text.hpp"
#include "baims/grid/time.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <mutex>
#include <numeric>
#include <set>
#include <type_traits>
#include <unistd.h>

namespace baims::io {
namespace {

namespace tm = grid::time;

constexpr float NaN = std::numeric_limits<float>::quiet_NaN();
constexpr uint32_t NAN_BITS = 0x7fc00000u; // the canonical quiet NaN

// How to turn one variable's stored values into float32.
struct Decoder {
    int varid = -1;
    nc_type storage = NC_NAT; // the type in the file
    nc_type decoded = NC_NAT; // storage, or its unsigned counterpart with _Unsigned "true"
    // Role of each dimension of the variable.
    enum class Role { time, lat, lon, other };
    std::vector<Role> roles;
    bool has_time = false;
    double scale = 1.0, offset = 0.0;
    std::vector<double> fills; // in packed units (after _Unsigned)
    double vmin = -std::numeric_limits<double>::infinity();
    double vmax = std::numeric_limits<double>::infinity();
    bool has_range = false;
    // Decoded value of every raw value, for 8/16-bit types; built on the first read.
    mutable std::vector<float> lut;
};

// Masking and unpacking in one pass over a slab of the native type T (32/64-bit integers and
// packed floats: the general path). The number of fill values and the range check are template
// parameters, so the loop body has no inner loop and no branch.
template <typename T, size_t NF, bool RANGE>
inline float decode_one(T v, const T* fills, double scale, double offset, double lo, double hi) {
    bool bad = false;
    for (size_t k = 0; k < NF; ++k) {
        bad |= v == fills[k];
    }
    const auto x = static_cast<double>(v);
    if constexpr (RANGE) {
        bad |= (x < lo) | (x > hi);
    }
    // Branch-free select of NaN.
    const auto mask = static_cast<uint32_t>(0) - static_cast<uint32_t>(bad);
    const auto bits = std::bit_cast<uint32_t>(static_cast<float>(x * scale + offset));
    return std::bit_cast<float>((bits & ~mask) | (NAN_BITS & mask));
}

template <typename T, size_t NF, bool RANGE>
void decode_loop(const T* in, size_t n, float* out, const T* fills, const Decoder& d) {
    const double scale = d.scale, offset = d.offset, lo = d.vmin, hi = d.vmax;
    // Blocks of a fixed size (vectorisable at -O2 when the body is); the tail one by one.
    constexpr size_t BLOCK = 16;
    size_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        const T* src = in + i;
        float* dst = out + i;
        for (size_t j = 0; j < BLOCK; ++j) {
            dst[j] = decode_one<T, NF, RANGE>(src[j], fills, scale, offset, lo, hi);
        }
    }
    for (; i < n; ++i) {
        out[i] = decode_one<T, NF, RANGE>(in[i], fills, scale, offset, lo, hi);
    }
}

// Unpacked float32 (the common unpacked case): mask in place, in float, vectorised at -O2 (the
// buffer is not aliased by the fills or bounds, which are passed by value).
template <size_t NF, bool RANGE>
void mask_float_loop(float* data, size_t n, std::array<float, 4> fills, float lo, float hi) {
    auto bad_value = [&](float v) {
        bool bad = false;
        for (size_t k = 0; k < NF; ++k) {
            bad |= v == fills[k];
        }
        if constexpr (RANGE) {
            bad |= (v < lo) | (v > hi);
        }
        return bad;
    };
    constexpr size_t BLOCK = 16;
    size_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        float* block = data + i;
        for (size_t j = 0; j < BLOCK; ++j) {
            const float v = block[j];
            block[j] = bad_value(v) ? NaN : v;
        }
    }
    for (; i < n; ++i) {
        const float v = data[i];
        data[i] = bad_value(v) ? NaN : v;
    }
}

template <bool RANGE>
void mask_float(float* data, size_t n, std::array<float, 4> fills, size_t nf, float lo, float hi) {
    switch (nf) {
    case 0:
        return mask_float_loop<0, RANGE>(data, n, fills, lo, hi);
    case 1:
        return mask_float_loop<1, RANGE>(data, n, fills, lo, hi);
    case 2:
        return mask_float_loop<2, RANGE>(data, n, fills, lo, hi);
    default:
        return mask_float_loop<4, RANGE>(data, n, fills, lo, hi);
    }
}

// The float bounds equivalent to the double ones for float data: v < lo <=> v < lo_f.
float float_lower_bound(double lo) {
    if (lo <= -std::numeric_limits<float>::max()) {
        return lo < -std::numeric_limits<float>::max() ? -std::numeric_limits<float>::infinity()
                                                       : -std::numeric_limits<float>::max();
    }
    if (lo > std::numeric_limits<float>::max()) {
        return std::numeric_limits<float>::infinity();
    }
    auto f = static_cast<float>(lo);
    if (static_cast<double>(f) < lo) {
        f = std::nextafter(f, std::numeric_limits<float>::infinity());
    }
    return f;
}

float float_upper_bound(double hi) {
    return -float_lower_bound(-hi);
}

template <typename T, bool RANGE>
void decode_fills(const T* in, size_t n, float* out, const T* fills, size_t nf, const Decoder& d) {
    switch (nf) {
    case 0:
        return decode_loop<T, 0, RANGE>(in, n, out, fills, d);
    case 1:
        return decode_loop<T, 1, RANGE>(in, n, out, fills, d);
    case 2:
        return decode_loop<T, 2, RANGE>(in, n, out, fills, d);
    case 3:
        return decode_loop<T, 3, RANGE>(in, n, out, fills, d);
    default:
        return decode_loop<T, 4, RANGE>(in, n, out, fills, d);
    }
}

template <typename T> void decode(const void* in, size_t n, float* out, const Decoder& d) {
    // The fill values that can occur in T (NaN never compares equal: NaN decodes to NaN anyway).
    T fills[4] = {};
    size_t nf = 0;
    for (double f : d.fills) {
        if constexpr (std::is_integral_v<T>) {
            if (f != std::floor(f) || f < static_cast<double>(std::numeric_limits<T>::lowest()) ||
                f > static_cast<double>(std::numeric_limits<T>::max())) {
                continue;
            }
        }
        if (nf < 4 && !std::isnan(f)) {
            fills[nf++] = static_cast<T>(f);
        }
    }
    const auto* typed = static_cast<const T*>(in);
    if constexpr (std::is_same_v<T, float>) {
        if (d.scale == 1.0 && d.offset == 0.0 && typed == out) {
            std::array<float, 4> f = {fills[0], fills[1], fills[2], fills[3]};
            if (d.has_range) {
                mask_float<true>(out, n, f, nf, float_lower_bound(d.vmin),
                                 float_upper_bound(d.vmax));
            } else {
                mask_float<false>(out, n, f, nf, 0.0f, 0.0f);
            }
            return;
        }
    }
    if constexpr (std::is_integral_v<T> && sizeof(T) <= 2) {
        // 8/16-bit data (most packed EO data): decode every possible value once into a table
        // (same arithmetic), then each pixel is one lookup.
        using U = std::make_unsigned_t<T>;
        if (d.lut.empty()) {
            constexpr size_t SIZE = size_t{1} << (8 * sizeof(T));
            d.lut.resize(SIZE);
            for (size_t k = 0; k < SIZE; ++k) {
                const auto v = static_cast<T>(static_cast<U>(k));
                bool bad = false;
                for (size_t f = 0; f < nf; ++f) {
                    bad = bad || v == fills[f];
                }
                const auto x = static_cast<double>(v);
                bad = bad || (d.has_range && (x < d.vmin || x > d.vmax));
                d.lut[k] = bad ? NaN : static_cast<float>(x * d.scale + d.offset);
            }
        }
        const float* lut = d.lut.data();
        for (size_t i = 0; i < n; ++i) {
            out[i] = lut[static_cast<U>(typed[i])];
        }
    } else if (d.has_range) {
        decode_fills<T, true>(typed, n, out, fills, nf, d);
    } else {
        decode_fills<T, false>(typed, n, out, fills, nf, d);
    }
}

// Calls f(T{}) with the C type T that holds a value of the numeric netCDF type `type`; throws
// InternalError "<what>: unsupported type ..." for another type (char, string).
template <typename F> void with_c_type(nc_type type, const char* what, F&& f) {
    switch (type) {
    case NC_BYTE:
        return f(int8_t{});
    case NC_UBYTE:
        return f(uint8_t{});
    case NC_SHORT:
        return f(int16_t{});
    case NC_USHORT:
        return f(uint16_t{});
    case NC_INT:
        return f(int32_t{});
    case NC_UINT:
        return f(uint32_t{});
    case NC_INT64:
        return f(int64_t{});
    case NC_UINT64:
        return f(uint64_t{});
    case NC_FLOAT:
        return f(float{});
    case NC_DOUBLE:
        return f(double{});
    default:
        throw InternalError(std::string(what) + ": unsupported type " + nc::type_name(type));
    }
}

void decode_any(nc_type type, const void* in, size_t n, float* out, const Decoder& d) {
    with_c_type(type, "decode", [&](auto t) { decode<decltype(t)>(in, n, out, d); });
}

double default_fill(nc_type type) {
    switch (type) {
    case NC_SHORT:
        return NC_FILL_SHORT;
    case NC_USHORT:
        return NC_FILL_USHORT;
    case NC_INT:
        return NC_FILL_INT;
    case NC_UINT:
        return NC_FILL_UINT;
    case NC_INT64:
        return static_cast<double>(NC_FILL_INT64);
    case NC_UINT64:
        return static_cast<double>(NC_FILL_UINT64);
    case NC_FLOAT:
        return static_cast<double>(NC_FILL_FLOAT);
    case NC_DOUBLE:
        return NC_FILL_DOUBLE;
    default:
        return std::nan(""); // byte/ubyte/char: no default fill (as netCDF4-python)
    }
}

// A signed attribute value of a variable with _Unsigned "true", seen as the unsigned type.
double as_unsigned(double v, nc_type storage) {
    if (v >= 0) {
        return v;
    }
    return v + std::ldexp(1.0, static_cast<int>(8 * nc::type_size(storage)));
}

bool is_unsigned_attr(const nc::File& f, int varid) {
    auto u = nc::attr_text(f, varid, "_Unsigned");
    return u && text::to_lower(text::trim(*u)) == "true";
}

std::string lower(std::string_view s) {
    return text::to_lower(s);
}

enum class Axis { none, lat, lon };

Axis axis_of(const nc::File& f, const nc::Var& v) {
    const std::string sn = lower(nc::attr_text(f, v.id, "standard_name").value_or(""));
    if (sn == "latitude") {
        return Axis::lat;
    }
    if (sn == "longitude") {
        return Axis::lon;
    }
    const std::string units = lower(nc::attr_text(f, v.id, "units").value_or(""));
    if (units == "degrees_north" || units == "degree_north" || units == "degrees_n" ||
        units == "degree_n" || units == "degreesn" || units == "degreen") {
        return Axis::lat;
    }
    if (units == "degrees_east" || units == "degree_east" || units == "degrees_e" ||
        units == "degree_e" || units == "degreese" || units == "degreee") {
        return Axis::lon;
    }
    const std::string name = lower(v.name);
    if (name == "lat" || name == "latitude") {
        return Axis::lat;
    }
    if (name == "lon" || name == "longitude") {
        return Axis::lon;
    }
    return Axis::none;
}

// Packing and encoding attributes are not carried into the cube.
bool is_encoding_attr(const std::string& name) {
    static const std::set<std::string> DROP{"scale_factor", "add_offset",   "missing_value",
                                            "coordinates",  "grid_mapping", "bounds",
                                            "valid_min",    "valid_max",    "valid_range"};
    return name.empty() || name[0] == '_' || DROP.count(name) > 0;
}

} // namespace

struct CfInput::Impl {
    explicit Impl(nc::File f)
        : file(std::move(f)) {}

    nc::File file;
    std::vector<nc::Dim> dims;
    std::vector<nc::Var> all_vars;
    std::vector<double> lat, lon; // the row and column axes as stored
    Geometry geometry;
    int lat_dim = -1, lon_dim = -1, time_dim = -1;
    std::vector<TimeStep> steps;
    tm::Calendar calendar = tm::Calendar::Gregorian;
    std::vector<VarInfo> vars;
    std::vector<Decoder> decoders;
    mutable std::vector<unsigned char> scratch;

    const std::filesystem::path& path() const { return file.path(); }
    [[noreturn]] void input_error(const std::string& what, const std::string& hint = {}) const {
        throw InputError(nc::prefix(path()) + ": " + what, hint);
    }
    std::string dim_list(const nc::Var& v) const {
        std::vector<std::string> names;
        for (int d : v.dims) {
            names.push_back(dims[static_cast<size_t>(d)].name);
        }
        return "(" + text::join(names, ",") + ")";
    }

    std::set<std::string> bounds_names() const;
    void find_lat_lon();
    // A grid of 1-D x/y coordinates with a CF grid mapping: sets lat/lon (to y/x in the CRS's
    // units), their dimensions and `projected`. False when the file has no grid mapping or no
    // x/y coordinates; throws InputError for a grid mapping that cannot be used.
    bool find_projected();
    std::optional<nc::GridMapping> projected;
    std::vector<double> read_coordinate(const nc::Var& v) const;
    void find_time();
    // The time range of the global attributes (time_coverage_start/end, ...), in `calendar`.
    // strict (they are the only time): an attribute that is not a time is an InputError naming
    // it and its value; otherwise it is ignored.
    std::vector<TimeStep> coverage_steps(bool strict) const;
    void find_variables();
    // The index of `var` in vars; throws InputError for an unknown name, InternalError for a
    // step out of range.
    size_t index_of(const std::string& var, size_t step) const;
    // The netCDF start/count of one step of a variable.
    void selection(const Decoder& d, size_t step, std::vector<size_t>& start,
                   std::vector<size_t>& count) const;
};

std::set<std::string> CfInput::Impl::bounds_names() const {
    std::set<std::string> out;
    for (const auto& v : all_vars) {
        if (auto b = nc::attr_text(file, v.id, "bounds")) {
            out.insert(text::trim(*b));
        }
    }
    return out;
}

std::vector<double> CfInput::Impl::read_coordinate(const nc::Var& v) const {
    size_t n = 1;
    for (int d : v.dims) {
        n *= dims[static_cast<size_t>(d)].len;
    }
    std::vector<double> out(n);
    if (n > 0) {
        file.check(nc_get_var_double(file.id(), v.id, out.data()), "reading '" + v.name + "'");
    }
    const auto scale = nc::attr_numbers(file, v.id, "scale_factor");
    const auto offset = nc::attr_numbers(file, v.id, "add_offset");
    if ((scale && scale->size() == 1) || (offset && offset->size() == 1)) {
        const double s = scale && scale->size() == 1 ? (*scale)[0] : 1.0;
        const double o = offset && offset->size() == 1 ? (*offset)[0] : 0.0;
        for (auto& x : out) {
            x = x * s + o;
        }
    }
    return out;
}

void CfInput::Impl::find_lat_lon() {
    const auto bounds = bounds_names();
    const nc::Var* lat_var = nullptr;
    const nc::Var* lon_var = nullptr;
    std::vector<std::string> multi_dim;
    auto better = [&](const nc::Var* current, const nc::Var& candidate) {
        // Prefer a coordinate variable (dimension named like the variable).
        if (!current) {
            return true;
        }
        const bool cur_coord = dims[static_cast<size_t>(current->dims[0])].name == current->name;
        const bool cand_coord = dims[static_cast<size_t>(candidate.dims[0])].name == candidate.name;
        return cand_coord && !cur_coord;
    };
    for (const auto& v : all_vars) {
        if (bounds.count(v.name) > 0) {
            continue;
        }
        const Axis axis = axis_of(file, v);
        if (axis == Axis::none) {
            continue;
        }
        if (v.dims.size() != 1) {
            const std::string desc = std::to_string(v.dims.size()) + "-D " + v.name + dim_list(v);
            if (axis == Axis::lat) {
                multi_dim.insert(multi_dim.begin(), desc); // name the latitude first
            } else {
                multi_dim.push_back(desc);
            }
            continue;
        }
        if (axis == Axis::lat && better(lat_var, v)) {
            lat_var = &v;
        } else if (axis == Axis::lon && better(lon_var, v)) {
            lon_var = &v;
        }
    }
    if ((!lat_var || !lon_var) && find_projected()) {
        return;
    }
    if (!lat_var || !lon_var) {
        if (!multi_dim.empty()) {
            input_error("has " + multi_dim.front() +
                            ": the default input processor reads 1-D lat/lon or projected x/y "
                            "grids",
                        "Set input_processor_name: curvilinear to read 2-D lat/lon swaths");
        }
        // Name what the file has instead.
        std::vector<std::string> dim_desc;
        for (const auto& d : dims) {
            dim_desc.push_back(d.name + "(" + std::to_string(d.len) + ")");
        }
        std::vector<std::string> coord_desc;
        std::vector<std::string> mappings;
        for (const auto& v : all_vars) {
            if (v.dims.size() == 1 && dims[static_cast<size_t>(v.dims[0])].name == v.name) {
                auto sn = nc::attr_text(file, v.id, "standard_name");
                coord_desc.push_back(v.name + (sn ? " (" + *sn + ")" : ""));
            }
            if (auto gm = nc::attr_text(file, v.id, "grid_mapping")) {
                if (std::find(mappings.begin(), mappings.end(), *gm) == mappings.end()) {
                    mappings.push_back(*gm);
                }
            }
        }
        std::string what = std::string("no 1-D ") + (lat_var ? "longitude" : "latitude") +
                           " coordinate (dimensions: " + text::join(dim_desc, ", ");
        if (!coord_desc.empty()) {
            what += "; coordinate variables: " + text::join(coord_desc, ", ");
        }
        if (!mappings.empty()) {
            what += "; grid mapping: " + text::join(mappings, ", ");
        }
        what += ")";
        input_error(what, mappings.empty()
                              ? "this reader needs 1-D lat/lon coordinates named by standard_name, "
                                "units (degrees_north/east) or name"
                              : "this reader needs 1-D lat/lon, or 1-D x/y coordinates "
                                "(standard_name projection_x/y_coordinate or grid_longitude/"
                                "latitude) with a grid mapping");
    }
    lat_dim = lat_var->dims[0];
    lon_dim = lon_var->dims[0];
    if (lat_dim == lon_dim) {
        input_error("'" + lat_var->name + "' and '" + lon_var->name +
                        "' share one dimension: a list of points, not a grid",
                    "this reader needs a regular lat/lon grid");
    }
    lat = read_coordinate(*lat_var);
    lon = read_coordinate(*lon_var);
    auto check_axis = [&](const std::vector<double>& values, const nc::Var& v) {
        if (values.empty()) {
            input_error("'" + v.name + "' is empty");
        }
        for (size_t i = 0; i < values.size(); ++i) {
            if (!std::isfinite(values[i])) {
                input_error("'" + v.name + "' has a missing value at index " + std::to_string(i));
            }
        }
        const bool ascending = values.size() < 2 || values[1] > values[0];
        for (size_t i = 1; i < values.size(); ++i) {
            if (ascending ? !(values[i] > values[i - 1]) : !(values[i] < values[i - 1])) {
                input_error("'" + v.name + "' is not monotonic (index " + std::to_string(i) + ")",
                            "this reader needs a regular lat/lon grid");
            }
        }
    };
    check_axis(lat, *lat_var);
    check_axis(lon, *lon_var);
}

bool CfInput::Impl::find_projected() {
    // The grid mapping named by the variables (CF 1.7's "crs: x y" form: its first name).
    std::string gm_name, named_by;
    for (const auto& v : all_vars) {
        if (auto gm = nc::attr_text(file, v.id, "grid_mapping"); gm && gm_name.empty()) {
            auto name = text::trim(*gm);
            name = text::trim(name.substr(0, name.find_first_of(": ")));
            if (!name.empty()) {
                gm_name = name;
                named_by = v.name;
            }
        }
    }
    if (gm_name.empty()) {
        return false;
    }
    // The x and y coordinate variables.
    const nc::Var* x_var = nullptr;
    const nc::Var* y_var = nullptr;
    for (const auto& v : all_vars) {
        if (v.dims.size() != 1 || dims[static_cast<size_t>(v.dims[0])].name != v.name) {
            continue;
        }
        const std::string sn = lower(nc::attr_text(file, v.id, "standard_name").value_or(""));
        const std::string axis = lower(nc::attr_text(file, v.id, "axis").value_or(""));
        if (sn == "projection_x_coordinate" || sn == "grid_longitude" ||
            (sn.empty() && axis == "x")) {
            x_var = x_var ? x_var : &v;
        } else if (sn == "projection_y_coordinate" || sn == "grid_latitude" ||
                   (sn.empty() && axis == "y")) {
            y_var = y_var ? y_var : &v;
        }
    }
    if (!x_var || !y_var) {
        return false;
    }
    const nc::Var* gm_var = nullptr;
    for (const auto& v : all_vars) {
        if (v.name == gm_name) {
            gm_var = &v;
        }
    }
    if (!gm_var) {
        input_error("variable '" + named_by + "' names the grid mapping '" + gm_name +
                        "', which is not in the file",
                    "Add the grid mapping variable or fix the grid_mapping attribute");
    }
    auto gm = nc::grid_mapping_crs(file, *gm_var);
    // Axis units to the CRS's units (metres; degrees for a rotated pole).
    auto factor_of = [&](const nc::Var& v) {
        const std::string u = lower(text::trim(nc::attr_text(file, v.id, "units").value_or("")));
        if (gm.rotated) {
            if (u.empty() || u.starts_with("degree")) {
                return 1.0;
            }
        } else if (u.empty() || u == "m" || u == "metre" || u == "metres" || u == "meter" ||
                   u == "meters") {
            return 1.0;
        } else if (u == "km" || u == "kilometre" || u == "kilometres" || u == "kilometer" ||
                   u == "kilometers") {
            return 1000.0;
        }
        input_error("coordinate '" + v.name + "' has units '" + u + "'",
                    gm.rotated ? "Rotated-pole coordinates need units of degrees"
                               : "Projected coordinates need units of m or km");
    };
    const double fx = factor_of(*x_var), fy = factor_of(*y_var);
    lon_dim = x_var->dims[0];
    lat_dim = y_var->dims[0];
    if (lat_dim == lon_dim) {
        input_error("'" + x_var->name + "' and '" + y_var->name + "' share one dimension");
    }
    lon = read_coordinate(*x_var);
    lat = read_coordinate(*y_var);
    for (auto& x : lon) {
        x *= fx;
    }
    for (auto& y : lat) {
        y *= fy;
    }
    for (const auto* v : {x_var, y_var}) {
        const auto& values = v == x_var ? lon : lat;
        if (values.empty()) {
            input_error("'" + v->name + "' is empty");
        }
        const bool ascending = values.size() < 2 || values[1] > values[0];
        for (size_t i = 0; i < values.size(); ++i) {
            if (!std::isfinite(values[i])) {
                input_error("'" + v->name + "' has a missing value at index " + std::to_string(i));
            }
            if (i > 0 &&
                (ascending ? !(values[i] > values[i - 1]) : !(values[i] < values[i - 1]))) {
                input_error("'" + v->name + "' is not monotonic (index " + std::to_string(i) + ")");
            }
        }
    }
    projected = std::move(gm);
    return true;
}

std::vector<TimeStep> CfInput::Impl::coverage_steps(bool strict) const {
    static const std::pair<const char*, const char*> PAIRS[] = {
        {"time_coverage_start", "time_coverage_end"},
        {"start_date", "stop_date"},
        {"start_time", "stop_time"},
        {"start_date", "end_date"},
        {"start_time", "end_time"},
    };
    const std::string hint = "write it as ISO 8601, for example 2017-06-05T12:00:00Z, or add a CF "
                             "time coordinate to the file";
    std::string unparsable; // the first start attribute that is not a time
    for (const auto& [start_name, end_name] : PAIRS) {
        auto start_text = nc::attr_text(file, NC_GLOBAL, start_name);
        if (!start_text) {
            continue;
        }
        auto start = tm::parse_time(*start_text, calendar);
        if (!start) {
            spdlog::debug("{}: global attribute {} = '{}' is not a time", path().string(),
                          start_name, *start_text);
            if (unparsable.empty()) {
                unparsable = std::string(start_name) + " = '" + *start_text + "'";
            }
            continue;
        }
        TimeStep step;
        const double s = tm::round_to_ms(*start);
        step.time = s;
        if (auto end_text = nc::attr_text(file, NC_GLOBAL, end_name)) {
            auto end = tm::parse_time(*end_text, calendar);
            if (!end && strict) {
                input_error(std::string("global attribute ") + end_name + " = '" + *end_text +
                                "' is not a time",
                            hint);
            }
            if (end) {
                const double e = tm::round_to_ms(*end);
                if (e < s) {
                    input_error(std::string("global attribute ") + end_name + " (" + *end_text +
                                ") is before " + start_name + " (" + *start_text + ")");
                }
                if (e > s) {
                    step.time = tm::round_to_ms(s + (e - s) / 2);
                    step.start = s;
                    step.end = e;
                }
            }
        }
        return {step};
    }
    if (strict && !unparsable.empty()) {
        input_error("no time: no time coordinate, and global attribute " + unparsable +
                        " is not a time",
                    hint);
    }
    return {};
}

void CfInput::Impl::find_time() {
    // The time coordinate: named time, standard_name time or axis T, with CF units.
    const nc::Var* time_var = nullptr;
    int best = 0;
    for (const auto& v : all_vars) {
        if (v.dims.size() > 1) {
            continue;
        }
        const auto units = nc::attr_text(file, v.id, "units");
        if (!units || lower(*units).find(" since ") == std::string::npos) {
            continue;
        }
        int score = 0;
        if (lower(nc::attr_text(file, v.id, "standard_name").value_or("")) == "time") {
            score += 4;
        }
        if (lower(v.name) == "time") {
            score += 2;
        }
        if (lower(nc::attr_text(file, v.id, "axis").value_or("")) == "t") {
            score += 1;
        }
        if (!v.dims.empty() && dims[static_cast<size_t>(v.dims[0])].name == v.name) {
            score += 8; // a real coordinate variable
        }
        if (score > best) {
            best = score;
            time_var = &v;
        }
    }
    if (!time_var) {
        steps = coverage_steps(true);
        if (steps.empty()) {
            input_error("no time: no time coordinate and none of the global attributes "
                        "time_coverage_start/end, start_date/stop_date, start_time/stop_time",
                        "add a CF time coordinate or a time_coverage_start attribute to the file");
        }
        return;
    }
    const std::string units = *nc::attr_text(file, time_var->id, "units");
    const std::string calendar_name = nc::attr_text(file, time_var->id, "calendar").value_or("");
    tm::CfTimeUnits conv;
    try {
        conv = tm::parse_cf_units(units, calendar_name);
    } catch (const Error& e) {
        e.rethrow_with_context(nc::prefix(path()) + ": time coordinate '" + time_var->name + "'");
    }
    calendar = conv.calendar;
    const std::vector<double> values = read_coordinate(*time_var);
    if (values.empty()) {
        input_error("time coordinate '" + time_var->name + "' is empty (no time steps)");
    }
    if (!time_var->dims.empty()) {
        time_dim = time_var->dims[0];
    }
    // Bounds: the bounds attribute of time, else a variable named time_bnds/time_bounds.
    const nc::Var* bnds_var = nullptr;
    std::vector<std::string> bnds_names;
    if (auto b = nc::attr_text(file, time_var->id, "bounds")) {
        bnds_names.push_back(text::trim(*b));
    }
    bnds_names.insert(bnds_names.end(), {time_var->name + "_bnds", time_var->name + "_bounds",
                                         "time_bnds", "time_bounds"});
    for (const auto& name : bnds_names) {
        for (const auto& v : all_vars) {
            if (!bnds_var && v.name == name && !v.dims.empty() &&
                dims[static_cast<size_t>(v.dims.back())].len == 2 &&
                (v.dims.size() == 1 ? values.size() == 1
                                    : v.dims.size() == 2 && v.dims[0] == time_dim)) {
                bnds_var = &v;
            }
        }
    }
    std::vector<double> bnds;
    tm::CfTimeUnits bnds_conv = conv;
    if (bnds_var) {
        bnds = read_coordinate(*bnds_var);
        if (auto bu = nc::attr_text(file, bnds_var->id, "units")) {
            try {
                bnds_conv = tm::parse_cf_units(*bu, calendar_name);
            } catch (const Error& e) {
                e.rethrow_with_context(nc::prefix(path()) + ": time bounds '" + bnds_var->name +
                                       "'");
            }
        }
    }
    steps.clear();
    for (size_t i = 0; i < values.size(); ++i) {
        if (!std::isfinite(values[i])) {
            input_error("time coordinate '" + time_var->name + "' has a missing value at index " +
                        std::to_string(i));
        }
        TimeStep step;
        step.time = tm::round_to_ms(conv.to_days(values[i]));
        if (bnds_var && std::isfinite(bnds[2 * i]) && std::isfinite(bnds[2 * i + 1])) {
            double a = tm::round_to_ms(bnds_conv.to_days(bnds[2 * i]));
            double b = tm::round_to_ms(bnds_conv.to_days(bnds[2 * i + 1]));
            if (b < a) {
                std::swap(a, b);
            }
            step.start = a;
            step.end = b;
            step.time = tm::round_to_ms(a + (b - a) / 2); // the middle of the range
        }
        steps.push_back(step);
    }
    // One step without bounds: coverage attributes that enclose it are its bounds (OSTIA).
    if (steps.size() == 1 && !steps[0].start) {
        auto coverage = coverage_steps(false);
        if (!coverage.empty() && coverage[0].start && *coverage[0].start <= steps[0].time &&
            steps[0].time <= *coverage[0].end) {
            steps[0].start = coverage[0].start;
            steps[0].end = coverage[0].end;
        }
    }
}

void CfInput::Impl::find_variables() {
    const auto bounds = bounds_names();
    for (const auto& v : all_vars) {
        if (v.dims.size() < 2 || bounds.count(v.name) > 0 || v.type == NC_CHAR ||
            v.type == NC_STRING || nc::type_size(v.type) == 0) {
            continue;
        }
        if (projected && axis_of(file, v) != Axis::none) {
            continue; // 2-D lat(y,x)/lon(y,x) beside a grid mapping: coordinates, not data
        }
        if (v.dims[v.dims.size() - 2] != lat_dim || v.dims.back() != lon_dim) {
            if (std::find(v.dims.begin(), v.dims.end(), lat_dim) != v.dims.end()) {
                spdlog::debug("{}: skipping '{}{}': lat and lon must be its last dimensions",
                              path().string(), v.name, dim_list(v));
            }
            continue;
        }
        Decoder d;
        d.varid = v.id;
        d.storage = v.type;
        bool ok = true;
        for (size_t i = 0; i < v.dims.size(); ++i) {
            const int dim = v.dims[i];
            if (i + 2 == v.dims.size()) {
                d.roles.push_back(Decoder::Role::lat);
            } else if (i + 1 == v.dims.size()) {
                d.roles.push_back(Decoder::Role::lon);
            } else if (dim == time_dim && !d.has_time) {
                d.roles.push_back(Decoder::Role::time);
                d.has_time = true;
            } else if (dims[static_cast<size_t>(dim)].len == 1) {
                d.roles.push_back(Decoder::Role::other);
            } else {
                ok = false;
            }
        }
        if (!ok) {
            spdlog::debug("{}: skipping '{}{}': extra dimensions must have size 1", path().string(),
                          v.name, dim_list(v));
            continue;
        }
        const bool is_unsigned = nc::is_integer_type(v.type) && is_unsigned_attr(file, v.id);
        d.decoded = is_unsigned ? nc::unsigned_type(v.type) : v.type;
        auto one = [&](const char* name) -> std::optional<double> {
            auto values = nc::attr_numbers(file, v.id, name);
            if (values && values->size() == 1) {
                return (*values)[0];
            }
            return std::nullopt;
        };
        auto packed_value = [&](double x) { return is_unsigned ? as_unsigned(x, v.type) : x; };
        const auto scale = one("scale_factor");
        const auto offset = one("add_offset");
        const bool packed = scale.has_value() || offset.has_value();
        d.scale = scale.value_or(1.0);
        d.offset = offset.value_or(0.0);
        const bool integer = nc::is_integer_type(v.type) && !packed;

        if (auto fill = nc::attr_numbers(file, v.id, "_FillValue"); fill && !fill->empty()) {
            d.fills.push_back(packed_value((*fill)[0]));
        } else if (!integer) {
            int no_fill = 0;
            if (nc_inq_var_fill(file.id(), v.id, &no_fill, nullptr) == NC_NOERR && !no_fill &&
                !std::isnan(default_fill(d.decoded))) {
                d.fills.push_back(default_fill(d.decoded));
            }
        }
        if (auto missing = nc::attr_numbers(file, v.id, "missing_value")) {
            for (double m : *missing) {
                if (std::find(d.fills.begin(), d.fills.end(), packed_value(m)) == d.fills.end()) {
                    d.fills.push_back(packed_value(m));
                }
            }
        }
        auto range = nc::attr_numbers(file, v.id, "valid_range");
        const auto vmin = one("valid_min");
        const auto vmax = one("valid_max");
        if (range && range->size() == 2) {
            d.vmin = packed_value((*range)[0]);
            d.vmax = packed_value((*range)[1]);
            d.has_range = true;
        } else {
            if (vmin) {
                d.vmin = packed_value(*vmin);
                d.has_range = true;
            }
            if (vmax) {
                d.vmax = packed_value(*vmax);
                d.has_range = true;
            }
        }

        VarInfo info;
        info.name = v.name;
        info.nc_type = nc::type_name(d.decoded);
        info.integer = integer;
        for (const auto& name : nc::attr_names(file, v.id)) {
            if (!is_encoding_attr(name)) {
                info.attrs[name] = nc::attr_json(file, v.id, name);
            }
        }
        // Valid range: as stored when the stored values are the physical ones, else converted
        // (packed: to physical units; _Unsigned: to the unsigned values).
        if (!packed && !is_unsigned) {
            for (const char* name : {"valid_range", "valid_min", "valid_max"}) {
                if (nc::has_attr(file, v.id, name)) {
                    info.attrs[name] = nc::attr_json(file, v.id, name);
                }
            }
        } else {
            auto to_physical = [&](double x) { return x * d.scale + d.offset; };
            if (range && range->size() == 2) {
                double a = to_physical(d.vmin), b = to_physical(d.vmax);
                if (a > b) {
                    std::swap(a, b);
                }
                info.attrs["valid_range"] = {a, b};
            } else if (vmin && vmax) {
                double a = to_physical(d.vmin), b = to_physical(d.vmax);
                if (a > b) {
                    std::swap(a, b); // a negative scale_factor
                }
                info.attrs["valid_min"] = a;
                info.attrs["valid_max"] = b;
            } else if (vmin) {
                info.attrs[d.scale < 0 ? "valid_max" : "valid_min"] = to_physical(d.vmin);
            } else if (vmax) {
                info.attrs[d.scale < 0 ? "valid_min" : "valid_max"] = to_physical(d.vmax);
            }
        }
        if (is_unsigned) {
            // flag_masks/flag_values of an _Unsigned variable are meant unsigned as well.
            for (const char* name : {"flag_masks", "flag_values"}) {
                if (auto values = nc::attr_numbers(file, v.id, name);
                    values && nc::is_integer_type(nc::attr_type(file, v.id, name))) {
                    nlohmann::json arr = nlohmann::json::array();
                    for (double x : *values) {
                        arr.push_back(static_cast<unsigned long long>(as_unsigned(x, v.type)));
                    }
                    info.attrs[name] = arr.size() == 1 ? arr[0] : arr;
                }
            }
        }
        vars.push_back(std::move(info));
        decoders.push_back(std::move(d));
    }
}

CfInput::CfInput(std::unique_ptr<Impl> impl)
    : m_impl(std::move(impl)) {}
CfInput::CfInput(CfInput&&) noexcept = default;
CfInput& CfInput::operator=(CfInput&&) noexcept = default;
CfInput::~CfInput() = default;

CfInput CfInput::open(const std::filesystem::path& path) {
    auto impl = std::make_unique<Impl>(nc::File::open(path));
    nc::check_classic_size(impl->file);
    impl->dims = nc::dims(impl->file);
    impl->all_vars = nc::vars(impl->file);
    impl->find_lat_lon();
    impl->find_time();
    impl->find_variables();
    if (impl->projected) {
        // PROJ accepts the CRS. Building a transformation costs ~10 ms (PROJ's database), and gen
        // opens every input twice (scan, read): each distinct CRS is checked once per process.
        static std::mutex accepted_mutex;
        static std::set<std::string> accepted;
        std::unique_lock lock(accepted_mutex);
        if (!accepted.contains(impl->projected->crs)) {
            lock.unlock();
            try {
                LonLatToCrs check(impl->projected->crs);
            } catch (const Error& e) {
                e.rethrow_with_context(nc::prefix(path) + ": grid mapping " +
                                       impl->projected->name);
            }
            lock.lock();
            accepted.insert(impl->projected->crs);
        }
        lock.unlock();
        impl->geometry =
            ProjectedAxes{impl->lon, impl->lat, impl->projected->crs, impl->projected->name};
    } else {
        impl->geometry = LatLonAxes{impl->lat, impl->lon};
    }
    if (impl->vars.empty()) {
        impl->input_error(std::string("no data variable on the ") +
                              (impl->projected ? "x/y" : "lat/lon") + " grid",
                          "data variables need dimensions (time, lat, lon)");
    }
    return CfInput(std::move(impl));
}

CfInput CfInput::open_on_dims(const std::filesystem::path& path, const std::string& row_dim,
                              const std::string& col_dim, Geometry geometry, bool need_time) {
    auto impl = std::make_unique<Impl>(nc::File::open(path));
    nc::check_classic_size(impl->file);
    impl->dims = nc::dims(impl->file);
    impl->all_vars = nc::vars(impl->file);
    for (size_t d = 0; d < impl->dims.size(); ++d) {
        if (impl->dims[d].name == row_dim) {
            impl->lat_dim = static_cast<int>(d);
        } else if (impl->dims[d].name == col_dim) {
            impl->lon_dim = static_cast<int>(d);
        }
    }
    if (impl->lat_dim < 0 || impl->lon_dim < 0) {
        impl->input_error("no dimensions '" + row_dim + "' and '" + col_dim + "'");
    }
    impl->lat.resize(impl->dims[static_cast<size_t>(impl->lat_dim)].len);
    impl->lon.resize(impl->dims[static_cast<size_t>(impl->lon_dim)].len);
    std::iota(impl->lat.begin(), impl->lat.end(), 0.0);
    std::iota(impl->lon.begin(), impl->lon.end(), 0.0);
    if (need_time) {
        impl->find_time();
    } else {
        try {
            impl->find_time();
        } catch (const InputError&) {
            impl->steps = {TimeStep{}};
        }
    }
    impl->find_variables();
    impl->geometry = std::move(geometry);
    return CfInput(std::move(impl));
}

const std::filesystem::path& CfInput::path() const {
    return m_impl->path();
}
const Geometry& CfInput::geometry() const {
    return m_impl->geometry;
}
const std::vector<double>& CfInput::lat() const {
    return m_impl->lat;
}
const std::vector<double>& CfInput::lon() const {
    return m_impl->lon;
}
const std::vector<TimeStep>& CfInput::steps() const {
    return m_impl->steps;
}
grid::time::Calendar CfInput::calendar() const {
    return m_impl->calendar;
}
const std::vector<VarInfo>& CfInput::variables() const {
    return m_impl->vars;
}

size_t CfInput::Impl::index_of(const std::string& var, size_t step) const {
    size_t index = vars.size();
    for (size_t i = 0; i < vars.size(); ++i) {
        if (vars[i].name == var) {
            index = i;
        }
    }
    if (index == vars.size()) {
        std::vector<std::string> names;
        for (const auto& v : vars) {
            names.push_back(v.name);
        }
        const std::string guess = text::did_you_mean(var, names);
        input_error("no data variable '" + var + "'" +
                        (guess.empty() ? "" : " (did you mean '" + guess + "'?)"),
                    "variables on the lat/lon grid: " + text::join(names, ", "));
    }
    if (step >= steps.size()) {
        throw InternalError(nc::prefix(path()) + ": step " + std::to_string(step) +
                            " out of range (" + std::to_string(steps.size()) + " steps)");
    }
    return index;
}

void CfInput::Impl::selection(const Decoder& d, size_t step, std::vector<size_t>& start,
                              std::vector<size_t>& count) const {
    start.assign(d.roles.size(), 0);
    count.assign(d.roles.size(), 1);
    for (size_t i = 0; i < d.roles.size(); ++i) {
        switch (d.roles[i]) {
        case Decoder::Role::time:
            start[i] = step;
            break;
        case Decoder::Role::lat:
            count[i] = lat.size();
            break;
        case Decoder::Role::lon:
            count[i] = lon.size();
            break;
        case Decoder::Role::other:
            break;
        }
    }
}

void CfInput::read(const std::string& var, size_t step, float* out) const {
    const Impl& m = *m_impl;
    const Decoder& d = m.decoders[m.index_of(var, step)];
    std::vector<size_t> start, count;
    m.selection(d, step, start, count);
    const size_t n = m.lat.size() * m.lon.size();
    // float32 is read straight into out and decoded in place; other types through a buffer.
    void* buffer = out;
    if (d.storage != NC_FLOAT) {
        m.scratch.resize(n * nc::type_size(d.storage));
        buffer = m.scratch.data();
    }
    m.file.check(nc_get_vara(m.file.id(), d.varid, start.data(), count.data(), buffer),
                 "reading '" + var + "' step " + std::to_string(step));
    decode_any(d.decoded, buffer, n, out, d);
}

namespace {

// Stored values of type T to double, masked as decode() does (fill values in T, valid range);
// exact for every integer of up to 53 bits.
template <typename T> void decode_exact(const void* in, size_t n, double* out, const Decoder& d) {
    const auto* typed = static_cast<const T*>(in);
    for (size_t i = 0; i < n; ++i) {
        const auto x = static_cast<double>(typed[i]);
        bool bad = std::isnan(x) || (d.has_range && (x < d.vmin || x > d.vmax));
        for (double f : d.fills) {
            bad = bad || x == f;
        }
        out[i] = bad ? std::numeric_limits<double>::quiet_NaN() : x * d.scale + d.offset;
    }
}

void decode_exact_any(nc_type type, const void* in, size_t n, double* out, const Decoder& d) {
    with_c_type(type == NC_CHAR ? NC_UBYTE : type, "decode",
                [&](auto t) { decode_exact<decltype(t)>(in, n, out, d); });
}

} // namespace

namespace {

// A number of a JSON attribute value (nc::attr_json) as a word: integers exactly, in two's
// complement when negative (so a signed attribute of an _Unsigned variable reads as the unsigned
// value); nullopt for a value that is not a number.
std::optional<uint64_t> json_word(const nlohmann::json& j) {
    if (j.is_number_unsigned()) {
        return j.get<uint64_t>();
    }
    if (j.is_number_integer()) {
        return static_cast<uint64_t>(j.get<int64_t>());
    }
    if (j.is_number_float() && std::abs(j.get<double>()) < 9.2e18) {
        return static_cast<uint64_t>(static_cast<int64_t>(j.get<double>()));
    }
    return std::nullopt;
}

std::vector<uint64_t> attr_words(const nc::File& f, int varid, const char* name) {
    std::vector<uint64_t> out;
    if (!nc::has_attr(f, varid, name)) {
        return out;
    }
    const auto j = nc::attr_json(f, varid, name);
    for (const auto& v : j.is_array() ? j : nlohmann::json::array({j})) {
        if (auto w = json_word(v)) {
            out.push_back(*w);
        }
    }
    return out;
}

// Stored integers of type T as words, masked exactly as decode() masks them (fill values,
// missing_value, valid range), compared in T so that 64-bit values compare exactly.
template <typename T, typename W>
void words_of(const void* in, size_t n, W* out, uint8_t* valid,
              const std::vector<uint64_t>& fill_words, std::optional<uint64_t> lo,
              std::optional<uint64_t> hi) {
    const auto* typed = static_cast<const T*>(in);
    std::vector<T> fills;
    for (uint64_t f : fill_words) {
        fills.push_back(static_cast<T>(f));
    }
    const T vmin = lo ? static_cast<T>(*lo) : std::numeric_limits<T>::lowest();
    const T vmax = hi ? static_cast<T>(*hi) : std::numeric_limits<T>::max();
    for (size_t i = 0; i < n; ++i) {
        const T v = typed[i];
        bool bad = v < vmin || v > vmax;
        for (T f : fills) {
            bad = bad || v == f;
        }
        // sign-extended for signed T (the width masks it); W is 32 bits only for T of up to 32
        out[i] = static_cast<W>(static_cast<uint64_t>(v));
        valid[i] = bad ? 0 : 1;
    }
}

} // namespace

void CfInput::read_words(const std::string& var, size_t step, FlagWords& fw,
                         const ForEach& for_each) const {
    read_words_of(var, step, fw, for_each, nullptr);
}

void CfInput::read_words_cells(const std::string& var, size_t step, FlagWords& fw,
                               const ForEach& for_each, const CellSet& cells) const {
    read_words_of(var, step, fw, for_each, &cells);
}

void CfInput::read_words_of(const std::string& var, size_t step, FlagWords& fw,
                            const ForEach& for_each, const CellSet* cells) const {
    const Impl& m = *m_impl;
    const Decoder& d = m.decoders[m.index_of(var, step)];
    std::vector<size_t> start, count;
    m.selection(d, step, start, count);
    const size_t n = m.lat.size() * m.lon.size();
    const bool packed = nc::has_attr(m.file, d.varid, "scale_factor") ||
                        nc::has_attr(m.file, d.varid, "add_offset");
    const bool integers = nc::is_integer_type(d.storage) && d.storage != NC_CHAR && !packed;
    if (cells && !integers) {
        Input::read_words_cells(var, step, fw, for_each, *cells); // the whole array, picked
        return;
    }
    const size_t n_out = cells ? cells->count : n;
    std::vector<unsigned char> buffer;
    const auto read_all = [&] {
        buffer.resize(n * nc::type_size(d.storage));
        m.file.check(nc_get_vara(m.file.id(), d.varid, start.data(), count.data(), buffer.data()),
                     "reading '" + var + "' step " + std::to_string(step));
    };
    if (!integers) {
        // Floating-point or packed values: through double, as read_words() does by default.
        fw.valid.resize(n);
        read_all();
        std::vector<double> x(n);
        decode_exact_any(d.decoded, buffer.data(), n, x.data(), d);
        fw.w32.clear();
        fw.w64.resize(n);
        words_from_values(x.data(), n, fw.w64.data(), fw.valid.data());
        return;
    }
    // Integers of up to 32 bits (an OLCI flag variable) in 32-bit words: half the memory.
    const bool narrow = nc::type_size(d.storage) <= 4;
    fw.valid.resize(n_out);
    if (narrow) {
        fw.w64.clear();
        fw.w32.resize(n_out);
    } else {
        fw.w32.clear();
        fw.w64.resize(n_out);
    }
    uint8_t* valid = fw.valid.data();
    // Integers: the fill values and the valid range as read, in the stored type's words.
    std::vector<uint64_t> fills = attr_words(m.file, d.varid, "_FillValue");
    if (fills.size() > 1) {
        fills.resize(1);
    }
    for (uint64_t w : attr_words(m.file, d.varid, "missing_value")) {
        fills.push_back(w);
    }
    std::optional<uint64_t> lo, hi;
    if (auto range = attr_words(m.file, d.varid, "valid_range"); range.size() == 2) {
        lo = range[0];
        hi = range[1];
    } else {
        if (auto v = attr_words(m.file, d.varid, "valid_min"); v.size() == 1) {
            lo = v[0];
        }
        if (auto v = attr_words(m.file, d.varid, "valid_max"); v.size() == 1) {
            hi = v[0];
        }
    }
    // (the words of `count_` values into the words and validity from pixel `at` on)
    const auto words = [&](const void* src, size_t count_, size_t at) {
        with_c_type(d.decoded, "read_words", [&](auto t) {
            using T = decltype(t);
            if constexpr (std::is_integral_v<T>) {
                if (narrow) {
                    words_of<T>(src, count_, fw.w32.data() + at, valid + at, fills, lo, hi);
                } else {
                    words_of<T>(src, count_, fw.w64.data() + at, valid + at, fills, lo, hi);
                }
            } else {
                throw InternalError("read_words: unsupported type " + nc::type_name(d.decoded));
            }
        });
    };
    // Chunk by chunk on for_each's threads when the layout allows (as read_window: an OLCI flag
    // variable, 80 MB, is inflated by libdeflate on every thread instead of netCDF on one, and
    // no copy of it in its stored type is held), else through netCDF.
    const size_t nlon = m.lon.size();
    if (chunk_rows(var, step, for_each, Window{0, m.lat.size(), 0, nlon},
                   [&](const unsigned char* src, size_t r, size_t ca, size_t cols) {
                       if (!cells) {
                           words(src, cols, r * nlon + ca);
                           return;
                       }
                       // the row part's words in buffers of the thread (in the cache), the
                       // cells of the set picked from there
                       thread_local FlagWords part;
                       part.valid.resize(cols);
                       if (narrow) {
                           part.w32.resize(cols);
                       } else {
                           part.w64.resize(cols);
                       }
                       with_c_type(d.decoded, "read_words", [&](auto t) {
                           using T = decltype(t);
                           if constexpr (std::is_integral_v<T>) {
                               if (narrow) {
                                   words_of<T>(src, cols, part.w32.data(), part.valid.data(), fills,
                                               lo, hi);
                               } else {
                                   words_of<T>(src, cols, part.w64.data(), part.valid.data(), fills,
                                               lo, hi);
                               }
                           }
                       });
                       const size_t first = r * nlon + ca;
                       cells->for_each_in(first, first + cols, [&](size_t i, size_t k) {
                           if (narrow) {
                               fw.w32[k] = part.w32[i - first];
                           } else {
                               fw.w64[k] = part.w64[i - first];
                           }
                           valid[k] = part.valid[i - first];
                       });
                   })) {
        return;
    }
    if (cells) {
        Input::read_words_cells(var, step, fw, for_each, *cells); // through netCDF, picked
        return;
    }
    read_all();
    words(buffer.data(), n, 0);
}

namespace {

// A read-only file descriptor for pread() from several threads.
class ReadFd {
public:
    explicit ReadFd(const std::filesystem::path& path)
        : m_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
    ReadFd(const ReadFd&) = delete;
    ReadFd& operator=(const ReadFd&) = delete;
    ~ReadFd() {
        if (m_fd >= 0) {
            ::close(m_fd);
        }
    }
    int get() const { return m_fd; }

private:
    int m_fd;
};

} // namespace

void CfInput::read(const std::string& var, size_t step, float* out, const ForEach& for_each) const {
    read_window(var, step, out, for_each, Window{0, m_impl->lat.size(), 0, m_impl->lon.size()});
}

namespace {
// A row part of a chunk (stored bytes, inflated and unshuffled) decoded into dst (cols floats).
void decode_row(const Decoder& d, const unsigned char* src, size_t cols, float* dst) {
    if (d.storage == NC_FLOAT) {
        std::memcpy(dst, src, cols * sizeof(float));
        decode_any(d.decoded, dst, cols, dst, d);
    } else {
        decode_any(d.decoded, src, cols, dst, d);
    }
}
} // namespace

void CfInput::read_window(const std::string& var, size_t step, float* out, const ForEach& for_each,
                          const Window& window) const {
    const Impl& m = *m_impl;
    const Decoder& d = m.decoders[m.index_of(var, step)];
    // Decode tables (8/16-bit data) are built here, once, before other threads use them.
    decode_any(d.decoded, nullptr, 0, nullptr, d);
    const size_t nlon = m.lon.size();
    const bool direct = chunk_rows(var, step, for_each, window,
                                   [&](const unsigned char* src, size_t r, size_t ca, size_t cols) {
                                       decode_row(d, src, cols, out + r * nlon + ca);
                                   });
    if (!direct) {
        read(var, step, out);
    }
}

void CfInput::read_cells(const std::string& var, size_t step, float* out, const ForEach& for_each,
                         const CellSet& cells) const {
    const Impl& m = *m_impl;
    const Decoder& d = m.decoders[m.index_of(var, step)];
    decode_any(d.decoded, nullptr, 0, nullptr, d); // the decode tables, before other threads
    const size_t nlon = m.lon.size();
    const bool direct =
        chunk_rows(var, step, for_each, Window{0, m.lat.size(), 0, nlon},
                   [&](const unsigned char* src, size_t r, size_t ca, size_t cols) {
                       // the row part decoded in the thread's buffer (in the cache), its cells
                       // of the set picked from there
                       thread_local std::vector<float> row;
                       row.resize(cols);
                       decode_row(d, src, cols, row.data());
                       const size_t first = r * nlon + ca;
                       cells.for_each_in(first, first + cols,
                                         [&](size_t i, size_t k) { out[k] = row[i - first]; });
                   });
    if (!direct) {
        Input::read_cells(var, step, out, for_each, cells);
    }
}

bool CfInput::chunk_rows(const std::string& var, size_t step, const ForEach& for_each,
                         const Window& window, const ChunkRow& fn) const {
    const Impl& m = *m_impl;
    int format = 0;
    if (nc_inq_format(m.file.id(), &format) != NC_NOERR ||
        (format != NC_FORMAT_NETCDF4 && format != NC_FORMAT_NETCDF4_CLASSIC)) {
        return false;
    }
    const size_t index = m.index_of(var, step);
    const Decoder& d = m.decoders[index];
    std::vector<size_t> start, count;
    m.selection(d, step, start, count);
    std::vector<uint64_t> shape, start64(start.begin(), start.end()),
        count64(count.begin(), count.end());
    for (size_t i = 0; i < d.roles.size(); ++i) {
        shape.push_back(
            m.dims[static_cast<size_t>(m.all_vars[static_cast<size_t>(d.varid)].dims[i])].len);
    }
    const size_t es = nc::type_size(d.storage);
    auto layout = h5::chunk_layout(m.path(), var, shape, es, start64, count64);
    if (!layout) {
        return false;
    }
    auto fd = std::make_shared<ReadFd>(m.path());
    if (fd->get() < 0) {
        return false;
    }
    const size_t rank = shape.size();
    const size_t lat_axis = rank - 2, lon_axis = rank - 1;
    const size_t nlon = m.lon.size();
    size_t chunk_elems = 1;
    for (auto c : layout->chunk) {
        chunk_elems *= c;
    }
    const size_t chunk_bytes = chunk_elems * es;
    const auto& L = *layout;
    const std::string where = nc::prefix(m.path()) + ": variable '" + var + "'";
    // The chunks that meet the window, and each one's rows and columns inside it.
    const size_t wr0 = window.row0, wr1 = std::min(window.row1, m.lat.size());
    const size_t wc0 = window.col0, wc1 = std::min(window.col1, nlon);
    std::vector<size_t> used;
    for (size_t k = 0; k < L.chunks.size(); ++k) {
        const h5::Chunk& c = L.chunks[k];
        const size_t r0 = c.offset[lat_axis], c0 = c.offset[lon_axis];
        if (r0 < wr1 && r0 + L.chunk[lat_axis] > wr0 && c0 < wc1 && c0 + L.chunk[lon_axis] > wc0) {
            used.push_back(k);
        }
    }
    for_each(used.size(), [&, fd](size_t k) {
        const h5::Chunk& c = L.chunks[used[k]];
        const unsigned char* bytes =
            h5::decode_chunk(fd->get(), L, c, chunk_bytes, where, h5::thread_chunk_buffers());
        // Element offset of the selected plane (time step, size-1 dims) inside the chunk.
        size_t plane = 0, stride = 1;
        for (size_t a = rank; a-- > 0;) {
            if (a < lat_axis) {
                plane += (start[a] - c.offset[a]) * stride;
            }
            stride *= L.chunk[a];
        }
        const size_t r0 = c.offset[lat_axis], c0 = c.offset[lon_axis];
        const size_t r1 = std::min<size_t>(r0 + L.chunk[lat_axis], wr1);
        const size_t c1 = std::min<size_t>(c0 + L.chunk[lon_axis], wc1);
        const size_t ra = std::max(r0, wr0), ca = std::max(c0, wc0);
        const size_t cols = c1 - ca;
        for (size_t r = ra; r < r1; ++r) {
            fn(bytes + (plane + (r - r0) * L.chunk[lon_axis] + (ca - c0)) * es, r, ca, cols);
        }
    });
    return true;
}

nlohmann::json CfInput::global_attrs() const {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& name : nc::attr_names(m_impl->file, NC_GLOBAL)) {
        out[name] = nc::attr_json(m_impl->file, NC_GLOBAL, name);
    }
    return out;
}

} // namespace baims::io

namespace baims::io {

std::unique_ptr<Input> open_cf(const std::filesystem::path& path,
                               const nlohmann::json& /*params*/) {
    return std::make_unique<CfInput>(CfInput::open(path));
}

} // namespace baims::io
