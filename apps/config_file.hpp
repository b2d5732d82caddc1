#pragma once
// -c/--config FILE for commands whose options are plain command-line options (extract,
// rasterize): a YAML mapping whose keys are the command's long option names without "--" ("_" may
// stand for "-"), each with a scalar or a list of scalars. Options given on the command line win
// over the file. ${ENV} is substituted as in every baims config (config::Document).

#include <CLI/CLI.hpp>

#include <map>
#include <string>

namespace baims::app {

// Sets every option of cmd named in the file that was not given on the command line, with the
// option's own conversion and checks. aliases maps keys to option names that are not long options
// (a positional: {"aoi", "AOI"}). Throws ConfigError ("<file>:<line>:<col>: unknown key 'x' (did
// you mean 'y'?)", a bad value, a file that is not a mapping): exit 3, docs/exit-codes.md.
void apply_config_file(CLI::App& cmd, const std::string& file,
                       const std::map<std::string, std::string>& aliases = {});

} // namespace baims::app
