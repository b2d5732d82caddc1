#pragma once
// The global attributes gen sets on a cube (CF/ACDD: extent, time coverage, dates, history,
// source, input_attrs).

#include "baims/cube/cube_state.hpp"
#include "baims/cube/gen_config.hpp"

#include <string>

namespace baims::cube::gen {

// Sets st.attrs from the state (grid, time axis, sources), the config's output_metadata and the
// command line (one history line per run; the first and the latest 98 are kept).
void set_global_attrs(CubeState& st, const GenConfig& c, const std::string& command_line);

// Sets (or, when no step has any, removes) the global attribute input_attrs (INPUT_ATTRS) from
// the step records: {time of the step: {input name: its global attributes}} for each step whose
// record holds its inputs' attributes (made with keep_input_attrs). Returns whether it changed.
bool set_input_attrs(CubeState& st);

} // namespace baims::cube::gen
