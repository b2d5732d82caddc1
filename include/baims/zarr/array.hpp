#pragma once
// Chunk I/O for one Zarr v2 array. Chunks are full-size (edge chunks too), C order, encoded with
// the array's compressor. All functions are safe to call from many threads at once (on different
// chunks) as long as the store is.

#include "baims/zarr/array_meta.hpp"
#include "baims/zarr/kv_store.hpp"

#include <string>
#include <vector>

namespace baims::zarr {

// "<name>/<chunk key>", e.g. "sst/0.1.2".
std::string chunk_store_key(const std::string& name, const ArrayMeta& meta,
                            const std::vector<size_t>& chunk_index);

// Encodes and stores one chunk. data holds a full chunk: chunk_elements() * itemsize() bytes, C
// order. Errors are OutputError with "writing chunk <key> of '<name>'" context.
void write_chunk(KvStore& store, const std::string& name, const ArrayMeta& meta,
                 const std::vector<size_t>& chunk_index, const void* data, int nthreads = 1);

// Reads and decodes one chunk into out (chunk_bytes() bytes). Returns false, leaving out
// untouched, if the chunk is absent (the caller fills it, e.g. with fill_chunk()). Corrupt data
// throws InputError with "reading chunk <key> of '<name>'" context.
bool read_chunk(const KvStore& store, const std::string& name, const ArrayMeta& meta,
                const std::vector<size_t>& chunk_index, void* out, int nthreads = 1);

// True if every element of a full chunk equals the fill value: all NaN for a NaN fill, all equal
// (==) for a numeric one. Always false for a null fill value.
bool is_all_fill(const ArrayMeta& meta, const void* data);
// The same for n elements.
bool is_all_fill(const ArrayMeta& meta, const void* data, size_t n_elements);

// Sets the chunk_elements() elements of out to the fill value (0 for a null fill value).
void fill_chunk(const ArrayMeta& meta, void* out);
// The same for n elements.
void fill_elements(const ArrayMeta& meta, void* out, size_t n_elements);

// Writes a whole (small) array held in memory, C order, product(shape) elements: every chunk is
// written, all-fill or not (coordinates). With chunks == shape this is one chunk and no copy.
// Writes only chunks; the metadata goes through write_array_meta().
void write_whole(KvStore& store, const std::string& name, const ArrayMeta& meta, const void* data);

// Reads a whole array into out (product(shape) elements, C order); absent chunks read as the
// fill value.
void read_whole(const KvStore& store, const std::string& name, const ArrayMeta& meta, void* out);

} // namespace baims::zarr
