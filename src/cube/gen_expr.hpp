#pragma once
// gen's expressions: processed_variables and output_variables[*].valid_pixel_expression, resolved
// once against the inputs' variables and evaluated on each input's source pixels before
// resampling (as xcube does), so that resampling sees the computed and masked values.
//
//   processed_variables are computed in the order given; each may use the input variables and
//   the processed variables before it (a later one of the same name replaces the earlier one or
//   the input variable). An entry without an expression is the variable of that name, masked by
//   its valid_pixel_expression; a bare name applies the variable's own `expression` /
//   `valid_pixel_expression` attributes (xcube). A processed variable is an output variable only
//   when output_variables names it (xcube), unless it replaces an input variable.
//   A valid_pixel_expression that is false makes the pixel NaN.

#include "gen_types.hpp"

#include "baims/cube/expr.hpp"
#include "baims/cube/gen_config.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace baims::cube::gen {

// The processed variables as output-variable candidates (name and attributes) for
// select_new_vars / cube_vars. Empty without processed_variables.
std::vector<io::VarInfo> processed_var_infos(const GenConfig& c,
                                             const std::vector<InputInfo>& inputs);

// What of the expressions goes into a time step's recipe (null without expressions, so that the
// recipe of a config without expressions does not change).
nlohmann::json expressions_recipe(const GenConfig& c);

class Expressions {
public:
    // Resolves every expression of the config against the inputs' variables; null when the
    // config has none that concern `vars`. Throws ConfigError naming the expression, where it is
    // in the config and the position in it.
    static std::unique_ptr<Expressions>
    make(const GenConfig& c, const std::vector<InputInfo>& inputs, const std::vector<OutVar>& vars);

    // The input variables the expressions read (besides the output variables).
    const std::vector<std::string>& reads() const { return m_read_names; }

    // Reads input variable `name` of the current source into buf (npix values); false when the
    // input does not have it.
    using Read = std::function<bool(const std::string& name, Slab& buf)>;
    // The exact integers of input variable `name` and where they are valid (npix each,
    // io::Input::read_words): the flag words of input variables wider than 24 bits whose flags an
    // expression tests; false when the input does not have it.
    using ReadWords = std::function<bool(const std::string& name, io::FlagWords& words)>;

    // For one source of a slice with npix pixels: data[v] holds output variable v as read from
    // the input (empty when the input lacks it); computed outputs are written into it and masks
    // applied. scratch holds buffers reused between calls. Throws InputError when a
    // valid_pixel_expression needs a variable the input lacks.
    void apply(const std::string& input, size_t npix, const Read& read, const ReadWords& read_words,
               std::vector<Slab*>& data, std::vector<Slab>& scratch, int threads) const;

private:
    struct Step {
        std::string name, what; // what: for messages
        std::optional<expr::Program> expression;
        std::optional<expr::Program> valid;
        size_t slot = 0;                 // the slot it defines
        std::optional<size_t> copy_from; // no expression: the value of this slot
    };
    struct Output {
        std::optional<size_t> slot; // computed output: its slot
        std::optional<expr::Program> valid;
        std::string valid_text; // its valid_pixel_expression (outputs that share one share a mask)
        std::string what;
        std::string input; // OutVar::input
    };
    std::vector<std::string> m_slot_names; // input variables first, then one per step
    size_t m_inputs = 0;                   // slots [0, m_inputs) are input variables
    std::vector<Step> m_steps;
    std::vector<Output> m_outputs; // one per output variable
    std::vector<bool> m_needed;    // per slot
    std::vector<bool> m_exact;     // per slot: an input variable read with read_words too
    // per slot: its values are read (needed, and not only by flag tests that take exact words)
    std::vector<bool> m_values;
    std::vector<std::string> m_read_names;
};

} // namespace baims::cube::gen
