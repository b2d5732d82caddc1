// gen's expressions: resolving processed_variables and valid_pixel_expression against the inputs,
// and evaluating them on the source pixels of each input.

#include "gen_expr.hpp"

#include "parallel.hpp"

#include "baims/core/error.hpp"
#include "baims/core/log.hpp"
#include "baims/core/text.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <set>

namespace baims::cube::gen {
namespace {

int storage_bits(const std::string& nc_type) {
    if (nc_type == "byte" || nc_type == "ubyte" || nc_type == "char") {
        return 8;
    }
    if (nc_type == "short" || nc_type == "ushort") {
        return 16;
    }
    if (nc_type == "int" || nc_type == "uint") {
        return 32;
    }
    return 64;
}

// Every variable of the good inputs, first occurrence wins.
std::vector<const io::VarInfo*> input_vars(const std::vector<InputInfo>& inputs) {
    std::vector<const io::VarInfo*> out;
    std::set<std::string> seen;
    for (const auto& in : inputs) {
        if (in.failed) {
            continue;
        }
        for (const auto& v : in.vars) {
            if (seen.insert(v.name).second) {
                out.push_back(&v);
            }
        }
    }
    return out;
}

const io::VarInfo* find_input(const std::vector<const io::VarInfo*>& vars,
                              const std::string& name) {
    for (const auto* v : vars) {
        if (v->name == name) {
            return v;
        }
    }
    return nullptr;
}

std::string text_attr(const nlohmann::json& attrs, const char* key) {
    auto it = attrs.find(key);
    return it != attrs.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The expression and mask of a processed entry: its own, or for a bare name the input
// variable's `expression` / `valid_pixel_expression` attributes (xcube).
struct Resolved {
    std::string expression, valid, expression_where, valid_where;
};
Resolved resolve_entry(const ProcessedVariable& p, const io::VarInfo* input) {
    Resolved r{p.expression, p.valid_pixel_expression, p.expression_where, p.valid_where};
    if (r.expression.empty() && r.valid.empty() && input) {
        r.expression = text_attr(input->attrs, "expression");
        r.valid = text_attr(input->attrs, "valid_pixel_expression");
        r.expression_where =
            p.where + ": the attribute 'expression' of input variable '" + p.name + "'";
        r.valid_where =
            p.where + ": the attribute 'valid_pixel_expression' of input variable '" + p.name + "'";
    }
    return r;
}

// Flag variables wider than float32's 24 significant bits. An input variable's flag tests use
// its exact words (Input::read_words); a processed variable's are float32 values: in a 32- or
// 64-bit flag variable whose highest flag bit is H, bits below H - 23 are rounded away where bit H
// is set, which gen says once per such variable whose tested flags have those bits.
struct WideFlags {
    size_t inputs = 0;       // slots [0, inputs) are input variables
    std::set<size_t> exact;  // input slots whose flag tests need exact words
    std::set<size_t> warned; // processed slots warned about
};

void note_wide_flags(const expr::Program& p, const std::vector<expr::Symbol>& symbols,
                     WideFlags& wide) {
    for (const auto& [slot, mask] : p.flag_tests()) {
        const auto& sym = symbols[slot];
        if (sym.bits <= 24 || mask == 0) {
            continue;
        }
        if (slot < wide.inputs) {
            wide.exact.insert(slot);
            continue;
        }
        if (wide.warned.count(slot)) {
            continue;
        }
        uint64_t all = 0;
        if (auto it = sym.attrs.find("flag_masks"); it != sym.attrs.end() && it->is_array()) {
            for (const auto& m : *it) {
                all |= m.is_number_integer() ? static_cast<uint64_t>(m.get<int64_t>()) : 0;
            }
        }
        all &= sym.bits >= 64 ? ~uint64_t(0) : (uint64_t(1) << sym.bits) - 1;
        if (all == 0) {
            continue;
        }
        const int high = 63 - std::countl_zero(all), low = std::countr_zero(mask);
        if (high - low >= 24) {
            wide.warned.insert(slot);
            log::warn("flag tests of the processed variable '" + sym.name + "' (" +
                      std::to_string(sym.bits) + "-bit integers) use float32 values: where bit " +
                      std::to_string(high) + " is set, bits below " + std::to_string(high - 23) +
                      " are rounded, so tests of those flags can be wrong there; test the "
                      "input variable's flags instead");
        }
    }
}

expr::Program compile(const std::string& text, const std::string& where,
                      const std::vector<expr::Symbol>& symbols, WideFlags& wide) {
    try {
        auto p = expr::Program::compile(text, symbols);
        note_wide_flags(p, symbols, wide);
        return p;
    } catch (const expr::ExprError& e) {
        std::vector<std::string> names;
        for (const auto& s : symbols) {
            if (std::find(names.begin(), names.end(), s.name) == names.end()) {
                names.push_back(s.name);
            }
        }
        if (names.size() > 30) {
            names.resize(30);
            names.push_back("...");
        }
        throw ConfigError(where + ": " + expr::describe(text, e),
                          expression_hint() + "; it may use: " + text::join(names, ", "));
    }
}

// Evaluates p over npix pixels on the run's threads, in tasks of 64 Ki pixels: task pixels
// [off, off + n) into block(off) (n floats), then done(off, n, that block).
// words[slot]: null, or the slot's exact values (flag tests use them).
template <typename Block, typename Done>
void eval_blocks(const expr::Program& p, const std::vector<const float*>& slots,
                 const std::vector<expr::Program::Words>& words, size_t npix, int threads,
                 Block block, Done done) {
    constexpr size_t TASK = size_t(1) << 16;
    const size_t tasks = (npix + TASK - 1) / TASK;
    parallel_for(tasks, threads, [&](size_t t, size_t) {
        const size_t off = t * TASK, n = std::min(TASK, npix - off);
        std::vector<const float*> at(slots.size(), nullptr);
        std::vector<expr::Program::Words> w(slots.size());
        for (size_t s : p.slots()) {
            at[s] = slots[s] ? slots[s] + off : nullptr; // (null: only its words are read)
            w[s] = words[s].at(off);
        }
        float* out = block(off, TASK);
        p.eval(at.data(), n, out, w.data());
        done(off, n, out);
    });
}

// p's values over npix pixels into out.
void eval_parallel(const expr::Program& p, const std::vector<const float*>& slots,
                   const std::vector<expr::Program::Words>& words, size_t npix, float* out,
                   int threads) {
    eval_blocks(
        p, slots, words, npix, threads, [&](size_t off, size_t) { return out + off; },
        [](size_t, size_t, const float*) {});
}

// Evaluates the mask p over npix pixels and, per pixel, either stores whether it holds (keep:
// p != 0; NaN counts as true, as in every mask here) or, with values, sets the pixels where it
// does not to NaN. The values are read by p before they are changed, block by block (p may read
// them: a mask of the variable itself). No float mask of npix values is made (80 MB for an OLCI
// swath).
void eval_mask_parallel(const expr::Program& p, const std::vector<const float*>& slots,
                        const std::vector<expr::Program::Words>& words, size_t npix,
                        std::uint8_t* keep, float* values, int threads) {
    eval_blocks(
        p, slots, words, npix, threads,
        [](size_t, size_t size) {
            thread_local std::vector<float> mask;
            mask.resize(size);
            return mask.data();
        },
        [&](size_t off, size_t n, const float* mask) {
            for (size_t i = 0; i < n; ++i) {
                if (keep) {
                    keep[off + i] = mask[i] != 0.0f;
                } else if (!(mask[i] != 0.0f)) {
                    values[off + i] = std::numeric_limits<float>::quiet_NaN();
                }
            }
        });
}

} // namespace

std::vector<io::VarInfo> processed_var_infos(const GenConfig& c,
                                             const std::vector<InputInfo>& inputs) {
    std::vector<io::VarInfo> out;
    const auto vars = input_vars(inputs);
    for (const auto& p : c.processed) {
        io::VarInfo v;
        v.name = p.name;
        v.nc_type = "float";
        auto prev = std::find_if(out.begin(), out.end(),
                                 [&](const io::VarInfo& o) { return o.name == p.name; });
        if (prev != out.end()) {
            v.attrs = prev->attrs;
        } else if (const auto* in = find_input(vars, p.name); in && p.expression.empty()) {
            v.attrs = in->attrs;
        }
        for (auto it = p.attrs.begin(); it != p.attrs.end(); ++it) {
            v.attrs[it.key()] = it.value();
        }
        if (prev != out.end()) {
            *prev = std::move(v);
        } else {
            out.push_back(std::move(v));
        }
    }
    return out;
}

nlohmann::json expressions_recipe(const GenConfig& c) {
    nlohmann::json j;
    for (const auto& p : c.processed) {
        j["processed"].push_back({p.name, p.expression, p.valid_pixel_expression});
    }
    for (const auto& v : c.variables) {
        if (!v.valid_pixel_expression.empty()) {
            j["valid"].push_back({v.pattern, v.rename, v.valid_pixel_expression});
        }
    }
    return j;
}

std::unique_ptr<Expressions> Expressions::make(const GenConfig& c,
                                               const std::vector<InputInfo>& inputs,
                                               const std::vector<OutVar>& vars) {
    auto ex = std::make_unique<Expressions>();
    const auto ivars = input_vars(inputs);
    std::vector<expr::Symbol> symbols;
    for (const auto* v : ivars) {
        symbols.push_back({v->name, v->attrs, storage_bits(v->nc_type)});
        ex->m_slot_names.push_back(v->name);
    }
    ex->m_inputs = symbols.size();
    WideFlags wide;
    wide.inputs = ex->m_inputs;
    auto latest = [&](const std::string& name) -> std::optional<size_t> {
        for (size_t k = symbols.size(); k-- > 0;) {
            if (symbols[k].name == name) {
                return k;
            }
        }
        return std::nullopt;
    };
    bool any = false;
    for (const auto& p : c.processed) {
        const auto r = resolve_entry(p, find_input(ivars, p.name));
        Step st;
        st.name = p.name;
        st.what = p.where;
        expr::Symbol sym{p.name};
        if (!r.expression.empty()) {
            st.expression = compile(r.expression, r.expression_where, symbols, wide);
        } else {
            st.copy_from = latest(p.name);
            if (!st.copy_from) {
                std::vector<std::string> names;
                for (const auto& s : symbols) {
                    names.push_back(s.name);
                }
                auto guess = text::did_you_mean(p.name, names);
                throw ConfigError(p.where + ": no input has the variable '" + p.name +
                                      "' and the entry has no expression" +
                                      (guess.empty() ? "" : " (did you mean '" + guess + "'?)"),
                                  "Give it an expression, or name an input variable");
            }
            sym.attrs = symbols[*st.copy_from].attrs;
            sym.bits = symbols[*st.copy_from].bits;
            if (r.valid.empty()) {
                continue; // the variable itself: nothing to do
            }
        }
        for (auto it = p.attrs.begin(); it != p.attrs.end(); ++it) {
            sym.attrs[it.key()] = it.value();
        }
        st.slot = symbols.size();
        symbols.push_back(sym);
        ex->m_slot_names.push_back(p.name);
        if (!r.valid.empty()) {
            st.valid =
                compile(r.valid, r.valid_where, symbols, wide); // may use the variable itself
        }
        ex->m_steps.push_back(std::move(st));
        any = true;
    }
    for (const auto& o : vars) {
        Output out;
        out.what = "output variable '" + o.name + "'";
        out.input = o.input;
        if (auto k = latest(o.input); k && *k >= ex->m_inputs) {
            out.slot = k;
        }
        for (const auto& spec : c.variables) {
            // (an entry without a new name makes an output of the input's name: 'chl' and
            // 'chl: {name: chl_big}' are two outputs, each with its own entry)
            const bool match = spec.rename.empty()
                                   ? o.name == o.input && text::glob_match(spec.pattern, o.input)
                                   : spec.rename == o.name;
            if (!match) {
                continue;
            }
            if (!spec.valid_pixel_expression.empty()) {
                out.valid = compile(spec.valid_pixel_expression, spec.valid_where, symbols, wide);
                out.valid_text = spec.valid_pixel_expression;
                out.what = spec.valid_where;
                any = true;
            }
            break;
        }
        ex->m_outputs.push_back(std::move(out));
    }
    if (!any) {
        return nullptr;
    }
    // Which slots are needed: the outputs', then backwards through the steps.
    ex->m_needed.assign(symbols.size(), false);
    for (const auto& o : ex->m_outputs) {
        if (o.slot) {
            ex->m_needed[*o.slot] = true;
        }
        if (o.valid) {
            for (size_t s : o.valid->slots()) {
                ex->m_needed[s] = true;
            }
        }
    }
    for (auto it = ex->m_steps.rbegin(); it != ex->m_steps.rend(); ++it) {
        if (!ex->m_needed[it->slot]) {
            continue;
        }
        for (const auto* prog : {&it->expression, &it->valid}) {
            if (*prog) {
                for (size_t s : (*prog)->slots()) {
                    ex->m_needed[s] = s != it->slot || ex->m_needed[s];
                }
            }
        }
        if (it->copy_from) {
            ex->m_needed[*it->copy_from] = true;
        }
    }
    for (size_t s = 0; s < ex->m_inputs; ++s) {
        if (ex->m_needed[s]) {
            ex->m_read_names.push_back(ex->m_slot_names[s]);
        }
    }
    ex->m_exact.assign(symbols.size(), false);
    for (size_t s : wide.exact) {
        ex->m_exact[s] = ex->m_needed[s];
    }
    // A wide flag variable that is only flag-tested (c2rcc_flags.Valid_PE) is read as exact
    // words alone: its float32 values (80 MB for an OLCI swath, and a second inflate of its
    // chunks) are not needed.
    std::vector<bool> values_read(symbols.size(), false);
    const auto note = [&](const std::optional<expr::Program>& p) {
        for (size_t s = 0; p && s < values_read.size(); ++s) {
            values_read[s] = values_read[s] || p->reads_values(s);
        }
    };
    for (const auto& o : ex->m_outputs) {
        note(o.valid);
    }
    for (const auto& st : ex->m_steps) {
        note(st.expression);
        note(st.valid);
        if (st.copy_from) {
            values_read[*st.copy_from] = true;
        }
    }
    ex->m_values.assign(symbols.size(), false);
    for (size_t s = 0; s < symbols.size(); ++s) {
        ex->m_values[s] = ex->m_needed[s] && (!ex->m_exact[s] || values_read[s]);
    }
    return ex;
}

void Expressions::apply(const std::string& input, size_t npix, const Read& read,
                        const ReadWords& read_words, std::vector<Slab*>& data,
                        std::vector<Slab>& scratch, int threads) const {
    const size_t nslots = m_slot_names.size();
    scratch.resize(nslots + m_outputs.size());
    std::vector<const float*> at(nslots, nullptr);
    // Exact flag words of the wide flag variables the expressions test.
    std::vector<io::FlagWords> word_bufs(nslots);
    std::vector<expr::Program::Words> words(nslots);
    for (size_t s = 0; s < m_inputs; ++s) {
        if (m_exact[s] && read_words(m_slot_names[s], word_bufs[s])) {
            const auto& b = word_bufs[s];
            words[s] = {b.w64.empty() ? nullptr : b.w64.data(), b.valid.data(),
                        b.w32.empty() ? nullptr : b.w32.data()};
        }
    }
    // Input variables: from an output variable read as is, else read now.
    for (size_t s = 0; s < m_inputs; ++s) {
        if (!m_needed[s]) {
            continue;
        }
        for (size_t v = 0; v < m_outputs.size() && !at[s]; ++v) {
            const auto& o = m_outputs[v];
            if (!o.slot && o.input == m_slot_names[s] && !data[v]->empty()) {
                at[s] = data[v]->data(); // not changed before the last loop below
            }
        }
        if (!at[s] && m_values[s] && read(m_slot_names[s], scratch[s])) {
            at[s] = scratch[s].data();
        }
    }
    auto missing = [&](const expr::Program& p) -> std::optional<std::string> {
        for (size_t s : p.slots()) {
            if (!at[s] && !words[s].any()) {
                return m_slot_names[s];
            }
        }
        return std::nullopt;
    };
    auto apply_mask = [&](const expr::Program& p, float* values) {
        eval_mask_parallel(p, at, words, npix, nullptr, values, threads);
    };
    for (const auto& st : m_steps) {
        if (!m_needed[st.slot]) {
            continue;
        }
        auto& buf = scratch[st.slot];
        if (st.expression) {
            if (missing(*st.expression)) {
                continue; // this input cannot make it: the variable is absent for this input
            }
            buf.resize(npix);
            at[st.slot] = buf.data(); // the expression reads only earlier slots
            eval_parallel(*st.expression, at, words, npix, buf.data(), threads);
        } else {
            if (!at[*st.copy_from]) {
                continue;
            }
            buf.resize(npix);
            std::memcpy(buf.data(), at[*st.copy_from], npix * sizeof(float));
            at[st.slot] = buf.data();
        }
        if (st.valid) {
            if (missing(*st.valid)) {
                at[st.slot] = nullptr;
                continue;
            }
            apply_mask(*st.valid, buf.data());
        }
    }
    // Output masks first (they may read output variables that are masked too), then the values.
    // One byte a pixel, one mask per distinct expression: the outputs of an OLCI config that all
    // test c2rcc_flags.Valid_PE share one (bench/swath_vars.sh).
    std::vector<std::vector<std::uint8_t>> masks;
    std::vector<size_t> mask_of(m_outputs.size(), SIZE_MAX);
    std::map<std::string, size_t> mask_by_text;
    for (size_t v = 0; v < m_outputs.size(); ++v) {
        const auto& o = m_outputs[v];
        const bool present = o.slot ? at[*o.slot] != nullptr : !data[v]->empty();
        if (!o.valid || !present) {
            continue;
        }
        if (auto name = missing(*o.valid)) {
            throw InputError("input '" + input + "' has no variable '" + *name + "', which the " +
                                 "valid_pixel_expression of " + o.what + " needs",
                             "Give inputs that have it, or change the expression");
        }
        const auto [it, fresh] = mask_by_text.emplace(o.valid_text, masks.size());
        if (fresh) {
            masks.emplace_back(npix);
            eval_mask_parallel(*o.valid, at, words, npix, masks.back().data(), nullptr, threads);
        }
        mask_of[v] = it->second;
    }
    for (size_t v = 0; v < m_outputs.size(); ++v) {
        const auto& o = m_outputs[v];
        auto& out = *data[v];
        if (o.slot) {
            if (at[*o.slot]) {
                out.assign(at[*o.slot], at[*o.slot] + npix);
            } else {
                out.clear();
            }
        }
    }
    for (size_t v = 0; v < m_outputs.size(); ++v) {
        auto& out = *data[v];
        if (mask_of[v] == SIZE_MAX || out.empty()) {
            continue;
        }
        const std::uint8_t* keep = masks[mask_of[v]].data();
        constexpr size_t TASK = size_t(1) << 16;
        parallel_for((npix + TASK - 1) / TASK, threads, [&](size_t t, size_t) {
            const size_t end = std::min(npix, (t + 1) * TASK);
            for (size_t i = t * TASK; i < end; ++i) {
                if (!keep[i]) {
                    out[i] = std::numeric_limits<float>::quiet_NaN();
                }
            }
        });
    }
}

} // namespace baims::cube::gen
