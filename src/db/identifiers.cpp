#include "baims/db/identifiers.hpp"

#include "baims/core/error.hpp"
#include "baims/core/text.hpp"

#include <algorithm>
#include <vector>

namespace baims::db {

std::string quote_ident(std::string_view name) {
    if (name.empty()) {
        throw ConfigError("empty SQL identifier");
    }
    if (name.find('\0') != std::string_view::npos) {
        throw ConfigError("SQL identifier contains a NUL byte");
    }
    if (name.size() > MAX_IDENTIFIER_BYTES) {
        throw ConfigError("identifier '" + std::string(name) + "' is longer than 63 bytes",
                          "PostgreSQL would truncate it; choose a shorter name");
    }
    if (!text::is_utf8(name)) {
        throw ConfigError("identifier '" + text::valid_utf8(name) + "' is not UTF-8 text",
                          "Write the name in UTF-8 (the database's encoding)");
    }
    std::string out;
    out.reserve(name.size() + 2);
    out += '"';
    for (char c : name) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    out += '"';
    return out;
}

QualifiedName QualifiedName::parse(std::string_view text, std::string_view what) {
    auto fail = [&](const std::string& why) -> ConfigError {
        return ConfigError(std::string(what) + " '" + text::valid_utf8(text) + "': " + why,
                           "Write schema.table, quoting parts with \"...\" (\"\" for a quote)");
    };
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (true) {
        std::string part;
        if (i < text.size() && text[i] == '"') {
            ++i;
            bool closed = false;
            while (i < text.size()) {
                if (text[i] == '"') {
                    if (i + 1 < text.size() && text[i + 1] == '"') {
                        part += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    closed = true;
                    break;
                }
                part += text[i++];
            }
            if (!closed) {
                throw fail("unterminated quoted identifier");
            }
        } else {
            while (i < text.size() && text[i] != '.' && text[i] != '"') {
                char c = text[i++];
                if (c >= 'A' && c <= 'Z') {
                    c = static_cast<char>(c - 'A' + 'a');
                }
                part += c;
            }
            if (i < text.size() && text[i] == '"') {
                throw fail("a quote inside an unquoted identifier");
            }
            if (part.find_first_of(" \t\r\n") != std::string::npos) {
                throw fail("white space in an unquoted identifier");
            }
        }
        if (part.empty()) {
            throw fail("empty name part");
        }
        if (part.size() > MAX_IDENTIFIER_BYTES) {
            throw fail("a part is longer than 63 bytes");
        }
        if (!text::is_utf8(part)) {
            throw fail("not UTF-8 text (the database's encoding)");
        }
        parts.push_back(std::move(part));
        if (i == text.size()) {
            break;
        }
        if (text[i] != '.') {
            throw fail("expected '.' after a quoted identifier");
        }
        ++i;
    }
    if (parts.size() > 2) {
        throw fail("expected at most schema.table");
    }
    if (parts.size() == 2) {
        return {parts[0], parts[1]};
    }
    return {"", parts[0]};
}

std::string QualifiedName::quoted() const {
    return schema.empty() ? quote_ident(name) : quote_ident(schema) + "." + quote_ident(name);
}

std::string derived_name(std::string_view base, std::string_view suffix) {
    std::size_t room =
        suffix.size() >= MAX_IDENTIFIER_BYTES ? 0 : MAX_IDENTIFIER_BYTES - suffix.size();
    std::size_t n = std::min(room, base.size());
    // Do not cut a UTF-8 sequence: back up over continuation bytes.
    while (n > 0 && n < base.size() && (static_cast<unsigned char>(base[n]) & 0xC0) == 0x80) {
        --n;
    }
    return std::string(base.substr(0, n)) + std::string(suffix.substr(0, MAX_IDENTIFIER_BYTES));
}

} // namespace baims::db
