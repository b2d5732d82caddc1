#pragma once
// gen's plan: which time slices the inputs make, where each goes in the cube, which variables are
// written, and the record (.baims-sources.json) of what made each time step. Apart from
// scan_inputs (reads the inputs' headers) and the CRC-32 of an input (read when first needed,
// InputInfo::crc), these are pure functions of their arguments.

#include "gen_types.hpp"

#include "baims/cube/gen.hpp"

#include <filesystem>
#include <optional>
#include <set>
#include <utility>

namespace baims::cube::gen {

// The cube's directory as gen uses it: without a trailing separator (so that "<path>.baims-new"
// is its sibling, not a folder inside it), "." and ".." resolved, and a symbolic link to a
// directory replaced by its target (the new cube is built beside the target and renamed onto it;
// the link stays). Ordinary paths are only made lexically normal, so messages show them as given.
std::filesystem::path output_dir(const std::string& configured);

// Opens every input's header with the input processor `processor` and its params
// (io::open_input); bad ones are reported (result.failed) and kept with failed = true, or fail
// fast. With keep_attrs, each input's global attributes are read too (InputInfo::attrs).
std::vector<InputInfo> scan_inputs(const std::vector<std::string>& paths,
                                   const std::string& processor, const nlohmann::json& params,
                                   bool fail_fast, bool keep_attrs, GenResult& result);

// All slices of a cube share one calendar (SPEC §2): that of the good inputs and of the cube.
grid::time::Calendar common_calendar(const std::vector<InputInfo>& inputs,
                                     const std::optional<CubeState>& old, const std::string& cube);

// One slice per time step of the good inputs, sorted by time; steps with equal times (to 1 ms)
// are combined (mosaic) or the later input wins (with a warning).
std::vector<Slice> make_slices(const std::vector<InputInfo>& inputs, bool mosaic);

// The output variables of a new cube (metadata not yet set: see new_data_var).
std::vector<OutVar> select_new_vars(const GenConfig& c, const std::vector<InputInfo>& inputs);

// The variable of a new cube with H x W cells in chunks of cy x cx.
DataVar new_data_var(const OutVar& o, const GenConfig& c, size_t H, size_t W, size_t cy, size_t cx);

// The output variables of an update: those of the cube (`cube` names it in messages).
std::vector<OutVar> cube_vars(const GenConfig& c, const std::vector<InputInfo>& inputs,
                              const CubeState& old, const std::string& cube);

// Every packing entry of the config names an output variable (else ConfigError).
void check_packing_names(const GenConfig& c, const std::vector<OutVar>& vars);

// Numbers the slices (seq) and marks those that replace a time step of the cube (same time to
// 1 ms; old_index is that step).
void place_slices(std::vector<Slice>& slices, const CubeState* old);

// The cube's time steps that the slices replace.
std::set<size_t> replaced_steps(const std::vector<Slice>& slices);

// The time bounds of slice s equal those of the cube's time step it replaces.
bool same_bounds(const CubeState& cube, const Slice& s);

// What, besides its inputs, decides the bytes of a time step: variables (with their input names
// and resampling), compressors, packing, mosaicking and the baims version. Grid and chunks are the
// cube's.
std::string recipe_of(const std::vector<OutVar>& vars, const GenConfig& c);

// Reads the CRC-32 (InputInfo::crc) of the inputs of s now, so that slice_record does not have to
// (gen: while the slice is computed). An input whose CRC cannot be read is left for later: the
// error comes from slice_record, as without this.
void prefetch_crcs(const Slice& s, const std::vector<InputInfo>& inputs);

// The .baims-sources.json record of a slice.
nlohmann::json slice_record(const Slice& s, const std::vector<InputInfo>& inputs,
                            const std::string& recipe);

// rec with each source's global attributes (InputInfo::attrs, when read: keep_input_attrs) set;
// the attributes of sources whose input has none read stay as they were.
nlohmann::json with_input_attrs(nlohmann::json rec, const Slice& s,
                                const std::vector<InputInfo>& inputs);

// Whether the record rec of a time step vouches for slice s: same recipe, and per source the
// same name, size and step, and the same mtime, or else the same CRC-32 (a touched or copied
// file; then `refresh` is set: the record should take the new mtime). Reads no file whose mtime
// matches.
bool record_matches(const nlohmann::json& rec, const Slice& s, const std::vector<InputInfo>& inputs,
                    const std::string& recipe, bool& refresh);

// Replacing slices whose record vouches for them need no computing.
struct Unchanged {
    size_t count = 0;
    std::vector<std::pair<size_t, nlohmann::json>> refreshed; // old index, new record
    std::vector<Slice> todo;                                  // the slices to compute
};
// Only for a cube with a record per time step (old.sources.size() == old.nt()).
Unchanged split_unchanged(std::vector<Slice> slices, const CubeState& old,
                          const std::vector<InputInfo>& inputs, const std::string& recipe);

// The state of a new cube made of the `written` slices (global attributes not yet set).
CubeState new_cube_state(const grid::Grid& g, grid::time::Calendar calendar, size_t cy, size_t cx,
                         const std::vector<Slice>& written, const std::vector<OutVar>& vars,
                         const std::vector<InputInfo>& inputs, const std::string& recipe);

// An update's new time axis: the cube's steps and the written slices, sorted by time (a slice
// replacing a step takes its place).
struct MergedAxis {
    CubeState state;                 // the cube's state with the new time, bounds and sources
    std::vector<long> mapping;       // old time index -> new time index
    std::vector<size_t> final_index; // written slice k -> its time index in the new cube
    size_t appended = 0, inserted = 0, replaced = 0;
};
MergedAxis merge_time_axis(const CubeState& old, const std::vector<Slice>& written,
                           std::vector<std::pair<size_t, nlohmann::json>> refreshed,
                           const std::vector<InputInfo>& inputs, const std::string& recipe);

} // namespace baims::cube::gen
