#pragma once
// baims prune: delete the chunk files of data variables whose decoded values are all missing
// (docs/cli/prune.md). Also the cube inspection that prune and optimise share: which arrays a
// cube holds and which of them are data variables.

#include "baims/zarr/array_meta.hpp"
#include "baims/zarr/kv_store.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace baims::cube {

struct CubeArray {
    std::string name; // key prefix in the store ("sst")
    zarr::ArrayMeta meta;
    nlohmann::json attrs;          // .zattrs ({} if none)
    std::vector<std::string> dims; // _ARRAY_DIMENSIONS (empty if absent)
    bool is_data = false;          // a data variable (see classify_arrays)
};

// Reads the arrays directly under the root of a Zarr v2 group on disk or on object storage
// (a /vsis3/ path; docs/object-storage.md). Throws InputError if the
// path does not exist, is not a Zarr group (no .zgroup), or holds a folder with chunk files but
// no .zarray. Hidden entries (".baims-*") and sub-groups are skipped.
std::vector<CubeArray> read_cube_arrays(const std::filesystem::path& cube);
// The same, read through `store` (the cube at `cube`, which must be a Zarr group: not checked
// again), e.g. a store that keeps what an earlier reader of the metadata read.
std::vector<CubeArray> read_cube_arrays(const zarr::KvStore& store,
                                        const std::filesystem::path& cube);

// Marks the data variables. An array is a coordinate (never pruned, unchunked by optimise) if
//  - it is named in any "coordinates" attribute (of the group or of any array), or in any
//    "bounds" or "grid_mapping" attribute, or its name ends in "_bnds" or "_bounds";
//  - it is 1-D and its name is its dimension (a dimension variable);
//  - it has no _ARRAY_DIMENSIONS, or fewer than 2 dimensions;
//  - it is named "crs" or "spatial_ref".
// Every other array is a data variable.
void classify_arrays(std::vector<CubeArray>& arrays, const nlohmann::json& root_attrs);

struct PruneRequest {
    std::filesystem::path cube;
    bool dry_run = false;
    int threads = 1;
};

struct PrunedChunk {
    std::string key; // "sst/0.1.2"
    size_t bytes = 0;
};

struct PruneResult {
    size_t chunks_read = 0;
    size_t bytes_read = 0;
    std::vector<PrunedChunk> pruned; // sorted by key
    size_t bytes_pruned = 0;
    std::vector<std::string> variables;    // data variables examined
    std::vector<std::string> kept_no_fill; // data variables skipped: fill_value null
    bool dry_run = false;
    std::string summary() const;
};

// A chunk is prunable if every decoded element is missing, as xarray decodes it with
// mask_and_scale: NaN, or equal to the zarr fill_value, or to a missing_value attribute. Only
// arrays with a non-null fill_value are pruned (a missing chunk reads as the fill value). Each
// chunk is read once; the files are unlinked (objects deleted) one by one (atomic per chunk).
// Takes the cube's .baims-lock (a lease on object storage; not with dry_run). .zmetadata is not
// touched.
PruneResult prune(const PruneRequest& req);

// True if every element of a decoded chunk (n elements of meta's dtype) is missing as above.
bool chunk_all_missing(const zarr::ArrayMeta& meta, const nlohmann::json& attrs, const void* data,
                       size_t n);

} // namespace baims::cube
