#include "baims/cube/encoding.hpp"

#include "baims/core/error.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>

namespace baims::cube {
namespace {

struct TypeInfo {
    const char* numpy;
    size_t size;
    double lo, hi;
};

const std::map<std::string, TypeInfo>& types() {
    static const std::map<std::string, TypeInfo> t = {
        {"|i1", {"int8", 1, -128.0, 127.0}},
        {"|u1", {"uint8", 1, 0.0, 255.0}},
        {"<i2", {"int16", 2, -32768.0, 32767.0}},
        {"<u2", {"uint16", 2, 0.0, 65535.0}},
        {"<i4", {"int32", 4, -2147483648.0, 2147483647.0}},
        {"<u4", {"uint32", 4, 0.0, 4294967295.0}},
        {"<f4", {"float32", 4, -3.4028234663852886e38, 3.4028234663852886e38}},
    };
    return t;
}

// The shortest text that reads back as v ("0.01", "250").
std::string number(double v) {
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, res.ptr);
}

template <typename T> void pack(const float* in, size_t n, const Encoding& e, unsigned char* out) {
    const auto [lo, hi] = dtype_range(e.dtype);
    const T fill = static_cast<T>(e.fill);
    T* o = reinterpret_cast<T*>(out);
    for (size_t i = 0; i < n; ++i) {
        const float v = in[i];
        if (std::isnan(v)) {
            o[i] = fill;
            continue;
        }
        const double x = static_cast<double>(v) - e.offset;
        double p = std::nearbyint(x / e.scale);
        p = std::clamp(p, lo, hi);
        o[i] = static_cast<T>(p);
    }
}

} // namespace

size_t Encoding::itemsize() const {
    auto it = types().find(dtype);
    return it == types().end() ? 0 : it->second.size;
}

bool Encoding::identity() const {
    return dtype == "<f4" && scale == 1.0 && offset == 0.0 && std::isnan(fill);
}

bool Encoding::same_as(const Encoding& o) const {
    const bool fills = (std::isnan(fill) && std::isnan(o.fill)) || fill == o.fill;
    return dtype == o.dtype && scale == o.scale && offset == o.offset && fills;
}

std::string Encoding::describe() const {
    auto it = types().find(dtype);
    std::string s = it == types().end() ? dtype : it->second.numpy;
    if (identity()) {
        return s + " (NaN fill)";
    }
    return s + " (scale_factor " + number(scale) + ", add_offset " + number(offset) +
           ", _FillValue " + (std::isnan(fill) ? std::string("NaN") : number(fill)) + ")";
}

nlohmann::json Encoding::to_json() const {
    return {{"dtype", dtype},
            {"scale_factor", scale},
            {"add_offset", offset},
            {"fill", std::isnan(fill) ? nlohmann::json("NaN") : nlohmann::json(fill)}};
}

std::string zarr_dtype_of(const std::string& numpy_name) {
    for (const auto& [zarr, info] : types()) {
        if (numpy_name == info.numpy && zarr != "<f4") {
            return zarr;
        }
    }
    return {};
}

std::pair<double, double> dtype_range(const std::string& zarr_dtype) {
    auto it = types().find(zarr_dtype);
    if (it == types().end()) {
        throw InternalError("dtype_range: unknown dtype " + zarr_dtype);
    }
    return {it->second.lo, it->second.hi};
}

Encoding encoding_of(const std::string& var, const zarr::ArrayMeta& meta,
                     const nlohmann::json& attrs) {
    Encoding e;
    e.dtype = meta.dtype;
    if (!types().count(meta.dtype)) {
        throw OutputError("cube variable '" + var + "' is stored as " + meta.dtype +
                              "; baims gen extends float32 and packed integer variables only",
                          "Write to a new cube");
    }
    auto num = [&](const char* key, double def) {
        auto it = attrs.find(key);
        return it != attrs.end() && it->is_number() ? it->get<double>() : def;
    };
    e.scale = num("scale_factor", 1.0);
    e.offset = num("add_offset", 0.0);
    const auto& f = meta.fill_value;
    if (f.is_number()) {
        e.fill = f.get<double>();
    } else if (f.is_string() && f.get<std::string>() == "NaN" && e.dtype == "<f4") {
        e.fill = std::numeric_limits<double>::quiet_NaN();
    } else {
        throw OutputError("cube variable '" + var + "' has fill_value " + f.dump() +
                              "; baims gen needs a fill value to mark missing data",
                          "Write to a new cube");
    }
    if (!(e.scale != 0.0) || !std::isfinite(e.scale)) {
        throw OutputError("cube variable '" + var + "' has scale_factor " + number(e.scale),
                          "Write to a new cube");
    }
    return e;
}

void apply_encoding(const Encoding& e, zarr::ArrayMeta& meta, nlohmann::json& attrs) {
    meta.dtype = e.dtype;
    if (e.dtype != "<f4") {
        meta.fill_value = static_cast<long long>(e.fill);
    } else {
        meta.fill_value = std::isnan(e.fill) ? nlohmann::json("NaN") : nlohmann::json(e.fill);
    }
    if (e.identity()) {
        return;
    }
    attrs["scale_factor"] = e.scale;
    attrs["add_offset"] = e.offset;
    auto stored = [&](double x) { return std::nearbyint((x - e.offset) / e.scale); };
    for (const char* key : {"valid_min", "valid_max"}) {
        if (attrs.contains(key) && attrs[key].is_number()) {
            attrs[key] = stored(attrs[key].get<double>());
        }
    }
    if (attrs.contains("valid_range") && attrs["valid_range"].is_array() &&
        attrs["valid_range"].size() == 2 && attrs["valid_range"][0].is_number() &&
        attrs["valid_range"][1].is_number()) {
        double a = stored(attrs["valid_range"][0].get<double>());
        double b = stored(attrs["valid_range"][1].get<double>());
        if (a > b) {
            std::swap(a, b);
        }
        attrs["valid_range"] = {a, b};
    }
}

void encode_values(const float* in, size_t n, const Encoding& e, unsigned char* out) {
    if (e.dtype == "|i1") {
        return pack<std::int8_t>(in, n, e, out);
    }
    if (e.dtype == "|u1") {
        return pack<std::uint8_t>(in, n, e, out);
    }
    if (e.dtype == "<i2") {
        return pack<std::int16_t>(in, n, e, out);
    }
    if (e.dtype == "<u2") {
        return pack<std::uint16_t>(in, n, e, out);
    }
    if (e.dtype == "<i4") {
        return pack<std::int32_t>(in, n, e, out);
    }
    if (e.dtype == "<u4") {
        return pack<std::uint32_t>(in, n, e, out);
    }
    if (e.dtype == "<f4") { // a float32 variable with a numeric fill or scaling
        auto* o = reinterpret_cast<float*>(out);
        const auto fill = static_cast<float>(e.fill);
        for (size_t i = 0; i < n; ++i) {
            o[i] = std::isnan(in[i])
                       ? fill
                       : static_cast<float>((static_cast<double>(in[i]) - e.offset) / e.scale);
        }
        return;
    }
    throw InternalError("encode_values: unsupported dtype " + e.dtype);
}

} // namespace baims::cube
