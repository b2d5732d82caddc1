#include "baims/zarr/array_meta.hpp"

#include "baims/core/error.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

namespace baims::zarr {
namespace {

bool is_nonfinite_name(const std::string& s) {
    return s == "NaN" || s == "Infinity" || s == "-Infinity";
}

std::string list_text(const std::vector<size_t>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) {
        out += (i ? "," : "") + std::to_string(v[i]);
    }
    return out + "]";
}

// Why a fill value does not suit the dtype, or "" if it does.
std::string fill_problem(const DType& t, const nlohmann::json& fill) {
    if (fill.is_null()) {
        return {};
    }
    switch (t.kind) {
    case DataKind::Float:
        if (fill.is_string() && is_nonfinite_name(fill.get<std::string>())) {
            return {};
        }
        if (fill.is_number()) {
            return {};
        }
        return "must be a number, \"NaN\", \"Infinity\", \"-Infinity\" or null";
    case DataKind::Bool:
        if (fill.is_boolean()) {
            return {};
        }
        return "must be true, false or null";
    case DataKind::Int:
    case DataKind::UInt: {
        if (!fill.is_number()) {
            return "must be an integer or null";
        }
        if (fill.is_number_float()) {
            double d = fill.get<double>();
            if (!std::isfinite(d) || d != std::floor(d)) {
                return "must be an integer or null";
            }
        }
        const double d = fill.get<double>();
        const double bits = static_cast<double>(t.itemsize * 8);
        const double lo = t.kind == DataKind::Int ? -std::exp2(bits - 1) : 0.0;
        const double hi = t.kind == DataKind::Int ? std::exp2(bits - 1) - 1 : std::exp2(bits) - 1;
        if (d < lo || d > hi) {
            return "is out of range for the dtype";
        }
        return {};
    }
    }
    return {};
}

nlohmann::json encode_fill(const DType& t, const nlohmann::json& fill) {
    if (fill.is_null()) {
        return nullptr;
    }
    switch (t.kind) {
    case DataKind::Float: {
        if (fill.is_string()) {
            return fill;
        }
        double d = fill.get<double>();
        if (t.itemsize == 4 && std::isfinite(d)) {
            d = static_cast<double>(static_cast<float>(d));
        }
        if (std::isnan(d)) {
            return "NaN";
        }
        if (std::isinf(d)) {
            return d > 0 ? "Infinity" : "-Infinity";
        }
        return d;
    }
    case DataKind::Bool:
        return fill;
    case DataKind::Int:
    case DataKind::UInt:
        if (fill.is_number_float()) {
            const double d = fill.get<double>();
            if (d < 0) {
                return static_cast<int64_t>(d);
            }
            return static_cast<uint64_t>(d);
        }
        return fill;
    }
    return fill;
}

std::vector<size_t> size_list(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_array()) {
        throw InputError(std::string(".zarray: \"") + key + "\" must be a list of integers");
    }
    std::vector<size_t> out;
    out.reserve(it->size());
    for (const auto& v : *it) {
        if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
            throw InputError(std::string(".zarray: \"") + key +
                             "\" must be a list of non-negative integers, got " + it->dump());
        }
        out.push_back(v.get<size_t>());
    }
    return out;
}

} // namespace

DType parse_dtype(const std::string& dtype) {
    if (dtype.size() >= 3) {
        const char endian = dtype[0];
        const char kind = dtype[1];
        const std::string size = dtype.substr(2);
        size_t n = 0;
        if (size == "1" || size == "2" || size == "4" || size == "8") {
            n = static_cast<size_t>(size[0] - '0');
        }
        const bool order_ok = endian == '<' || (endian == '|' && n == 1);
        if (n != 0 && order_ok) {
            if (kind == 'f' && (n == 4 || n == 8)) {
                return {DataKind::Float, n};
            }
            if (kind == 'i') {
                return {DataKind::Int, n};
            }
            if (kind == 'u') {
                return {DataKind::UInt, n};
            }
            if (kind == 'b' && n == 1) {
                return {DataKind::Bool, n};
            }
        }
    }
    throw InputError("unsupported zarr dtype '" + dtype + "'",
                     "baims supports little-endian <f4, <f8, <i2/4/8, <u2/4/8, |i1, |u1 and |b1");
}

void ArrayMeta::validate() const {
    const DType t = parse_dtype(dtype);
    if (chunks.size() != shape.size()) {
        throw InputError(".zarray: chunks " + list_text(chunks) + " and shape " + list_text(shape) +
                         " have different lengths");
    }
    for (size_t c : chunks) {
        if (c == 0) {
            throw InputError(".zarray: chunks " + list_text(chunks) + " must all be >= 1");
        }
    }
    if (std::string why = fill_problem(t, fill_value); !why.empty()) {
        throw InputError(".zarray: fill_value " + fill_value.dump() + " " + why + " for dtype '" +
                         dtype + "'");
    }
    if (order != "C") {
        throw InputError(".zarray: order '" + order + "' is not supported",
                         "baims reads C-order arrays only");
    }
    if (!dimension_separator.empty() && dimension_separator != "." && dimension_separator != "/") {
        throw InputError(".zarray: dimension_separator must be \".\" or \"/\", got '" +
                         dimension_separator + "'");
    }
    if (!compressor.is_null() && compressor.id != "blosc") {
        throw InputError("unsupported zarr compressor '" + compressor.id + "'");
    }
}

nlohmann::json ArrayMeta::to_json() const {
    try {
        validate();
    } catch (const InputError& e) {
        throw InternalError(std::string("cannot write ") + e.what());
    }
    nlohmann::json j = nlohmann::json::object();
    j["chunks"] = chunks;
    j["compressor"] = compressor.to_json();
    j["dtype"] = dtype;
    j["fill_value"] = encode_fill(parse_dtype(dtype), fill_value);
    j["filters"] = nullptr;
    j["order"] = order;
    j["shape"] = shape;
    j["zarr_format"] = 2;
    if (!dimension_separator.empty()) {
        j["dimension_separator"] = dimension_separator;
    }
    return j;
}

ArrayMeta ArrayMeta::from_json(const nlohmann::json& j) {
    if (!j.is_object()) {
        throw InputError(".zarray must be a JSON object");
    }
    auto format = j.find("zarr_format");
    if (format == j.end() || !format->is_number_integer() || format->get<int64_t>() != 2) {
        throw InputError(".zarray: zarr_format " +
                             (format == j.end() ? std::string("is missing") : format->dump()) +
                             " is not supported",
                         "baims reads Zarr version 2");
    }
    ArrayMeta m;
    m.shape = size_list(j, "shape");
    m.chunks = size_list(j, "chunks");
    auto dtype = j.find("dtype");
    if (dtype == j.end() || !dtype->is_string()) {
        throw InputError(".zarray: \"dtype\" must be a string (structured dtypes are not "
                         "supported)");
    }
    m.dtype = dtype->get<std::string>();
    if (auto c = j.find("compressor"); c != j.end()) {
        m.compressor = Compressor::from_json(*c);
    } else {
        m.compressor = Compressor::none();
    }
    if (auto f = j.find("fill_value"); f != j.end()) {
        m.fill_value = *f;
        if (m.fill_value.is_number_float() && std::isnan(m.fill_value.get<double>())) {
            m.fill_value = "NaN";
        }
    }
    if (auto o = j.find("order"); o != j.end()) {
        if (!o->is_string()) {
            throw InputError(".zarray: \"order\" must be \"C\" or \"F\"");
        }
        m.order = o->get<std::string>();
    }
    if (auto f = j.find("filters");
        f != j.end() && !f->is_null() && !(f->is_array() && f->empty())) {
        throw InputError(".zarray: filters " + f->dump() + " are not supported",
                         "Rewrite the array without filters");
    }
    if (auto s = j.find("dimension_separator"); s != j.end()) {
        if (!s->is_string()) {
            throw InputError(".zarray: \"dimension_separator\" must be \".\" or \"/\"");
        }
        m.dimension_separator = s->get<std::string>();
    }
    m.validate();
    return m;
}

std::vector<size_t> ArrayMeta::chunk_grid() const {
    std::vector<size_t> grid(shape.size());
    for (size_t d = 0; d < shape.size(); ++d) {
        grid[d] = chunks[d] == 0 ? 0 : (shape[d] + chunks[d] - 1) / chunks[d];
    }
    return grid;
}

size_t ArrayMeta::chunk_count() const {
    size_t n = 1;
    for (size_t g : chunk_grid()) {
        n *= g;
    }
    return n;
}

std::string ArrayMeta::chunk_key(const std::vector<size_t>& chunk_index) const {
    if (chunk_index.size() != shape.size()) {
        throw InternalError("chunk index " + list_text(chunk_index) + " has " +
                            std::to_string(chunk_index.size()) + " dimensions, the array " +
                            std::to_string(shape.size()));
    }
    if (shape.empty()) {
        return "0";
    }
    const char sep = dimension_separator == "/" ? '/' : '.';
    std::string key;
    key.reserve(chunk_index.size() * 4);
    for (size_t d = 0; d < chunk_index.size(); ++d) {
        const size_t grid = chunks[d] == 0 ? 0 : (shape[d] + chunks[d] - 1) / chunks[d];
        if (chunk_index[d] >= grid) {
            throw InternalError("chunk index " + list_text(chunk_index) +
                                " is outside the chunk grid " + list_text(chunk_grid()));
        }
        if (d > 0) {
            key += sep;
        }
        key += std::to_string(chunk_index[d]);
    }
    return key;
}

size_t ArrayMeta::chunk_elements() const {
    size_t n = 1;
    for (size_t c : chunks) {
        n *= c;
    }
    return n;
}

double ArrayMeta::fill_as_double() const {
    if (fill_value.is_null()) {
        return 0.0;
    }
    if (fill_value.is_boolean()) {
        return fill_value.get<bool>() ? 1.0 : 0.0;
    }
    if (fill_value.is_string()) {
        const auto& s = fill_value.get_ref<const std::string&>();
        if (s == "Infinity") {
            return std::numeric_limits<double>::infinity();
        }
        if (s == "-Infinity") {
            return -std::numeric_limits<double>::infinity();
        }
        return std::numeric_limits<double>::quiet_NaN();
    }
    return fill_value.get<double>();
}

bool ArrayMeta::fill_is_nan() const {
    return (fill_value.is_string() && fill_value.get<std::string>() == "NaN") ||
           (fill_value.is_number_float() && std::isnan(fill_value.get<double>()));
}

bool ArrayMeta::operator==(const ArrayMeta& other) const {
    return shape == other.shape && chunks == other.chunks && dtype == other.dtype &&
           compressor == other.compressor && order == other.order &&
           dimension_separator == other.dimension_separator &&
           (fill_is_nan() ? other.fill_is_nan() : fill_value == other.fill_value);
}

} // namespace baims::zarr
