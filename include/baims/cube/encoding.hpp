#pragma once
// How a data variable's float32 values are stored in its Zarr chunks: float32 with NaN fill (the
// default), or CF packing into an integer type (`output_writer_params.packing`, or the encoding of
// a cube being extended): stored = round((value - add_offset) / scale_factor), NaN -> _FillValue.

#include "baims/zarr/array_meta.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <limits>
#include <string>

namespace baims::cube {

struct Encoding {
    std::string dtype = "<f4"; // Zarr dtype: <f4, |i1, |u1, <i2, <u2, <i4, <u4
    double scale = 1.0;        // scale_factor
    double offset = 0.0;       // add_offset
    double fill = std::numeric_limits<double>::quiet_NaN(); // stored value of missing data

    size_t itemsize() const;
    // float32 with NaN fill and no scaling: the float buffer is already the chunk.
    bool identity() const;
    // Equal dtype, scale, offset and fill (two NaN fills are equal).
    bool same_as(const Encoding& other) const;
    // "uint16 (scale_factor 0.01, add_offset 273.15, _FillValue 0)" or "float32 (NaN fill)"
    std::string describe() const;
    nlohmann::json to_json() const;
};

// numpy's name ("uint16") -> Zarr dtype ("<u2"); "" if it is not one of the packing types
// int8, uint8, int16, uint16, int32, uint32.
std::string zarr_dtype_of(const std::string& numpy_name);
// The numeric range of an integer Zarr dtype.
std::pair<double, double> dtype_range(const std::string& zarr_dtype);

// The encoding of an existing variable (.zarray dtype and fill_value, scale_factor/add_offset
// attributes). Throws OutputError naming the variable for a dtype baims cannot write.
Encoding encoding_of(const std::string& var, const zarr::ArrayMeta& meta,
                     const nlohmann::json& attrs);

// Sets dtype and fill_value of a new variable and its scale_factor/add_offset attributes;
// valid_min/valid_max/valid_range (physical units) are converted to stored units.
void apply_encoding(const Encoding& e, zarr::ArrayMeta& meta, nlohmann::json& attrs);

// Encodes n float32 values (NaN = missing) into out, which holds n * itemsize() bytes. Values
// round half to even (as numpy) and are clamped to the type's range.
void encode_values(const float* in, size_t n, const Encoding& e, unsigned char* out);

} // namespace baims::cube
