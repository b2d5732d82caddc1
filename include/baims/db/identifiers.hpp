#pragma once
// Identifiers: every name that reaches SQL is quoted; values never go into SQL text (parameters
// or COPY only). QualifiedName parses schema-qualified names the way PostgreSQL does.

#include <string>
#include <string_view>

namespace baims::db {

// PostgreSQL's identifier length limit (NAMEDATALEN - 1), in bytes.
inline constexpr std::size_t MAX_IDENTIFIER_BYTES = 63;

// Always quotes: abc -> "abc", a"b -> "a""b". Throws ConfigError for an empty name, a NUL byte or
// a name longer than 63 bytes (PostgreSQL would silently truncate it).
std::string quote_ident(std::string_view name);

// A table name, optionally schema-qualified.
struct QualifiedName {
    std::string schema; // empty: unqualified (resolved through search_path)
    std::string name;

    // Parses "public.parcels_2021", "parcels", "\"Parcels \"\"2024\"\"\".t". Like PostgreSQL,
    // unquoted parts are folded to lower case and quoted parts are kept as written. Throws
    // ConfigError (with `what` naming the option or key) on malformed input.
    static QualifiedName parse(std::string_view text, std::string_view what = "table name");

    // "\"schema\".\"name\"" or "\"name\"": safe to splice into SQL.
    std::string quoted() const;
    // For messages: the same quoted form (unambiguous for hostile names); "(not set)" for an
    // empty name (a table that no option or config names).
    std::string display() const { return empty() ? "(not set)" : quoted(); }
    // The same table with another name in the same schema.
    QualifiedName with_name(std::string new_name) const { return {schema, std::move(new_name)}; }

    bool empty() const { return name.empty(); }
    friend bool operator==(const QualifiedName&, const QualifiedName&) = default;
};

// base + suffix, shortened so that the result fits in 63 bytes (cut at a UTF-8 character
// boundary of base). Used for index, constraint and staging-table names.
std::string derived_name(std::string_view base, std::string_view suffix);

} // namespace baims::db
