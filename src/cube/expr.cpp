// Pixel expressions: lexer, recursive-descent parser (Python precedence), name resolution with CF
// flag tests, constant folding, and a block-wise register machine over float32.

#include "baims/cube/expr.hpp"

#include "expr_ops.hpp"

#include "baims/core/text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <sstream>

namespace baims::cube::expr {

ExprError::ExprError(size_t position, const std::string& reason)
    : std::runtime_error("at position " + std::to_string(position) + ": " + reason)
    , m_position(position)
    , m_reason(reason) {}

std::string describe(std::string_view text, const ExprError& e) {
    return "'" + std::string(text) + "' " + e.what();
}

namespace {

constexpr float NaNf = std::numeric_limits<float>::quiet_NaN();

using namespace ops;

struct Func {
    const char* name;
    int arity;
    Op op;
};

// numpy names (min/max are fmin/fmax, NaN-ignoring, as xcube maps them) and a few C aliases.
constexpr Func FUNCS[] = {
    {"abs", 1, ABS},         {"absolute", 1, ABS},    {"fabs", 1, ABS},
    {"sqrt", 1, SQRT},       {"exp", 1, EXP},         {"expm1", 1, EXPM1},
    {"log", 1, LOG},         {"log10", 1, LOG10},     {"log2", 1, LOG2},
    {"log1p", 1, LOG1P},     {"sin", 1, SIN},         {"cos", 1, COS},
    {"tan", 1, TAN},         {"arcsin", 1, ASIN},     {"asin", 1, ASIN},
    {"arccos", 1, ACOS},     {"acos", 1, ACOS},       {"arctan", 1, ATAN},
    {"atan", 1, ATAN},       {"arctan2", 2, ATAN2},   {"atan2", 2, ATAN2},
    {"sinh", 1, SINH},       {"cosh", 1, COSH},       {"tanh", 1, TANH},
    {"floor", 1, FLOOR},     {"ceil", 1, CEIL},       {"trunc", 1, TRUNC},
    {"rint", 1, RINT},       {"round", 1, RINT},      {"sign", 1, SIGN},
    {"isnan", 1, ISNAN},     {"isinf", 1, ISINF},     {"isfinite", 1, ISFINITE},
    {"where", 3, WHERE},     {"min", 2, FMIN},        {"max", 2, FMAX},
    {"fmin", 2, FMIN},       {"fmax", 2, FMAX},       {"minimum", 2, MINIMUM},
    {"maximum", 2, MAXIMUM}, {"clip", 3, CLIP},       {"hypot", 2, HYPOT},
    {"power", 2, POW},       {"pow", 2, POW},         {"logical_and", 2, AND},
    {"logical_or", 2, OR},   {"logical_xor", 2, XOR}, {"logical_not", 1, NOT},
};

const Func* find_func(std::string_view name) {
    for (const auto& f : FUNCS) {
        if (name == f.name) {
            return &f;
        }
    }
    return nullptr;
}

bool boolean_op(Op op) {
    switch (op) {
    case LT:
    case LE:
    case GT:
    case GE:
    case EQ:
    case NE:
    case AND:
    case OR:
    case XOR:
    case NOT:
    case FLAG:
    case ISNAN:
    case ISINF:
    case ISFINITE:
        return true;
    default:
        return false;
    }
}

// Named constants (a variable of the same name wins, as in xcube's namespace).
std::optional<float> named_constant(std::string_view name) {
    if (name == "nan" || name == "NaN" || name == "NAN") {
        return NaNf;
    }
    if (name == "inf" || name == "Inf" || name == "INF") {
        return std::numeric_limits<float>::infinity();
    }
    if (name == "pi" || name == "PI") {
        return static_cast<float>(M_PI);
    }
    return std::nullopt;
}

bool module_prefix(std::string_view s) {
    return s == "np" || s == "numpy" || s == "xr" || s == "math";
}

// ---------------------------------------------------------------------------------------------
// Lexer

struct Tok {
    enum Kind { Num, Name, Sym, End } kind = End;
    std::string text;
    size_t pos = 0; // 1-based
    double num = 0.0;
};

bool name_start(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

std::vector<Tok> lex(std::string_view s) {
    std::vector<Tok> out;
    size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            ++i;
            continue;
        }
        Tok t;
        t.pos = i + 1;
        const bool digit = std::isdigit(static_cast<unsigned char>(c));
        if (digit ||
            (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
            size_t j = i;
            while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) {
                ++j;
            }
            if (j < s.size() && s[j] == '.') {
                ++j;
                while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) {
                    ++j;
                }
            }
            if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
                size_t k = j + 1;
                if (k < s.size() && (s[k] == '+' || s[k] == '-')) {
                    ++k;
                }
                if (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) {
                    j = k;
                    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) {
                        ++j;
                    }
                } else {
                    throw ExprError(t.pos,
                                    "malformed number '" + std::string(s.substr(i, k - i)) + "'");
                }
            }
            size_t end = j;
            while (end < s.size() && name_char(s[end])) {
                ++end;
            }
            if (end != j) {
                throw ExprError(t.pos,
                                "malformed number '" + std::string(s.substr(i, end - i)) + "'");
            }
            t.kind = Tok::Num;
            t.text = std::string(s.substr(i, j - i));
            std::string digits = t.text[0] == '.' ? "0" + t.text : t.text;
            auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), t.num);
            if (ec != std::errc() && ec != std::errc::result_out_of_range) {
                throw ExprError(t.pos, "malformed number '" + t.text + "'");
            }
            (void)p;
            out.push_back(std::move(t));
            i = j;
            continue;
        }
        if (name_start(c)) {
            size_t j = i;
            while (j < s.size() && name_char(s[j])) {
                ++j;
            }
            t.kind = Tok::Name;
            t.text = std::string(s.substr(i, j - i));
            out.push_back(std::move(t));
            i = j;
            continue;
        }
        static constexpr std::array<std::string_view, 8> two = {
            "**", "//", "<=", ">=", "==", "!=", "&&", "||"};
        std::string_view rest = s.substr(i);
        bool matched = false;
        for (auto op : two) {
            if (rest.starts_with(op)) {
                t.kind = Tok::Sym;
                t.text = std::string(op);
                matched = true;
                break;
            }
        }
        if (!matched) {
            if (std::string_view("+-*/%<>!&|~(),.").find(c) != std::string_view::npos) {
                t.kind = Tok::Sym;
                t.text = std::string(1, c);
            } else if (c == '=') {
                throw ExprError(t.pos, "'=' is not an operator; compare with '=='");
            } else if (c == '^') {
                throw ExprError(t.pos, "'^' is not supported; write powers with '**'");
            } else if (c == '[' || c == ']') {
                throw ExprError(t.pos, "indexing with '[' is not supported");
            } else if (static_cast<unsigned char>(c) < 0x20 ||
                       static_cast<unsigned char>(c) > 0x7e) {
                throw ExprError(t.pos, "unexpected character (code " +
                                           std::to_string(static_cast<unsigned char>(c)) + ")");
            } else {
                throw ExprError(t.pos, std::string("unexpected character '") + c + "'");
            }
        }
        i += t.text.size();
        out.push_back(std::move(t));
    }
    Tok end;
    end.kind = Tok::End;
    end.pos = s.size() + 1;
    out.push_back(end);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Node {
    enum Kind { Const, Var, Apply } kind = Const;
    float value = 0.0f;
    bool nan_literal = false; // a NaN written by name (x == NaN means isnan(x), as in xcube)
    size_t slot = 0;
    Op op = ADD;
    std::vector<int> kids;
    bool boolean = false;
    uint64_t mask = 0, fvalue = 0, width = ~uint64_t(0);
    bool has_value = false;
};

std::string token_text(const Tok& t) {
    return t.kind == Tok::End ? "the end of the expression" : "'" + t.text + "'";
}

// Integers of a CF flag attribute: a number, a list of numbers, or a text of numbers.
std::optional<std::vector<uint64_t>> flag_numbers(const nlohmann::json& j) {
    std::vector<uint64_t> out;
    auto one = [&](const nlohmann::json& v) {
        if (v.is_number_unsigned()) {
            out.push_back(v.get<uint64_t>());
        } else if (v.is_number_integer()) {
            out.push_back(static_cast<uint64_t>(v.get<int64_t>()));
        } else if (v.is_number_float()) {
            out.push_back(static_cast<uint64_t>(static_cast<int64_t>(v.get<double>())));
        } else {
            return false;
        }
        return true;
    };
    if (j.is_array()) {
        for (const auto& v : j) {
            if (!one(v)) {
                return std::nullopt;
            }
        }
    } else if (j.is_string()) {
        std::istringstream in(j.get<std::string>());
        std::string w;
        while (in >> w) {
            while (!w.empty() && w.back() == ',') {
                w.pop_back();
            }
            // signed (two's complement) or, past 2^63 - 1, unsigned: 64-bit masks either way
            long long v = 0;
            unsigned long long u = 0;
            const char* end = w.data() + w.size();
            if (auto [p, ec] = std::from_chars(w.data(), end, v); ec == std::errc() && p == end) {
                out.push_back(static_cast<uint64_t>(v));
            } else if (auto [q, ec2] = std::from_chars(w.data(), end, u);
                       ec2 == std::errc() && q == end) {
                out.push_back(u);
            } else {
                return std::nullopt;
            }
        }
    } else if (!one(j)) {
        return std::nullopt;
    }
    return out;
}

class Parser {
public:
    Parser(std::string_view text, const std::vector<Symbol>* symbols)
        : m_toks(lex(text))
        , m_symbols(symbols) {}

    int parse() {
        int root = expression();
        if (peek().kind != Tok::End) {
            throw ExprError(peek().pos, "expected an operator, got " + token_text(peek()));
        }
        return root;
    }

    std::vector<Node> nodes;

private:
    const Tok& peek() const { return m_toks[m_i]; }
    bool is_sym(const char* s) const { return peek().kind == Tok::Sym && peek().text == s; }
    bool is_word(const char* s) const { return peek().kind == Tok::Name && peek().text == s; }
    const Tok& take() { return m_toks[m_i++]; }

    int add(Node n) {
        nodes.push_back(std::move(n));
        return static_cast<int>(nodes.size()) - 1;
    }
    int apply(Op op, std::vector<int> kids) {
        Node n;
        n.kind = Node::Apply;
        n.op = op;
        n.kids = std::move(kids);
        n.boolean = boolean_op(op);
        return add(std::move(n));
    }
    int constant(float v, bool boolean = false) {
        Node n;
        n.value = v;
        n.boolean = boolean;
        return add(n);
    }

    // a if c else b
    int expression() {
        int body = or_expr();
        if (is_word("if")) {
            take();
            int cond = or_expr();
            if (!is_word("else")) {
                throw ExprError(peek().pos,
                                "expected 'else' after 'if', got " + token_text(peek()));
            }
            take();
            int other = expression();
            int w = apply(WHERE, {cond, body, other});
            nodes[w].boolean = nodes[body].boolean && nodes[other].boolean;
            return w;
        }
        return body;
    }
    int or_expr() {
        int l = and_expr();
        while (is_word("or") || is_sym("||")) {
            take();
            l = apply(OR, {l, and_expr()});
        }
        return l;
    }
    int and_expr() {
        int l = not_expr();
        while (is_word("and") || is_sym("&&")) {
            take();
            l = apply(AND, {l, not_expr()});
        }
        return l;
    }
    int not_expr() {
        if (is_word("not") || is_sym("!")) {
            take();
            return apply(NOT, {not_expr()});
        }
        return comparison();
    }
    static std::optional<Op> compare_op(const Tok& t) {
        if (t.kind != Tok::Sym) {
            return std::nullopt;
        }
        static const std::pair<const char*, Op> ops[] = {{"<", LT},  {"<=", LE}, {">", GT},
                                                         {">=", GE}, {"==", EQ}, {"!=", NE}};
        for (const auto& [s, op] : ops) {
            if (t.text == s) {
                return op;
            }
        }
        return std::nullopt;
    }
    int comparison() {
        int l = bit_or();
        auto op = compare_op(peek());
        if (!op) {
            if (is_word("in") || is_word("is")) {
                throw ExprError(peek().pos, "'" + peek().text + "' is not supported");
            }
            return l;
        }
        take();
        int r = bit_or();
        if (compare_op(peek())) {
            throw ExprError(peek().pos,
                            "chained comparisons are not supported; write (a < b) and (b < c)");
        }
        const bool lnan = nodes[l].kind == Node::Const && nodes[l].nan_literal;
        const bool rnan = nodes[r].kind == Node::Const && nodes[r].nan_literal;
        if ((*op == EQ || *op == NE) && (lnan || rnan)) {
            int t = apply(ISNAN, {rnan ? l : r});
            return *op == EQ ? t : apply(NOT, {t});
        }
        return apply(*op, {l, r});
    }
    int bit_or() {
        int l = bit_and();
        while (is_sym("|")) {
            take();
            int r = bit_and();
            l = nodes[l].boolean && nodes[r].boolean ? apply(OR, {l, r}) : apply(BITOR, {l, r});
        }
        return l;
    }
    int bit_and() {
        int l = arith();
        while (is_sym("&")) {
            take();
            int r = arith();
            l = nodes[l].boolean && nodes[r].boolean ? apply(AND, {l, r}) : apply(BITAND, {l, r});
        }
        return l;
    }
    int arith() {
        int l = term();
        while (is_sym("+") || is_sym("-")) {
            Op op = take().text == "+" ? ADD : SUB;
            l = apply(op, {l, term()});
        }
        return l;
    }
    int term() {
        int l = factor();
        while (is_sym("*") || is_sym("/") || is_sym("//") || is_sym("%")) {
            const auto& t = take().text;
            Op op = t == "*" ? MUL : t == "/" ? DIV : t == "//" ? FLOORDIV : MOD;
            l = apply(op, {l, factor()});
        }
        return l;
    }
    int factor() {
        if (is_sym("-")) {
            take();
            return apply(NEG, {factor()});
        }
        if (is_sym("+")) {
            take();
            return factor();
        }
        if (is_sym("~")) {
            take();
            int x = factor();
            return nodes[x].boolean ? apply(NOT, {x}) : apply(BITNOT, {x});
        }
        return power();
    }
    int power() {
        int base = primary();
        if (is_sym("**")) {
            take();
            return apply(POW, {base, factor()}); // right-associative; -2**2 == -4, 2**-1 == 0.5
        }
        return base;
    }

    int primary() {
        const Tok& t = peek();
        if (t.kind == Tok::Num) {
            take();
            return constant(static_cast<float>(t.num));
        }
        if (is_sym("(")) {
            const size_t open = take().pos;
            int inner = expression();
            if (!is_sym(")")) {
                throw ExprError(peek().pos, "expected ')' to close the '(' at position " +
                                                std::to_string(open) + ", got " +
                                                token_text(peek()));
            }
            take();
            return inner;
        }
        if (t.kind == Tok::Name) {
            return name();
        }
        throw ExprError(t.pos, "expected a number, a name or '(', got " + token_text(t));
    }

    int name() {
        const Tok first = take();
        static const char* const keywords[] = {"and", "or", "not", "if", "else"};
        for (const char* k : keywords) {
            if (first.text == k) {
                throw ExprError(first.pos,
                                "expected a number, a name or '(', got '" + first.text + "'");
            }
        }
        for (const char* k : {"in", "is", "lambda", "for", "None"}) {
            if (first.text == k) {
                throw ExprError(first.pos, "'" + first.text + "' is not supported");
            }
        }
        if (first.text == "True" || first.text == "true") {
            return constant(1.0f, true);
        }
        if (first.text == "False" || first.text == "false") {
            return constant(0.0f, true);
        }
        std::vector<Tok> parts = {first};
        while (is_sym(".")) {
            take();
            if (peek().kind != Tok::Name) {
                throw ExprError(peek().pos, "expected a name after '.', got " + token_text(peek()));
            }
            parts.push_back(take());
        }
        if (parts.size() > 2) {
            throw ExprError(parts[2].pos - 1,
                            "unexpected '.' after '" + parts[0].text + "." + parts[1].text + "'");
        }
        if (is_sym("(")) {
            return call(parts);
        }
        if (parts.size() == 2) {
            return dotted(parts[0], parts[1]);
        }
        return variable(first);
    }

    std::optional<size_t> lookup(const std::string& name) const {
        if (!m_symbols) {
            return std::nullopt;
        }
        for (size_t k = m_symbols->size(); k-- > 0;) {
            if ((*m_symbols)[k].name == name) {
                return k;
            }
        }
        return std::nullopt;
    }

    int var_node(size_t slot) {
        Node n;
        n.kind = Node::Var;
        n.slot = slot;
        return add(n);
    }

    int variable(const Tok& t) {
        if (auto slot = lookup(t.text)) {
            return var_node(*slot);
        }
        if (auto c = named_constant(t.text)) {
            int k = constant(*c);
            nodes[k].nan_literal = std::isnan(*c);
            return k;
        }
        if (!m_symbols) {
            return var_node(0); // syntax check only
        }
        throw ExprError(t.pos, "unknown variable '" + t.text + "'" + guess(t.text));
    }

    std::string guess(const std::string& word) const {
        std::vector<std::string> names;
        if (m_symbols) {
            for (const auto& s : *m_symbols) {
                names.push_back(s.name);
            }
        }
        auto g = text::did_you_mean(word, names);
        return g.empty() ? "" : " (did you mean '" + g + "'?)";
    }

    int dotted(const Tok& a, const Tok& b) {
        if (!lookup(a.text) && module_prefix(a.text)) {
            if (auto c = named_constant(b.text); c && b.text != "NaN" && b.text != "NAN") {
                int k = constant(*c);
                nodes[k].nan_literal = std::isnan(*c);
                return k;
            }
            if (b.text == "e") {
                return constant(static_cast<float>(M_E));
            }
            throw ExprError(b.pos, "unknown constant '" + a.text + "." + b.text + "'");
        }
        if (!m_symbols) {
            return var_node(0);
        }
        auto slot = lookup(a.text);
        if (!slot) {
            throw ExprError(a.pos, "unknown variable '" + a.text + "'" + guess(a.text));
        }
        return flag(*slot, a, b);
    }

    int flag(size_t slot, const Tok& var, const Tok& name) {
        const auto& sym = (*m_symbols)[slot];
        const auto& attrs = sym.attrs;
        const std::string what = "'" + var.text + "." + name.text + "'";
        if (!attrs.contains("flag_meanings") || !attrs["flag_meanings"].is_string()) {
            throw ExprError(name.pos, what + " is not a flag test: '" + var.text +
                                          "' has no flag_meanings attribute");
        }
        std::vector<std::string> meanings;
        {
            std::istringstream in(attrs["flag_meanings"].get<std::string>());
            std::string w;
            while (in >> w) {
                meanings.push_back(w);
            }
        }
        std::optional<std::vector<uint64_t>> masks, values;
        auto read = [&](const char* key, std::optional<std::vector<uint64_t>>& out) {
            if (!attrs.contains(key)) {
                return;
            }
            out = flag_numbers(attrs[key]);
            if (!out) {
                throw ExprError(name.pos, "'" + var.text + "' has a " + key +
                                              " attribute that is not a list of whole numbers");
            }
            if (out->size() != meanings.size()) {
                throw ExprError(
                    name.pos, "'" + var.text + "' has " + std::to_string(meanings.size()) +
                                  " flag_meanings but " + std::to_string(out->size()) + " " + key);
            }
        };
        read("flag_masks", masks);
        read("flag_values", values);
        if (!masks && !values) {
            throw ExprError(name.pos, what + " is not a flag test: '" + var.text +
                                          "' has flag_meanings but neither flag_masks nor "
                                          "flag_values");
        }
        auto it = std::find(meanings.begin(), meanings.end(), name.text);
        if (it == meanings.end()) {
            auto g = text::did_you_mean(name.text, meanings);
            throw ExprError(name.pos, "'" + var.text + "' has no flag '" + name.text + "'" +
                                          (g.empty() ? "" : " (did you mean '" + g + "'?)") +
                                          "; its flags: " + text::join(meanings, ", "));
        }
        const size_t k = static_cast<size_t>(it - meanings.begin());
        Node n;
        n.kind = Node::Apply;
        n.op = FLAG;
        n.boolean = true;
        n.kids = {var_node(slot)};
        n.width = sym.bits >= 64 ? ~uint64_t(0) : (uint64_t(1) << sym.bits) - 1;
        if (masks) {
            n.mask = (*masks)[k] & n.width;
            if (values) {
                n.has_value = true;
                n.fvalue = (*values)[k] & n.width;
            }
        } else {
            n.mask = n.width;
            n.has_value = true;
            n.fvalue = (*values)[k] & n.width;
        }
        return add(std::move(n));
    }

    int call(const std::vector<Tok>& parts) {
        std::string fname = parts.back().text;
        const Tok& at = parts.front();
        if (parts.size() == 2 && (!module_prefix(parts[0].text) || lookup(parts[0].text))) {
            throw ExprError(at.pos, "unknown function '" + parts[0].text + "." + fname + "'");
        }
        const Func* f = find_func(fname);
        if (!f) {
            std::vector<std::string> names;
            for (const auto& g : FUNCS) {
                names.emplace_back(g.name);
            }
            auto g = text::did_you_mean(fname, names);
            throw ExprError(at.pos, "unknown function '" + fname + "'" +
                                        (g.empty() ? "" : " (did you mean '" + g + "'?)"));
        }
        take(); // (
        std::vector<int> args;
        if (!is_sym(")")) {
            while (true) {
                args.push_back(expression());
                if (is_sym(",")) {
                    take();
                    continue;
                }
                break;
            }
        }
        if (!is_sym(")")) {
            throw ExprError(peek().pos, "expected ',' or ')' in the arguments of '" + fname +
                                            "', got " + token_text(peek()));
        }
        take();
        if (static_cast<int>(args.size()) != f->arity) {
            throw ExprError(at.pos, "'" + fname + "' takes " + std::to_string(f->arity) +
                                        (f->arity == 1 ? " argument" : " arguments") + ", got " +
                                        std::to_string(args.size()));
        }
        int n = apply(f->op, args);
        if (f->op == WHERE) {
            nodes[n].boolean = nodes[args[1]].boolean && nodes[args[2]].boolean;
        }
        return n;
    }

    std::vector<Tok> m_toks;
    size_t m_i = 0;
    const std::vector<Symbol>* m_symbols;
};

} // namespace

void Program::check_syntax(std::string_view text) {
    Parser p(text, nullptr);
    p.parse();
}

Program Program::compile(std::string_view text, const std::vector<Symbol>& symbols) {
    Parser p(text, &symbols);
    const int root = p.parse();
    const auto& nodes = p.nodes;
    Program prog;
    prog.m_boolean = nodes[static_cast<size_t>(root)].boolean;
    std::vector<size_t> slots, value_slots;
    // Code generation with constant folding: returns the operand index of node k.
    auto gen = [&](auto&& self, int k) -> uint32_t {
        const Node& n = nodes[static_cast<size_t>(k)];
        Operand o;
        if (n.kind == Node::Const) {
            o.kind = Operand::Const;
            o.value = n.value;
        } else if (n.kind == Node::Var) {
            o.kind = Operand::Var;
            o.index = n.slot;
            slots.push_back(n.slot);
        } else {
            std::array<uint32_t, 3> ops = {0, 0, 0};
            bool all_const = true;
            for (size_t i = 0; i < n.kids.size(); ++i) {
                ops[i] = self(self, n.kids[i]);
                all_const = all_const && prog.m_operands[ops[i]].kind == Operand::Const;
            }
            if (n.op == FLAG) {
                prog.m_flags.emplace_back(nodes[static_cast<size_t>(n.kids[0])].slot, n.mask);
            } else {
                for (int kid : n.kids) {
                    if (const Node& c = nodes[static_cast<size_t>(kid)]; c.kind == Node::Var) {
                        value_slots.push_back(c.slot);
                    }
                }
            }
            Instr in;
            in.op = n.op;
            in.mask = n.mask;
            in.value = n.fvalue;
            in.width = n.width;
            in.has_value = n.has_value;
            if (all_const) {
                float v[3] = {0, 0, 0};
                for (size_t i = 0; i < n.kids.size(); ++i) {
                    v[i] = prog.m_operands[ops[i]].value;
                }
                o.kind = Operand::Const;
                run(in, &o.value, &v[0], &v[1], &v[2], 1);
            } else {
                o.kind = Operand::Reg;
                o.index = prog.m_registers++;
                in.a = ops[0];
                in.b = n.kids.size() > 1 ? ops[1] : ops[0];
                in.c = n.kids.size() > 2 ? ops[2] : ops[0];
                in.dst = static_cast<uint32_t>(prog.m_operands.size());
                prog.m_operands.push_back(o);
                prog.m_code.push_back(in);
                return in.dst;
            }
        }
        prog.m_operands.push_back(o);
        return static_cast<uint32_t>(prog.m_operands.size() - 1);
    };
    prog.m_result = gen(gen, root);
    if (nodes[static_cast<size_t>(root)].kind == Node::Var) {
        value_slots.push_back(nodes[static_cast<size_t>(root)].slot);
    }
    for (auto* v : {&slots, &value_slots}) {
        std::sort(v->begin(), v->end());
        v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    prog.m_slots = std::move(slots);
    prog.m_value_slots = std::move(value_slots);
    return prog;
}

void Program::eval(const float* const* vars, size_t n, float* out, const Words* words) const {
    const Operand& res = m_operands[m_result];
    if (res.kind == Operand::Const) {
        std::fill(out, out + n, res.value);
        return;
    }
    if (res.kind == Operand::Var) {
        std::memcpy(out, vars[res.index], n * sizeof(float));
        return;
    }
    // Scratch: one block per register and per constant operand.
    size_t nconst = 0;
    for (const auto& o : m_operands) {
        nconst += o.kind == Operand::Const ? 1 : 0;
    }
    std::vector<float> scratch((m_registers + nconst) * BLOCK);
    std::vector<float*> ptr(m_operands.size(), nullptr);
    std::vector<std::pair<size_t, size_t>> var_ops; // operand, slot
    size_t next_const = m_registers;
    for (size_t k = 0; k < m_operands.size(); ++k) {
        const auto& o = m_operands[k];
        if (o.kind == Operand::Reg) {
            ptr[k] = scratch.data() + o.index * BLOCK;
        } else if (o.kind == Operand::Const) {
            ptr[k] = scratch.data() + (next_const++) * BLOCK;
            std::fill(ptr[k], ptr[k] + BLOCK, o.value);
        } else {
            var_ops.emplace_back(k, o.index);
        }
    }
    for (size_t off = 0; off < n; off += BLOCK) {
        const size_t m = std::min(BLOCK, n - off);
        for (const auto& [k, slot] : var_ops) {
            // (null: a slot read only through its exact words, see reads_values)
            ptr[k] = vars[slot] ? const_cast<float*>(vars[slot] + off) : nullptr;
        }
        ptr[m_result] = out + off;
        for (const auto& in : m_code) {
            if (words && in.op == FLAG && m_operands[in.a].kind == Operand::Var &&
                words[m_operands[in.a].index].any()) {
                const Words& w = words[m_operands[in.a].index];
                if (w.word32) {
                    ops::flag_exact(in, ptr[in.dst], w.word32 + off, w.valid + off, m);
                } else {
                    ops::flag_exact(in, ptr[in.dst], w.word + off, w.valid + off, m);
                }
                continue;
            }
            run(in, ptr[in.dst], ptr[in.a], ptr[in.b], ptr[in.c], m);
        }
    }
}

} // namespace baims::cube::expr
