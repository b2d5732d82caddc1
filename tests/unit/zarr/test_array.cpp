#include "baims/core/error.hpp"
#include "baims/zarr/array.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

using namespace baims::zarr;

namespace {

const float NaN = std::numeric_limits<float>::quiet_NaN();

ArrayMeta f4_meta() {
    ArrayMeta m;
    m.shape = {1, 4, 6};
    m.chunks = {1, 2, 2};
    m.fill_value = "NaN";
    return m;
}

} // namespace

TEST_CASE("zarr: write_chunk and read_chunk of chunk 0.1.2", "[zarr][array]") {
    MemoryStore store;
    const auto m = f4_meta();
    const std::vector<float> chunk{1.5f, NaN, -0.25f, 300.0f};
    write_chunk(store, "sst", m, {0, 1, 2}, chunk.data());
    CHECK(store.keys() == std::vector<std::string>{"sst/0.1.2"});

    // The stored bytes are one Blosc frame of 16 decoded bytes.
    const auto raw = store.get("sst/0.1.2");
    REQUIRE(raw);
    std::vector<float> decoded(4);
    decode(m.compressor, *raw, decoded.data(), 16);
    CHECK(std::memcmp(decoded.data(), chunk.data(), 16) == 0);

    std::vector<float> out(4, 7.0f);
    REQUIRE(read_chunk(store, "sst", m, {0, 1, 2}, out.data()));
    CHECK(out[0] == 1.5f);
    CHECK(std::isnan(out[1]));
    CHECK(out[2] == -0.25f);
    CHECK(out[3] == 300.0f);

    std::vector<float> untouched(4, 7.0f);
    CHECK_FALSE(read_chunk(store, "sst", m, {0, 0, 0}, untouched.data()));
    CHECK(untouched == std::vector<float>(4, 7.0f));
    fill_chunk(m, untouched.data());
    CHECK(std::isnan(untouched[3]));
    CHECK(is_all_fill(m, untouched.data()));

    CHECK_THROWS_AS(write_chunk(store, "sst", m, {0, 2, 0}, chunk.data()), baims::InternalError);
}

TEST_CASE("zarr: a corrupt chunk names the chunk, the array and the store", "[zarr][array]") {
    MemoryStore store("mem://c.zarr");
    const auto m = f4_meta();
    store.put("sst/0.0.1", std::string(40, '\x02'));
    std::vector<float> out(4);
    try {
        read_chunk(store, "sst", m, {0, 0, 1}, out.data());
        FAIL("no exception");
    } catch (const baims::InputError& e) {
        CHECK(std::string(e.what()).rfind(
                  "reading chunk 0.0.1 of 'sst' in mem://c.zarr: corrupt Blosc chunk", 0) == 0);
    }
}

TEST_CASE("zarr: is_all_fill", "[zarr][array]") {
    auto m = f4_meta();
    std::vector<float> v(4, NaN);
    CHECK(is_all_fill(m, v.data()));
    std::vector<float> big(5000, NaN);
    CHECK(is_all_fill(m, big.data(), big.size()));
    big[4999] = 0.0f;
    CHECK_FALSE(is_all_fill(m, big.data(), big.size()));
    v[3] = 1.0f;
    CHECK_FALSE(is_all_fill(m, v.data()));

    m.fill_value = 0.0;
    std::vector<float> zeros{0.0f, -0.0f, 0.0f, 0.0f};
    CHECK(is_all_fill(m, zeros.data()));
    zeros[0] = NaN;
    CHECK_FALSE(is_all_fill(m, zeros.data()));

    m.fill_value = nullptr;
    CHECK_FALSE(is_all_fill(m, v.data()));

    ArrayMeta i2;
    i2.shape = {3};
    i2.chunks = {3};
    i2.dtype = "<i2";
    i2.fill_value = -9999;
    std::vector<int16_t> ints{-9999, -9999, -9999};
    CHECK(is_all_fill(i2, ints.data()));
    ints[1] = 0;
    CHECK_FALSE(is_all_fill(i2, ints.data()));
    fill_chunk(i2, ints.data());
    CHECK(ints == std::vector<int16_t>{-9999, -9999, -9999});

    ArrayMeta u8;
    u8.shape = {2};
    u8.chunks = {2};
    u8.dtype = "<u8";
    u8.fill_value = uint64_t{18446744073709551615ULL};
    std::vector<uint64_t> big_u{18446744073709551615ULL, 18446744073709551615ULL};
    CHECK(is_all_fill(u8, big_u.data()));
    big_u[0] -= 1;
    CHECK_FALSE(is_all_fill(u8, big_u.data()));
}

TEST_CASE("zarr: write_whole and read_whole with ragged chunks", "[zarr][array]") {
    MemoryStore store;
    ArrayMeta m;
    m.shape = {5, 7};
    m.chunks = {2, 3};
    m.dtype = "<i4";
    m.fill_value = -1;
    m.compressor = Compressor::none(); // so the stored bytes can be checked directly
    std::vector<int32_t> data(35);
    for (int32_t i = 0; i < 35; ++i) {
        data[static_cast<size_t>(i)] = i; // element (r, c) = 7 r + c
    }
    write_whole(store, "v", m, data.data());
    CHECK(store.size() == 9);
    // Chunk (1, 2): rows 2..3, column 6 only; the rest of the full-size chunk is fill.
    const auto raw = store.get("v/1.2");
    REQUIRE(raw);
    REQUIRE(raw->size() == 24);
    std::vector<int32_t> c12(6);
    std::memcpy(c12.data(), raw->data(), 24);
    CHECK(c12 == std::vector<int32_t>{20, -1, -1, 27, -1, -1});
    // Chunk (2, 0): row 4, columns 0..2.
    std::vector<int32_t> c20(6);
    REQUIRE(read_chunk(store, "v", m, {2, 0}, c20.data()));
    CHECK(c20 == std::vector<int32_t>{28, 29, 30, -1, -1, -1});

    std::vector<int32_t> back(35, 0);
    read_whole(store, "v", m, back.data());
    CHECK(back == data);

    // An absent chunk reads as the fill value.
    store.erase("v/0.0");
    read_whole(store, "v", m, back.data());
    CHECK(back[0] == -1);
    CHECK(back[8] == -1);
    CHECK(back[3] == 3);
}

TEST_CASE("zarr: write_whole of a one-chunk coordinate and of a 3-d array", "[zarr][array]") {
    MemoryStore store;
    ArrayMeta lat;
    lat.shape = {4};
    lat.chunks = {4};
    lat.dtype = "<f8";
    lat.fill_value = "NaN";
    const std::vector<double> values{53.125, 53.375, 53.625, 53.875};
    write_whole(store, "lat", lat, values.data());
    CHECK(store.keys() == std::vector<std::string>{"lat/0"});
    std::vector<double> back(4);
    read_whole(store, "lat", lat, back.data());
    CHECK(back == values);

    ArrayMeta cube;
    cube.shape = {3, 5, 4};
    cube.chunks = {2, 2, 3};
    cube.fill_value = "NaN";
    std::vector<float> data(60);
    for (size_t i = 0; i < 60; ++i) {
        data[i] = static_cast<float>(i) * 0.5f;
    }
    write_whole(store, "c", cube, data.data());
    CHECK(store.size() == 1 + 2 * 3 * 2);
    std::vector<float> cube_back(60);
    read_whole(store, "c", cube, cube_back.data());
    CHECK(cube_back == data);
}

TEST_CASE("zarr: write_chunk from many threads", "[zarr][array]") {
    MemoryStore store;
    ArrayMeta m;
    m.shape = {8, 64, 64};
    m.chunks = {1, 16, 16};
    m.fill_value = "NaN";
    std::vector<std::thread> threads;
    for (size_t t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            std::vector<float> chunk(256);
            for (size_t cy = 0; cy < 4; ++cy) {
                for (size_t cx = 0; cx < 4; ++cx) {
                    for (size_t i = 0; i < 256; ++i) {
                        chunk[i] = static_cast<float>(t * 1000 + cy * 100 + cx * 10) +
                                   static_cast<float>(i) / 256.0f;
                    }
                    write_chunk(store, "sst", m, {t, cy, cx}, chunk.data(), 2);
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    REQUIRE(store.size() == 128);
    std::vector<float> chunk(256);
    REQUIRE(read_chunk(store, "sst", m, {5, 2, 3}, chunk.data()));
    CHECK(chunk[0] == 5230.0f);
    CHECK(chunk[128] == 5230.5f);
}

TEST_CASE("zarr: a FaultyStore failure leaves that chunk absent", "[zarr][array]") {
    MemoryStore inner("mem://c.zarr");
    FaultyStore store(inner, 3);
    const auto m = f4_meta();
    const std::vector<float> chunk{1, 2, 3, 4};
    write_chunk(store, "sst", m, {0, 0, 0}, chunk.data());
    write_chunk(store, "sst", m, {0, 0, 1}, chunk.data());
    try {
        write_chunk(store, "sst", m, {0, 0, 2}, chunk.data());
        FAIL("no exception");
    } catch (const baims::OutputError& e) {
        CHECK(std::string(e.what()) == "writing chunk 0.0.2 of 'sst' in mem://c.zarr: injected "
                                       "failure on put #3 ('sst/0.0.2' in mem://c.zarr)");
    }
    write_chunk(store, "sst", m, {0, 1, 0}, chunk.data());
    CHECK(store.puts() == 4);
    CHECK(inner.keys() == std::vector<std::string>{"sst/0.0.0", "sst/0.0.1", "sst/0.1.0"});
}
