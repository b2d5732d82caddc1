#include "baims/zarr/array.hpp"

#include "baims/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace baims::zarr {
namespace {

template <class T> T fill_as(const ArrayMeta& meta) {
    const auto& fill = meta.fill_value;
    if constexpr (std::is_floating_point_v<T>) {
        return static_cast<T>(meta.fill_as_double());
    } else {
        if (fill.is_boolean()) {
            return static_cast<T>(fill.get<bool>() ? 1 : 0);
        }
        if (fill.is_number_unsigned()) {
            return static_cast<T>(fill.get<uint64_t>());
        }
        if (fill.is_number_integer()) {
            return static_cast<T>(fill.get<int64_t>());
        }
        if (fill.is_number_float()) {
            return static_cast<T>(fill.get<double>());
        }
        return T{0};
    }
}

// True if pred holds for all n values; blocks without early exit inside, so loops vectorise.
template <class T, class Pred> bool all_of_blocked(const T* p, size_t n, Pred pred) {
    constexpr size_t BLOCK = 1024;
    for (size_t i = 0; i < n; i += BLOCK) {
        const size_t end = std::min(n, i + BLOCK);
        bool ok = true;
        for (size_t k = i; k < end; ++k) {
            ok &= pred(p[k]);
        }
        if (!ok) {
            return false;
        }
    }
    return true;
}

// Copies the part of chunk `index` that lies inside the array between a full chunk buffer and a
// whole-array buffer (C order both): array → chunk if to_chunk, else chunk → array.
void copy_region(const ArrayMeta& meta, const std::vector<size_t>& index, const char* from,
                 char* to, bool to_chunk) {
    const size_t nd = meta.shape.size();
    const size_t item = meta.itemsize();
    if (nd == 0) {
        std::memcpy(to, from, item);
        return;
    }
    std::vector<size_t> start(nd), extent(nd), astride(nd), cstride(nd);
    for (size_t d = 0; d < nd; ++d) {
        start[d] = index[d] * meta.chunks[d];
        extent[d] = std::min(meta.chunks[d], meta.shape[d] - start[d]);
    }
    astride[nd - 1] = 1;
    cstride[nd - 1] = 1;
    for (size_t d = nd - 1; d > 0; --d) {
        astride[d - 1] = astride[d] * meta.shape[d];
        cstride[d - 1] = cstride[d] * meta.chunks[d];
    }
    const size_t row_bytes = extent[nd - 1] * item;
    std::vector<size_t> pos(nd, 0); // position inside the chunk, last dim always 0
    while (true) {
        size_t a = 0;
        size_t c = 0;
        for (size_t d = 0; d < nd; ++d) {
            a += (start[d] + pos[d]) * astride[d];
            c += pos[d] * cstride[d];
        }
        if (to_chunk) {
            std::memcpy(to + c * item, from + a * item, row_bytes);
        } else {
            std::memcpy(to + a * item, from + c * item, row_bytes);
        }
        // next row: increment dims nd-2 .. 0
        size_t d = nd - 1;
        while (d > 0) {
            --d;
            if (++pos[d] < extent[d]) {
                break;
            }
            pos[d] = 0;
            if (d == 0) {
                return;
            }
        }
        if (nd == 1) {
            return;
        }
    }
}

// Calls f(index) for every chunk of the grid, in C order.
template <class F> void for_each_chunk(const ArrayMeta& meta, F&& f) {
    const auto grid = meta.chunk_grid();
    for (size_t g : grid) {
        if (g == 0) {
            return;
        }
    }
    std::vector<size_t> index(grid.size(), 0);
    while (true) {
        f(index);
        size_t d = grid.size();
        while (d > 0) {
            --d;
            if (++index[d] < grid[d]) {
                break;
            }
            index[d] = 0;
            if (d == 0) {
                return;
            }
        }
        if (grid.empty()) {
            return;
        }
    }
}

std::string chunk_context(const char* verb, const std::string& key, const std::string& name,
                          const KvStore& store) {
    return std::string(verb) + " chunk " + key.substr(name.size() + 1) + " of '" + name + "' in " +
           store.describe();
}

} // namespace

std::string chunk_store_key(const std::string& name, const ArrayMeta& meta,
                            const std::vector<size_t>& chunk_index) {
    return name + "/" + meta.chunk_key(chunk_index);
}

void write_chunk(KvStore& store, const std::string& name, const ArrayMeta& meta,
                 const std::vector<size_t>& chunk_index, const void* data, int nthreads) {
    const std::string key = chunk_store_key(name, meta, chunk_index);
    try {
        // One encode buffer per thread, reused from chunk to chunk.
        thread_local std::string buffer;
        const auto encoded = encode_into(meta.compressor, data, meta.chunk_bytes(), meta.itemsize(),
                                         buffer, nthreads);
        store.put(key, encoded);
        if (buffer.capacity() > (size_t{64} << 20)) {
            std::string().swap(buffer); // do not keep very large buffers alive
        }
    } catch (const Error& e) {
        e.rethrow_with_context(chunk_context("writing", key, name, store));
    }
}

bool read_chunk(const KvStore& store, const std::string& name, const ArrayMeta& meta,
                const std::vector<size_t>& chunk_index, void* out, int nthreads) {
    const std::string key = chunk_store_key(name, meta, chunk_index);
    try {
        auto bytes = store.get(key);
        if (!bytes) {
            return false;
        }
        decode(meta.compressor, *bytes, out, meta.chunk_bytes(), nthreads);
        return true;
    } catch (const Error& e) {
        e.rethrow_with_context(chunk_context("reading", key, name, store));
        throw; // not reached (GCC does not see [[noreturn]] through a virtual call)
    }
}

bool is_all_fill(const ArrayMeta& meta, const void* data, size_t n_elements) {
    if (meta.fill_value.is_null()) {
        return false;
    }
    const bool nan_fill = meta.fill_is_nan();
    return visit_dtype(meta.dtype_info(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* p = static_cast<const T*>(data);
        if constexpr (std::is_floating_point_v<T>) {
            if (nan_fill) {
                return all_of_blocked(p, n_elements, [](T v) { return v != v; });
            }
        }
        const T fill = fill_as<T>(meta);
        return all_of_blocked(p, n_elements, [fill](T v) { return v == fill; });
    });
}

bool is_all_fill(const ArrayMeta& meta, const void* data) {
    return is_all_fill(meta, data, meta.chunk_elements());
}

void fill_elements(const ArrayMeta& meta, void* out, size_t n_elements) {
    visit_dtype(meta.dtype_info(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        T* p = static_cast<T*>(out);
        std::fill(p, p + n_elements, fill_as<T>(meta));
    });
}

void fill_chunk(const ArrayMeta& meta, void* out) {
    fill_elements(meta, out, meta.chunk_elements());
}

void write_whole(KvStore& store, const std::string& name, const ArrayMeta& meta, const void* data) {
    if (meta.chunks == meta.shape) {
        for_each_chunk(meta, [&](const std::vector<size_t>& index) {
            write_chunk(store, name, meta, index, data);
        });
        return;
    }
    std::vector<char> chunk(meta.chunk_bytes());
    const char* array = static_cast<const char*>(data);
    for_each_chunk(meta, [&](const std::vector<size_t>& index) {
        fill_chunk(meta, chunk.data());
        copy_region(meta, index, array, chunk.data(), true);
        write_chunk(store, name, meta, index, chunk.data());
    });
}

void read_whole(const KvStore& store, const std::string& name, const ArrayMeta& meta, void* out) {
    std::vector<char> chunk(meta.chunk_bytes());
    for_each_chunk(meta, [&](const std::vector<size_t>& index) {
        if (!read_chunk(store, name, meta, index, chunk.data())) {
            fill_chunk(meta, chunk.data());
        }
        copy_region(meta, index, chunk.data(), static_cast<char*>(out), false);
    });
}

} // namespace baims::zarr
