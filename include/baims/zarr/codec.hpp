#pragma once
// Chunk codecs: Blosc (c-blosc 1.x, as numcodecs' Blosc) or none. A thin, stateless wrapper over
// blosc_compress_ctx / blosc_decompress_ctx: no blosc_init global state, safe from any thread.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace baims::zarr {

// Blosc settings as the zarr "compressor" JSON (numcodecs Blosc config):
// {"blocksize":0,"clevel":5,"cname":"lz4","id":"blosc","shuffle":1}
struct Compressor {
    std::string id = "blosc";  // "blosc", or "" for the null compressor
    std::string cname = "lz4"; // blosclz, lz4, lz4hc, zlib, zstd (what the c-blosc build supports)
    int clevel = 5;            // 0..9
    int shuffle = 1;   // -1 auto (bit for 1-byte items, byte otherwise), 0 no, 1 byte, 2 bit
    int blocksize = 0; // 0 = automatic

    static Compressor none() {
        Compressor c;
        c.id.clear();
        return c;
    }
    bool is_null() const { return id.empty(); }

    nlohmann::json to_json() const; // null json when id == ""
    // Accepts null and {"id":"blosc",…}; throws InputError for other ids (naming the id) and for
    // out-of-range settings.
    static Compressor from_json(const nlohmann::json& j);

    bool operator==(const Compressor&) const = default;
};

// Compresses nbytes of data made of items of typesize bytes. Throws OutputError.
std::string encode(const Compressor& c, const void* data, size_t nbytes, size_t typesize,
                   int nthreads = 1);
// The same into a caller-owned buffer (its capacity is reused from call to call); returns the
// encoded bytes, which live in `buffer`. With the null compressor no copy is made: the view is of
// `data` itself.
std::string_view encode_into(const Compressor& c, const void* data, size_t nbytes, size_t typesize,
                             std::string& buffer, int nthreads = 1);

// Decompresses into out, which holds exactly nbytes. The encoded buffer is validated first
// (blosc_cbuffer_validate, decoded size == nbytes); corrupt or wrong-sized data throws
// InputError.
void decode(const Compressor& c, std::string_view encoded, void* out, size_t nbytes,
            int nthreads = 1);

} // namespace baims::zarr
