#pragma once
// Bulk load with COPY ... FROM STDIN (text format) over pqxx::stream_to, inside a Transaction.
// Rows are built field by field; values are escaped here, so any text is safe.
//
//   db::CopyWriter copy(tx, table, {"geometry", "name"});
//   copy.add_raw(ewkb_hex); copy.add("Ashe"); copy.end_row();
//   copy.complete();

#include "baims/db/connection.hpp"
#include "baims/db/identifiers.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace baims::db {

// One field of PostgreSQL's COPY text format (tab delimiter, the default): backslash, tab, newline
// and carriage return become \\, \t, \n and \r; every other byte (other control characters,
// UTF-8) stays as it is, as the server reads it back. Appended to out. The connection's client
// encoding is UTF-8, where no multibyte character holds one of these bytes.
void append_copy_text(std::string& out, std::string_view text);
// A NULL field in the COPY text format (an empty string is an empty text, not NULL).
inline constexpr std::string_view COPY_TEXT_NULL = "\\N";

class CopyWriter {
public:
    // columns are plain names (quoted here).
    CopyWriter(Transaction& tx, const QualifiedName& table,
               const std::vector<std::string>& columns);
    // Without complete(), the COPY is abandoned; the transaction must then be rolled back.
    ~CopyWriter();
    CopyWriter(const CopyWriter&) = delete;
    CopyWriter& operator=(const CopyWriter&) = delete;

    void add(std::string_view text);          // escaped by append_copy_text
    void add_raw(std::string_view safe_text); // caller guarantees no \, tab, CR, LF (e.g. hex)
    void add_null();
    template <typename T> void add_optional(const T& v) {
        if (v) {
            add(*v);
        } else {
            add_null();
        }
    }
    // Sends the row. Throws if the number of fields differs from the number of columns.
    void end_row();
    // Ends the COPY and checks the server's answer. Throws DatabaseError.
    void complete();

    std::uint64_t rows() const { return m_rows; }

private:
    void separator();

    Transaction& m_tx;
    std::string m_line;
    std::size_t m_fields = 0;
    std::size_t m_columns;
    std::uint64_t m_rows = 0;
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace baims::db
