#pragma once
// Private to baims_io: where the chunks of a NetCDF-4 variable lie in its HDF5 file, so that
// reading can be split into independent pieces (read the bytes, inflate, unshuffle, decode) that
// run on any thread. HDF5 itself is only called from the thread that opened the netCDF files
// (HDF5 is not thread-safe here); the pieces use pread() and libdeflate only.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace baims::io::h5 {

struct Chunk {
    std::vector<uint64_t> offset; // first element of the chunk, per dimension
    uint64_t addr = 0;            // byte offset in the file
    uint64_t size = 0;            // stored (compressed) bytes
    unsigned filter_mask = 0;     // bit i set: filter i of the pipeline was skipped for it
};

struct ChunkLayout {
    std::vector<uint64_t> shape; // of the dataset
    std::vector<uint64_t> chunk; // chunk dimensions
    size_t element_size = 0;
    int shuffle = -1;          // position of the shuffle filter in the pipeline, -1 if absent
    int deflate = -1;          // position of the deflate filter in the pipeline, -1 if absent
    std::vector<Chunk> chunks; // every chunk that intersects the selection, all allocated
};

// The chunks of dataset `name` (a variable of the root group) that intersect the selection
// [start, start + count). nullopt when the fast path does not apply and netCDF must read: not
// HDF5 (call it for NetCDF-4 files only), a file with a user block, not chunked, shape different
// from `expected_shape`, element size different from `element_size`, not little-endian, a filter
// other than shuffle and deflate (or shuffle after deflate), or a chunk of the selection that was
// never written (it reads as the fill value).
std::optional<ChunkLayout> chunk_layout(const std::filesystem::path& path, const std::string& name,
                                        const std::vector<uint64_t>& expected_shape,
                                        size_t element_size, const std::vector<uint64_t>& start,
                                        const std::vector<uint64_t>& count);

// Inflates (zlib stream) `in` into exactly `out_size` bytes at `out`; false if the stream is
// corrupt or does not inflate to exactly that size. Thread-safe (one decompressor per thread).
bool inflate_exact(const unsigned char* in, size_t in_size, unsigned char* out, size_t out_size);

// HDF5's byte shuffle undone: `in` holds all first bytes, then all second bytes, ...
void unshuffle(const unsigned char* in, size_t n_bytes, size_t element_size, unsigned char* out);

// Scratch space for decode_chunk: one region for the stored, the inflated and the unshuffled bytes
// of a chunk, grown to the largest chunk seen and never zero-filled. Outside a sanitizer it is
// its own 2 MiB-aligned mapping advised for huge pages: a chunk of 512 x 512 x 4 bytes then takes
// two 2 MiB pages instead of ~770 fresh 4 KiB pages (~11-13 us each on this project's VMs).
class ChunkBuffers {
public:
    ChunkBuffers() = default;
    ChunkBuffers(const ChunkBuffers&) = delete;
    ChunkBuffers& operator=(const ChunkBuffers&) = delete;
    ~ChunkBuffers();
    // At least `bytes` bytes, their contents undefined (kept until the next call).
    unsigned char* space(size_t bytes);

private:
    unsigned char* m_data = nullptr;
    size_t m_size = 0;
};

// The calling thread's ChunkBuffers, shared by every reader that decodes chunks on it (the
// coordinates and the variables of an input, one after the other), so that each thread keeps
// one set. The bytes decode_chunk returns stay valid until the thread's next decode_chunk.
ChunkBuffers& thread_chunk_buffers();

// The stored bytes of chunk `c` of `layout` as the application sees them (read with pread from
// `fd`, inflated, unshuffled): exactly `chunk_bytes` bytes, pointing into `buf`. A damaged or
// truncated chunk throws InputError("<where>: ...", "... fetch it again"). Thread-safe.
const unsigned char* decode_chunk(int fd, const ChunkLayout& layout, const Chunk& c,
                                  size_t chunk_bytes, const std::string& where, ChunkBuffers& buf);

} // namespace baims::io::h5
