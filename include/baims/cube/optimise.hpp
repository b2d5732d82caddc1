#pragma once
// baims optimise: consolidated metadata, coordinates in one chunk, optional streaming rechunk of
// the data variables, to a new cube or in place, crash-safely (docs/cli/optimise.md,
// docs/crash-safety.md "optimise --in-place").

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace baims::cube {

struct OptimiseRequest {
    std::filesystem::path cube;
    std::filesystem::path output; // empty with in_place
    bool in_place = false;
    std::map<std::string, size_t> chunks; // dimension -> chunk size for data variables
    bool dry_run = false;
    int threads = 1;
};

struct OptimiseResult {
    std::vector<std::string> rewritten; // arrays rewritten with new chunks
    bool consolidated = false;          // .zmetadata written
    bool changed = false;
    bool in_place = false;
    // Chunk keys outside their array's chunk grid ("chl/12.0.0" in an array of 12 time steps: a
    // killed append's leftovers, which no reader sees): -o leaves them out of the copy, --in-place
    // deletes them (a dry run only lists them).
    std::vector<std::string> outside;
    std::string summary() const;
};

// "time=1,lat=512,lon=512" -> {time:1, lat:512, lon:512}. Throws UsageError.
std::map<std::string, size_t> parse_chunk_spec(const std::string& spec);

OptimiseResult optimise(const OptimiseRequest& req);

} // namespace baims::cube
