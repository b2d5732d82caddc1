#include "baims/zarr/json.hpp"

#include "baims/core/error.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace baims::zarr {
namespace {

const char HEX[] = "0123456789abcdef";

void append_u_escape(std::string& out, uint32_t unit) {
    out += "\\u";
    out += HEX[(unit >> 12) & 0xF];
    out += HEX[(unit >> 8) & 0xF];
    out += HEX[(unit >> 4) & 0xF];
    out += HEX[unit & 0xF];
}

// Decodes one UTF-8 sequence at s[i]; returns the code point and advances i. An invalid byte is
// taken as the Latin-1 code point of the same value.
uint32_t next_code_point(std::string_view s, size_t& i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
        ++i;
        return b0;
    }
    size_t len = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2;
        cp = b0 & 0x1F;
        min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3;
        cp = b0 & 0x0F;
        min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4;
        cp = b0 & 0x07;
        min = 0x10000;
    }
    if (len == 0 || i + len > s.size()) {
        ++i;
        return b0;
    }
    for (size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) {
            ++i;
            return b0;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        ++i;
        return b0;
    }
    i += len;
    return cp;
}

// Python's json encode_basestring_ascii.
void dump_string(std::string& out, std::string_view s) {
    out += '"';
    size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (c >= ' ' && c <= '~' && c != '"' && c != '\\') {
            out += c;
            ++i;
            continue;
        }
        switch (c) {
        case '"':
            out += "\\\"";
            ++i;
            continue;
        case '\\':
            out += "\\\\";
            ++i;
            continue;
        case '\n':
            out += "\\n";
            ++i;
            continue;
        case '\r':
            out += "\\r";
            ++i;
            continue;
        case '\t':
            out += "\\t";
            ++i;
            continue;
        case '\b':
            out += "\\b";
            ++i;
            continue;
        case '\f':
            out += "\\f";
            ++i;
            continue;
        default:
            break;
        }
        uint32_t cp = next_code_point(s, i);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            append_u_escape(out, 0xD800 | (cp >> 10));
            append_u_escape(out, 0xDC00 | (cp & 0x3FF));
        } else {
            append_u_escape(out, cp);
        }
    }
    out += '"';
}

void newline_indent(std::string& out, int level) {
    out += '\n';
    out.append(static_cast<size_t>(level) * 4, ' ');
}

void dump_value(std::string& out, const nlohmann::json& j, int level) {
    using T = nlohmann::json::value_t;
    switch (j.type()) {
    case T::null:
        out += "null";
        return;
    case T::boolean:
        out += j.get<bool>() ? "true" : "false";
        return;
    case T::number_integer:
        out += std::to_string(j.get<int64_t>());
        return;
    case T::number_unsigned:
        out += std::to_string(j.get<uint64_t>());
        return;
    case T::number_float:
        out += python_float_repr(j.get<double>());
        return;
    case T::string:
        dump_string(out, j.get_ref<const std::string&>());
        return;
    case T::array: {
        if (j.empty()) {
            out += "[]";
            return;
        }
        out += '[';
        bool first = true;
        for (const auto& item : j) {
            if (!first) {
                out += ',';
            }
            first = false;
            newline_indent(out, level + 1);
            dump_value(out, item, level + 1);
        }
        newline_indent(out, level);
        out += ']';
        return;
    }
    case T::object: {
        if (j.empty()) {
            out += "{}";
            return;
        }
        out += '{';
        bool first = true;
        // nlohmann::json's object_t is a std::map: keys in byte order, which for UTF-8 is the
        // code point order Python's sort_keys uses.
        for (const auto& [key, value] : j.items()) {
            if (!first) {
                out += ',';
            }
            first = false;
            newline_indent(out, level + 1);
            dump_string(out, key);
            out += ": ";
            dump_value(out, value, level + 1);
        }
        newline_indent(out, level);
        out += '}';
        return;
    }
    case T::binary:
    case T::discarded:
        break;
    }
    throw InternalError("cannot write a binary or discarded JSON value as zarr metadata");
}

struct Sentinels {
    std::string nan, pinf, ninf;
    explicit Sentinels(int salt) {
        const std::string tail = ":" + std::to_string(salt);
        nan = std::string(1, '\0') + "baims:NaN" + tail;
        pinf = std::string(1, '\0') + "baims:Infinity" + tail;
        ninf = std::string(1, '\0') + "baims:-Infinity" + tail;
    }
};

// Replaces bare NaN/Infinity/-Infinity tokens (outside strings) by sentinel strings.
size_t replace_tokens(std::string_view text, int salt, std::string& out) {
    const std::string tail = ":" + std::to_string(salt) + "\"";
    size_t count = 0;
    bool in_string = false;
    out.clear();
    out.reserve(text.size() + 64);
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            out += c;
            if (c == '\\' && i + 1 < text.size()) {
                out += text[++i];
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
            out += c;
        } else if (text.compare(i, 3, "NaN") == 0) {
            out += "\"\\u0000baims:NaN" + tail;
            i += 2;
            ++count;
        } else if (text.compare(i, 8, "Infinity") == 0) {
            out += "\"\\u0000baims:Infinity" + tail;
            i += 7;
            ++count;
        } else if (text.compare(i, 9, "-Infinity") == 0) {
            out += "\"\\u0000baims:-Infinity" + tail;
            i += 8;
            ++count;
        } else {
            out += c;
        }
    }
    return count;
}

// Puts the numbers back; returns how many sentinels were found.
size_t restore_tokens(nlohmann::json& j, const Sentinels& s) {
    size_t found = 0;
    if (j.is_string()) {
        const auto& str = j.get_ref<const std::string&>();
        if (!str.empty() && str[0] == '\0') {
            if (str == s.nan) {
                j = std::numeric_limits<double>::quiet_NaN();
                return 1;
            }
            if (str == s.pinf) {
                j = std::numeric_limits<double>::infinity();
                return 1;
            }
            if (str == s.ninf) {
                j = -std::numeric_limits<double>::infinity();
                return 1;
            }
        }
    } else if (j.is_structured()) {
        for (auto& item : j) {
            found += restore_tokens(item, s);
        }
    }
    return found;
}

[[noreturn]] void throw_parse_error(const std::string& what, const nlohmann::json::exception& e) {
    std::string msg = e.what();
    if (auto close = msg.find("] ");
        msg.rfind("[json.exception", 0) == 0 && close != std::string::npos) {
        msg = msg.substr(close + 2);
    }
    throw InputError("invalid JSON in " + what + ": " + msg);
}

} // namespace

std::string python_float_repr(double v) {
    if (std::isnan(v)) {
        return "NaN";
    }
    if (std::isinf(v)) {
        return v > 0 ? "Infinity" : "-Infinity";
    }
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string_view sci(buf, static_cast<size_t>(res.ptr - buf)); // [-]d[.ddd]e[+-]dd
    std::string out;
    if (!sci.empty() && sci.front() == '-') {
        out += '-';
        sci.remove_prefix(1);
    }
    const size_t e_pos = sci.find('e');
    std::string digits;
    for (char c : sci.substr(0, e_pos)) {
        if (c != '.') {
            digits += c;
        }
    }
    int exp10 = 0;
    std::string_view exp_text = sci.substr(e_pos + 1);
    if (!exp_text.empty() && exp_text.front() == '+') {
        exp_text.remove_prefix(1);
    }
    std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp10);
    const int ndigits = static_cast<int>(digits.size());
    const int decpt = exp10 + 1; // value = 0.<digits> * 10^decpt
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            out += "0.";
            out.append(static_cast<size_t>(-decpt), '0');
            out += digits;
        } else if (decpt >= ndigits) {
            out += digits;
            out.append(static_cast<size_t>(decpt - ndigits), '0');
            out += ".0";
        } else {
            out += digits.substr(0, static_cast<size_t>(decpt));
            out += '.';
            out += digits.substr(static_cast<size_t>(decpt));
        }
    } else {
        out += digits[0];
        if (ndigits > 1) {
            out += '.';
            out += digits.substr(1);
        }
        out += exp10 < 0 ? "e-" : "e+";
        const int a = exp10 < 0 ? -exp10 : exp10;
        if (a < 10) {
            out += '0';
        }
        out += std::to_string(a);
    }
    return out;
}

std::string dump_json(const nlohmann::json& j) {
    std::string out;
    dump_value(out, j, 0);
    return out;
}

nlohmann::json parse_json(std::string_view text, const std::string& what) {
    const bool maybe_tokens = text.find("NaN") != std::string_view::npos ||
                              text.find("Infinity") != std::string_view::npos;
    try {
        if (!maybe_tokens) {
            return nlohmann::json::parse(text);
        }
        // A real string equal to a sentinel is (practically) impossible, but if one is there
        // the count does not match and another salt is tried.
        std::string rewritten;
        for (int salt = 0; salt < 100; ++salt) {
            const size_t replaced = replace_tokens(text, salt, rewritten);
            auto j = nlohmann::json::parse(rewritten);
            if (restore_tokens(j, Sentinels(salt)) == replaced) {
                return j;
            }
        }
    } catch (const nlohmann::json::exception& e) {
        throw_parse_error(what, e);
    }
    throw InputError("invalid JSON in " + what + ": cannot read NaN/Infinity tokens");
}

} // namespace baims::zarr
