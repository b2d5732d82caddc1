#pragma once
// Pixel expressions of `baims gen` (processed_variables, valid_pixel_expression): the Python /
// numpy syntax xcube configs use (plus && || ! from SNAP band maths), parsed once and compiled to
// a small register program that is run over blocks of float32 pixels (one loop per operation and
// block, no per-pixel dispatch or allocation). Values follow numpy on float32 arrays: NaN
// propagates through arithmetic, every comparison with NaN is false except !=, true/false are
// 1/0, and a value is true when it is not 0 (NaN is true, as numpy's bool(nan)).
// The language is described in docs/config.md ("Expressions").

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace baims::cube::expr {

// A syntax or name error: position is the 1-based character position in the expression.
class ExprError : public std::runtime_error {
public:
    ExprError(size_t position, const std::string& reason);
    size_t position() const noexcept { return m_position; }
    const std::string& reason() const noexcept { return m_reason; }

private:
    size_t m_position;
    std::string m_reason;
};

// A name an expression may use. Its index in the list given to compile() is its slot.
struct Symbol {
    std::string name;
    // CF flag attributes (flag_meanings with flag_masks and/or flag_values) make `name.Flag` tests.
    nlohmann::json attrs = nlohmann::json::object();
    // Storage width in bits of an integer flag variable (8, 16, 32 or 64): flag values are taken
    // modulo 2^bits, so a signed int32 mask -2147483648 and an unsigned 2147483648 agree.
    int bits = 64;
};

class Program {
public:
    // Checks the syntax only (names are not resolved). Throws ExprError.
    static void check_syntax(std::string_view text);
    // Parses and resolves every name against `symbols`. Throws ExprError.
    static Program compile(std::string_view text, const std::vector<Symbol>& symbols);

    // The slots the program reads, ascending.
    const std::vector<size_t>& slots() const { return m_slots; }
    // Whether the result is true/false (a comparison, flag test or logical operation).
    bool boolean() const { return m_boolean; }
    // The flag tests: (slot, mask) of each `name.Flag`.
    const std::vector<std::pair<size_t, uint64_t>>& flag_tests() const { return m_flags; }
    // Whether the program reads the values of `slot` other than through flag tests (which can
    // take the slot's exact words instead: eval then needs no values of a slot only so read).
    bool reads_values(size_t slot) const {
        return std::binary_search(m_value_slots.begin(), m_value_slots.end(), slot);
    }
    // Instructions after constant folding (for tests).
    size_t instructions() const { return m_code.size(); }

    // The exact integers of a slot for its flag tests (io::Input::read_words): word[i] modulo
    // 2^64 (or word32[i]: a slot of at most 32 bits; word null), valid[i] 0 where the value is
    // missing (no flag set there).
    struct Words {
        const uint64_t* word = nullptr;
        const uint8_t* valid = nullptr;
        const uint32_t* word32 = nullptr;
        bool any() const { return word || word32; }
        // from pixel `off` on
        Words at(size_t off) const {
            return {word ? word + off : nullptr, valid ? valid + off : nullptr,
                    word32 ? word32 + off : nullptr};
        }
    };
    // out[i] for i < n from vars[slot][i] (only the slots in slots() are read; the others may be
    // null). out may not alias an input. Thread-safe (const; scratch is per call).
    // words (optional): per slot, a null word or that slot's exact integers; flag tests of a slot
    // with words use them, so flag words of up to 64 bits test exactly (float32 keeps 24 bits).
    void eval(const float* const* vars, size_t n, float* out, const Words* words = nullptr) const;

    // Pixels per block of the evaluation loop.
    static constexpr size_t BLOCK = 1024;

    struct Instr {
        int op = 0;
        uint32_t dst = 0, a = 0, b = 0, c = 0;
        uint64_t mask = 0, value = 0, width = ~uint64_t(0);
        bool has_value = false;
    };
    // An operand of an instruction: a register, a constant or a variable slot.
    struct Operand {
        enum Kind { Reg, Const, Var } kind = Reg;
        float value = 0.0f; // Const
        size_t index = 0;   // Reg: register; Var: slot
    };

private:
    std::vector<Instr> m_code;
    std::vector<Operand> m_operands; // indexed by Instr::a/b/c/dst
    uint32_t m_result = 0;           // operand holding the result
    size_t m_registers = 0;
    std::vector<size_t> m_slots;
    std::vector<size_t> m_value_slots; // ascending: reads_values
    std::vector<std::pair<size_t, uint64_t>> m_flags;
    bool m_boolean = false;
};

// "'<text>' at position N: <reason>" for messages.
std::string describe(std::string_view text, const ExprError& e);

} // namespace baims::cube::expr
