#include "test_helpers.hpp"

#include "baims/core/error.hpp"
#include "baims/zarr/codec.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

using namespace baims::zarr;

namespace {

// Deterministic, partly compressible data: a smooth ramp with some repeats.
template <class T> std::vector<T> sample(size_t n) {
    std::vector<T> v(n);
    for (size_t i = 0; i < n; ++i) {
        const double x = static_cast<double>(i / 16) * 0.37; // runs of 16 equal values
        v[i] = static_cast<T>(std::fmod(x * 7.0, 200.0) - (std::is_signed_v<T> ? 100.0 : 0.0));
    }
    return v;
}

template <class T> void round_trip(const Compressor& c) {
    const size_t n = 5003; // not a multiple of any block size
    const auto in = sample<T>(n);
    const std::string enc = encode(c, in.data(), n * sizeof(T), sizeof(T));
    if (!c.is_null() && c.clevel > 0) {
        CHECK(enc.size() < n * sizeof(T)); // the runs compress
    }
    std::vector<T> out(n);
    decode(c, enc, out.data(), n * sizeof(T));
    CHECK(std::memcmp(in.data(), out.data(), n * sizeof(T)) == 0);
}

} // namespace

TEST_CASE("zarr: Blosc round trip for f4/f8/i2/u1, every cname and shuffle", "[zarr][codec]") {
    for (const char* cname : {"lz4", "zstd", "blosclz", "lz4hc", "zlib"}) {
        for (int shuffle : {-1, 0, 1, 2}) {
            Compressor c;
            c.cname = cname;
            c.shuffle = shuffle;
            INFO("cname " << cname << " shuffle " << shuffle);
            round_trip<float>(c);
            round_trip<double>(c);
            round_trip<int16_t>(c);
            round_trip<uint8_t>(c);
        }
    }
}

TEST_CASE("zarr: Blosc clevel 0 and explicit blocksize round trip", "[zarr][codec]") {
    Compressor c;
    c.clevel = 0;
    round_trip<float>(c);
    c.clevel = 9;
    c.blocksize = 4096;
    round_trip<double>(c);
}

TEST_CASE("zarr: null compressor stores raw bytes", "[zarr][codec]") {
    const Compressor c = Compressor::none();
    CHECK(c.to_json().is_null());
    const std::vector<int16_t> in{1, -2, 3, 32767};
    const std::string enc = encode(c, in.data(), 8, 2);
    REQUIRE(enc.size() == 8);
    CHECK(std::memcmp(enc.data(), in.data(), 8) == 0);
    std::vector<int16_t> out(4);
    decode(c, enc, out.data(), 8);
    CHECK(out == in);
    std::string buffer;
    CHECK(encode_into(c, in.data(), 8, 2, buffer).data() ==
          reinterpret_cast<const char*>(in.data()));
    try {
        decode(c, enc.substr(0, 6), out.data(), 8);
        FAIL("no exception");
    } catch (const baims::InputError& e) {
        CHECK(std::string(e.what()) == "uncompressed chunk has 6 bytes, expected 8");
    }
    round_trip<float>(c);
}

TEST_CASE("zarr: corrupt Blosc data is an InputError", "[zarr][codec]") {
    const Compressor c;
    const auto in = sample<float>(1000);
    const std::string enc = encode(c, in.data(), 4000, 4);
    std::vector<float> out(1000);

    try {
        decode(c, enc.substr(0, 10), out.data(), 4000);
        FAIL("no exception");
    } catch (const baims::InputError& e) {
        CHECK(std::string(e.what()) == "corrupt Blosc chunk (10 bytes, invalid header)");
    }
    try {
        decode(c, enc, out.data(), 2000);
        FAIL("no exception");
    } catch (const baims::InputError& e) {
        CHECK(std::string(e.what()) == "Blosc chunk decodes to 4000 bytes, expected 2000");
    }
    CHECK_THROWS_AS(decode(c, enc.substr(0, enc.size() - 5), out.data(), 4000), baims::InputError);
    CHECK_THROWS_AS(decode(c, std::string(64, 'x'), out.data(), 4000), baims::InputError);
}

TEST_CASE("zarr: Compressor JSON", "[zarr][codec]") {
    const Compressor c;
    CHECK(c.to_json().dump() ==
          R"({"blocksize":0,"clevel":5,"cname":"lz4","id":"blosc","shuffle":1})");
    CHECK(Compressor::from_json(c.to_json()) == c);
    CHECK(Compressor::from_json(nullptr).is_null());
    const auto z = Compressor::from_json(nlohmann::json::parse(
        R"({"blocksize":0,"clevel":3,"cname":"zstd","id":"blosc","shuffle":2})"));
    CHECK(z.cname == "zstd");
    CHECK(z.clevel == 3);
    CHECK(z.shuffle == 2);

    try {
        Compressor::from_json(nlohmann::json::parse(R"({"id":"zlib","level":1})"));
        FAIL("no exception");
    } catch (const baims::InputError& e) {
        CHECK(std::string(e.what()) == "unsupported zarr compressor 'zlib'");
    }
    try {
        Compressor::from_json(nlohmann::json::parse(R"({"id":"blosc","cname":"lzma"})"));
        FAIL("no exception");
    } catch (const baims::InputError& e) {
        CHECK(std::string(e.what()) == "unsupported Blosc compressor 'lzma'");
    }
    CHECK_THROWS_AS(Compressor::from_json(nlohmann::json::parse(R"({"id":"blosc","clevel":10})")),
                    baims::InputError);
    CHECK_THROWS_AS(Compressor::from_json(nlohmann::json::parse(R"({"id":"blosc","shuffle":3})")),
                    baims::InputError);
}

// analysed_sst/0.0.0 of the xcube 1.0.5 golden cube (numcodecs Blosc lz4 clevel 5 byte-shuffle,
// float32, chunk (1, 176, 320)). Expected values from:
// cd tests/data/golden/golden-xcube-1.0.5/ostia-golden.zarr && /usr/bin/python3 -c '
//   import zarr, numpy as np, math
//   c = zarr.open("analysed_sst", mode="r")[0, 0:176, 0:320]; v = c[~np.isnan(c)]
//   print(int(np.isnan(c).sum()), repr(math.fsum(v.astype("f8"))), repr(v.min()), repr(v.max()))
//   print(repr(c[100, 200]), c[100, 200].view("u4"), repr(c[50, 10]), repr(c[0, 0]))'
// → 3589 14988990.445404053 281.69 286.56 / 284.91998 1133409730 283.36 nan
TEST_CASE("zarr: decode a chunk written by xcube/numcodecs", "[zarr][codec]") {
    const std::string encoded = test::golden_file("analysed_sst/0.0.0");
    const size_t n = 176 * 320;
    std::vector<float> v(n);
    decode(Compressor{}, encoded, v.data(), n * sizeof(float));

    auto at = [&](size_t i, size_t j) { return v[i * 320 + j]; };
    size_t nan_count = 0;
    double sum = 0;
    float lo = std::numeric_limits<float>::infinity();
    float hi = -lo;
    for (float x : v) {
        if (std::isnan(x)) {
            ++nan_count;
        } else {
            sum += x;
            lo = std::min(lo, x);
            hi = std::max(hi, x);
        }
    }
    CHECK(nan_count == 3589);
    // Summed in order in double (measured: equal to math.fsum). The margin lies below one float32
    // ulp at 280 K (3.05e-5), so a single value decoded one ulp off fails; it allows for the
    // summation order (at most ~5e-5 in theory for 52731 values, 0 measured).
    CHECK(sum == Approx(14988990.445404053).epsilon(0).margin(1e-5));
    CHECK(lo == 281.69f);
    CHECK(hi == 286.56f);
    CHECK(at(100, 200) == 284.91998f);
    uint32_t bits = 0;
    const float x = at(100, 200);
    std::memcpy(&bits, &x, 4);
    CHECK(bits == 1133409730u);
    CHECK(at(50, 10) == 283.36f);
    CHECK(std::isnan(at(0, 0)));

    // Re-encoding with the same settings and the same c-blosc gives the same bytes as numcodecs.
    CHECK(encode(Compressor{}, v.data(), n * sizeof(float), sizeof(float)) == encoded);
}
