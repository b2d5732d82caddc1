#include "baims/zarr/codec.hpp"

#include "baims/core/error.hpp"

#include <blosc.h>

#include <cstring>

namespace baims::zarr {
namespace {

const char* const KNOWN_CNAMES[] = {"blosclz", "lz4", "lz4hc", "snappy", "zlib", "zstd"};

void validate(const Compressor& c) {
    if (c.is_null()) {
        return;
    }
    if (c.id != "blosc") {
        throw InputError("unsupported zarr compressor '" + c.id + "'",
                         "baims reads and writes Blosc-compressed or uncompressed chunks");
    }
    bool known = false;
    for (const char* name : KNOWN_CNAMES) {
        known = known || c.cname == name;
    }
    if (!known || blosc_compname_to_compcode(c.cname.c_str()) < 0) {
        throw InputError("unsupported Blosc compressor '" + c.cname + "'",
                         "Use one of blosclz, lz4, lz4hc, zlib, zstd");
    }
    if (c.clevel < 0 || c.clevel > 9) {
        throw InputError("Blosc clevel must be 0..9, got " + std::to_string(c.clevel));
    }
    if (c.shuffle < -1 || c.shuffle > 2) {
        throw InputError("Blosc shuffle must be -1, 0, 1 or 2, got " + std::to_string(c.shuffle));
    }
    if (c.blocksize < 0) {
        throw InputError("Blosc blocksize must be >= 0, got " + std::to_string(c.blocksize));
    }
}

int get_int(const nlohmann::json& j, const char* key, int fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return fallback;
    }
    if (!it->is_number_integer()) {
        throw InputError(std::string("Blosc '") + key + "' must be an integer, got " + it->dump());
    }
    return it->get<int>();
}

} // namespace

nlohmann::json Compressor::to_json() const {
    if (is_null()) {
        return nullptr;
    }
    return nlohmann::json{{"blocksize", blocksize},
                          {"clevel", clevel},
                          {"cname", cname},
                          {"id", id},
                          {"shuffle", shuffle}};
}

Compressor Compressor::from_json(const nlohmann::json& j) {
    if (j.is_null()) {
        return none();
    }
    if (!j.is_object()) {
        throw InputError("zarr compressor must be an object or null, got " + j.dump());
    }
    auto id = j.find("id");
    if (id == j.end() || !id->is_string()) {
        throw InputError("zarr compressor has no \"id\": " + j.dump());
    }
    Compressor c;
    c.id = id->get<std::string>();
    if (c.id != "blosc") {
        throw InputError("unsupported zarr compressor '" + c.id + "'",
                         "baims reads and writes Blosc-compressed or uncompressed chunks");
    }
    if (auto cname = j.find("cname"); cname != j.end()) {
        if (!cname->is_string()) {
            throw InputError("Blosc 'cname' must be a string, got " + cname->dump());
        }
        c.cname = cname->get<std::string>();
    }
    c.clevel = get_int(j, "clevel", c.clevel);
    c.shuffle = get_int(j, "shuffle", c.shuffle);
    c.blocksize = get_int(j, "blocksize", c.blocksize);
    validate(c);
    return c;
}

std::string_view encode_into(const Compressor& c, const void* data, size_t nbytes, size_t typesize,
                             std::string& buffer, int nthreads) {
    if (c.is_null()) {
        return {static_cast<const char*>(data), nbytes};
    }
    try {
        validate(c);
    } catch (const InputError& e) {
        throw OutputError(e.what(), e.hint());
    }
    if (nbytes > static_cast<size_t>(BLOSC_MAX_BUFFERSIZE)) {
        throw OutputError("chunk of " + std::to_string(nbytes) +
                              " bytes is too large for Blosc (at most 2 GiB)",
                          "Choose smaller chunks");
    }
    int shuffle = c.shuffle;
    if (shuffle == -1) {
        shuffle = typesize == 1 ? BLOSC_BITSHUFFLE : BLOSC_SHUFFLE;
    }
    const size_t bound = nbytes + BLOSC_MAX_OVERHEAD;
    if (buffer.size() < bound) {
        buffer.resize(bound);
    }
    int n = blosc_compress_ctx(c.clevel, shuffle, typesize, nbytes, data, buffer.data(), bound,
                               c.cname.c_str(), static_cast<size_t>(c.blocksize),
                               nthreads < 1 ? 1 : nthreads);
    if (n <= 0) {
        throw OutputError("Blosc compression (" + c.cname + ") failed with code " +
                          std::to_string(n));
    }
    return {buffer.data(), static_cast<size_t>(n)};
}

std::string encode(const Compressor& c, const void* data, size_t nbytes, size_t typesize,
                   int nthreads) {
    if (c.is_null()) {
        return {static_cast<const char*>(data), nbytes};
    }
    std::string buffer;
    size_t n = encode_into(c, data, nbytes, typesize, buffer, nthreads).size();
    buffer.resize(n);
    return buffer;
}

void decode(const Compressor& c, std::string_view encoded, void* out, size_t nbytes, int nthreads) {
    if (c.is_null()) {
        if (encoded.size() != nbytes) {
            throw InputError("uncompressed chunk has " + std::to_string(encoded.size()) +
                             " bytes, expected " + std::to_string(nbytes));
        }
        std::memcpy(out, encoded.data(), nbytes);
        return;
    }
    if (c.id != "blosc") {
        throw InputError("unsupported zarr compressor '" + c.id + "'");
    }
    size_t dest_nbytes = 0;
    if (encoded.size() < BLOSC_MIN_HEADER_LENGTH ||
        blosc_cbuffer_validate(encoded.data(), encoded.size(), &dest_nbytes) != 0) {
        throw InputError("corrupt Blosc chunk (" + std::to_string(encoded.size()) +
                         " bytes, invalid header)");
    }
    if (dest_nbytes != nbytes) {
        throw InputError("Blosc chunk decodes to " + std::to_string(dest_nbytes) +
                         " bytes, expected " + std::to_string(nbytes));
    }
    if (nbytes == 0) {
        return;
    }
    int n = blosc_decompress_ctx(encoded.data(), out, nbytes, nthreads < 1 ? 1 : nthreads);
    if (n < 0 || static_cast<size_t>(n) != nbytes) {
        throw InputError("corrupt Blosc chunk (" + std::to_string(encoded.size()) +
                         " bytes): decompression failed with code " + std::to_string(n));
    }
}

} // namespace baims::zarr
