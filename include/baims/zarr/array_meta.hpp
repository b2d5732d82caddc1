#pragma once
// The Zarr v2 array metadata document (.zarray), written exactly as zarr-python 2.13 writes it.

#include "baims/zarr/codec.hpp"
#include "baims/zarr/json.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace baims::zarr {

// The element types baims reads and writes (little-endian or single-byte numpy type strings).
enum class DataKind { Float, Int, UInt, Bool };

struct DType {
    DataKind kind;
    size_t itemsize;
};

// "<f4" → {Float, 4}; "|u1" and "<u1" → {UInt, 1}; "|b1" → {Bool, 1}. Big-endian and other
// types throw InputError naming the dtype.
DType parse_dtype(const std::string& dtype);

struct ArrayMeta {
    std::vector<size_t> shape, chunks;
    std::string dtype = "<f4";
    // "NaN" / "Infinity" / "-Infinity" strings for float non-finite values (as zarr-python writes
    // them), a number, a bool for "|b1", or null (no fill value). A NaN/inf number is accepted too
    // and written as the string; float fills are written as floats (0 → 0.0), float32 fills
    // rounded to float32 first, as numpy does.
    nlohmann::json fill_value;
    Compressor compressor;
    std::string order = "C";         // only "C" is supported
    std::string dimension_separator; // "" = omit the key (default "."), as xcube's cubes do; or "/"

    // Exactly zarr-python 2.13's .zarray: chunks, compressor, dtype, fill_value, filters (null),
    // order, shape, zarr_format (2), and dimension_separator only if set. Throws InternalError if
    // the fields are inconsistent (see validate()).
    nlohmann::json to_json() const;
    // Validates; throws InputError naming the bad field.
    static ArrayMeta from_json(const nlohmann::json& j);
    // Throws InputError if shape/chunks/dtype/fill_value/compressor/order do not fit together.
    void validate() const;

    DType dtype_info() const { return parse_dtype(dtype); }
    size_t itemsize() const { return parse_dtype(dtype).itemsize; }
    size_t ndim() const { return shape.size(); }
    // Number of chunks per dimension (ceil(shape / chunks)).
    std::vector<size_t> chunk_grid() const;
    // Total number of chunks (product of chunk_grid()).
    size_t chunk_count() const;
    // "0.1.2" (or "0/1/2" with dimension_separator "/"); "0" for a 0-d array. Throws
    // InternalError if the index is outside the chunk grid.
    std::string chunk_key(const std::vector<size_t>& chunk_index) const;
    // Elements in a chunk: product of chunks (edge chunks are stored full-size too, as Zarr v2
    // requires).
    size_t chunk_elements() const;
    size_t chunk_bytes() const { return chunk_elements() * itemsize(); }
    // The fill value as a double: NaN for "NaN", 0 for null, false/true as 0/1.
    double fill_as_double() const;
    bool fill_is_nan() const;

    bool operator==(const ArrayMeta& other) const;
};

// Calls f(std::type_identity<T>{}) with the C++ type of the dtype.
template <class F> auto visit_dtype(const DType& t, F&& f) {
    switch (t.kind) {
    case DataKind::Float:
        if (t.itemsize == 4) {
            return f(std::type_identity<float>{});
        }
        return f(std::type_identity<double>{});
    case DataKind::Int:
        switch (t.itemsize) {
        case 1:
            return f(std::type_identity<int8_t>{});
        case 2:
            return f(std::type_identity<int16_t>{});
        case 4:
            return f(std::type_identity<int32_t>{});
        default:
            return f(std::type_identity<int64_t>{});
        }
    case DataKind::UInt:
        switch (t.itemsize) {
        case 1:
            return f(std::type_identity<uint8_t>{});
        case 2:
            return f(std::type_identity<uint16_t>{});
        case 4:
            return f(std::type_identity<uint32_t>{});
        default:
            return f(std::type_identity<uint64_t>{});
        }
    case DataKind::Bool:
        break;
    }
    return f(std::type_identity<uint8_t>{}); // numpy bool: one byte, 0 or 1
}

} // namespace baims::zarr
