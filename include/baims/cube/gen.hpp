#pragma once
// `baims gen`: build or extend a Zarr cube from CF NetCDF inputs.

#include "baims/cube/gen_config.hpp"

#include <string>
#include <vector>

namespace baims::cube {

struct GenRequest {
    GenConfig config;
    std::vector<std::string> inputs; // from the command line; else config.input_paths
    bool fail_fast = false;
    bool dry_run = false;
    int threads = 1;
    std::string command_line; // for the history attribute
    // --partition K/N (1 <= K <= N; N = 0: the whole cube): the chunks of part K of the chunk grid
    // of a new cube or of an update of an existing one, marked done beside the cube; --finalize
    // publishes the cube or commits the update once all N are done (docs/scale-out.md).
    size_t partition = 0, partitions = 0;
    bool finalize = false;
};

struct GenResult {
    size_t inputs_total = 0;
    std::vector<std::string> failed; // "path: reason"
    bool created = false;
    size_t appended = 0, inserted = 0, replaced = 0, unchanged = 0;
    size_t time_steps = 0; // in the cube afterwards
    bool up_to_date = false;
    size_t partition = 0, partitions = 0; // a partition was written (not yet visible)
    bool partition_of_update = false;     // ... of an update of an existing cube
    int exit_code() const;
    std::string summary() const;
};

// Expands files, globs (*, ?, and ** for any depth) and .txt lists (one path per line).
// Missing explicit files are kept (they are reported as bad inputs later).
std::vector<std::string> resolve_inputs(const std::vector<std::string>& specs);

GenResult generate(const GenRequest& request);

} // namespace baims::cube
