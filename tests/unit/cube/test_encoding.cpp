// CF packing of float32 values (encode_values) and reading an existing variable's encoding.
// Expected values are numpy's: np.clip(np.around((x - offset) / scale), lo, hi), NaN -> fill.

#include "baims/core/error.hpp"
#include "baims/cube/encoding.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

using namespace baims::cube;

namespace {
constexpr float NaNf = std::numeric_limits<float>::quiet_NaN();

template <typename T> std::vector<T> encode(const std::vector<float>& in, const Encoding& e) {
    std::vector<unsigned char> bytes(in.size() * e.itemsize());
    encode_values(in.data(), in.size(), e, bytes.data());
    std::vector<T> out(in.size());
    std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
}
} // namespace

TEST_CASE("packing rounds half to even, clamps, and writes the fill for NaN", "[cube][encoding]") {
    Encoding e;
    e.dtype = "|i1";
    e.fill = -128;
    // np.around([0.5, 1.5, 2.5, -0.5, -1.5, 0.49, 300, -300]) -> 0, 2, 2, -0, -2, 0, clip 127, -128
    CHECK(encode<std::int8_t>({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 0.49f, 300.0f, -300.0f, NaNf}, e) ==
          std::vector<std::int8_t>{0, 2, 2, 0, -2, 0, 127, -128, -128});
}

TEST_CASE("packing with scale and offset into uint16 and uint32", "[cube][encoding]") {
    Encoding e;
    e.dtype = "<u2";
    e.scale = 0.5;
    e.offset = 100.0;
    e.fill = 65535;
    // (99 - 100) / 0.5 = -2 -> clip 0; (100.25 - 100) / 0.5 = 0.5 -> 0; 100.75 -> 1.5 -> 2;
    // 40000 -> 79800 -> clip 65535 (the fill value itself: documented)
    CHECK(encode<std::uint16_t>({99.0f, 100.25f, 100.75f, 40000.0f, NaNf}, e) ==
          std::vector<std::uint16_t>{0, 0, 2, 65535, 65535});
    e.dtype = "<u4";
    e.fill = 0;
    CHECK(encode<std::uint32_t>({101.0f, NaNf}, e) == std::vector<std::uint32_t>{2, 0});
    CHECK(e.describe() == "uint32 (scale_factor 0.5, add_offset 100, _FillValue 0)");
}

TEST_CASE("the encoding of existing variables", "[cube][encoding]") {
    baims::zarr::ArrayMeta m;
    m.dtype = "<f4";
    m.fill_value = "NaN";
    auto plain = encoding_of("v", m, nlohmann::json::object());
    CHECK(plain.identity());
    CHECK(plain.describe() == "float32 (NaN fill)");
    m.dtype = "<i2";
    m.fill_value = -32768;
    auto packed = encoding_of("v", m, {{"scale_factor", 0.01}, {"add_offset", 273.15}});
    CHECK_FALSE(packed.identity());
    CHECK(packed.itemsize() == 2);
    CHECK((packed.scale == 0.01 && packed.offset == 273.15 && packed.fill == -32768));
    CHECK(packed.describe() == "int16 (scale_factor 0.01, add_offset 273.15, _FillValue -32768)");
    m.dtype = "<f8";
    CHECK_THROWS_AS(encoding_of("v", m, {}), baims::OutputError);
    m.dtype = "<u2";
    m.fill_value = nullptr;
    CHECK_THROWS_WITH(encoding_of("v", m, {}),
                      "cube variable 'v' has fill_value null; baims gen needs a fill value to mark "
                      "missing data");
}

TEST_CASE("apply_encoding converts valid_range to stored units", "[cube][encoding]") {
    Encoding e;
    e.dtype = "<i2";
    e.scale = 0.01;
    e.offset = 10.0;
    e.fill = -32768;
    baims::zarr::ArrayMeta m;
    nlohmann::json attrs = {{"valid_range", {5.0, 15.0}}, {"units", "K"}};
    apply_encoding(e, m, attrs);
    CHECK(m.dtype == "<i2");
    CHECK(m.fill_value == -32768);
    CHECK(attrs["valid_range"] == nlohmann::json({-500.0, 500.0}));
    CHECK(attrs["scale_factor"] == 0.01);
    CHECK(attrs["add_offset"] == 10.0);
    CHECK(attrs["units"] == "K");
}
