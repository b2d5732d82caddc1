#include "baims/db/copy_writer.hpp"

#include "baims/core/error.hpp"

#include <pqxx/pqxx>

namespace baims::db {
namespace detail {

// A complete COPY text line, escaped by append_copy_text (ours, tested on its own in
// tests/unit/db). libpqxx 6.4's stream_to only accepts std::tuple rows (a fixed number of columns
// at compile time) and escapes each field itself; our column count is known only at run time, so
// CopyWriter hands stream_to the finished line: stream_to's operator<< formats a row with an
// unqualified call separated_list("\t", row, escaper), and this overload, found by
// argument-dependent lookup for CopyLine, returns the line unchanged. Everything else (COPY set-up,
// end of data, error checks, transaction focus) is stream_to's own code.
//
// No pqxx::internal name is used (the escaper's type is a template parameter), but the hook does
// rest on how stream_to is written. 6.4 has no public, non-deprecated call for a run-time-width
// row (the libpqxx maintainer says so of 6.x in jtv/libpqxx#384): tablewriter::write_raw_line
// needs a deprecated constructor of a class documented as unsafe with multibyte encodings, and a
// raw libpq COPY would need the PGconn (private; a custom connectionpolicy could capture it, but
// then the COPY runs behind the transaction's back). libpqxx 7 has stream_to::write_row for
// containers; move to it with the libpqxx upgrade. If stream_to stops calling this overload the
// build fails (no separated_list for CopyLine) or the db tests "CopyWriter loads hostile text and
// NULLs exactly" and "COPY text escaping reads back exactly through a real COPY" do.
struct CopyLine {
    std::string text;
};

template <class Escaper>
std::string separated_list(const std::string&, const CopyLine& line, const Escaper&) {
    return line.text;
}

} // namespace detail

void append_copy_text(std::string& out, std::string_view text) {
    for (char c : text) {
        switch (c) {
        case '\\':
            out += "\\\\";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        default:
            out += c;
        }
    }
}

struct CopyWriter::Impl {
    std::unique_ptr<pqxx::stream_to> stream;
    detail::CopyLine line;
};

CopyWriter::CopyWriter(Transaction& tx, const QualifiedName& table,
                       const std::vector<std::string>& columns)
    : m_tx(tx)
    , m_columns(columns.size())
    , m_impl(std::make_unique<Impl>()) {
    std::vector<std::string> quoted;
    quoted.reserve(columns.size());
    for (const auto& c : columns) {
        quoted.push_back(quote_ident(c));
    }
    try {
        // stream_to splices the table name and the column list into "COPY <t> (<cols>) FROM
        // STDIN" as given, so both are passed quoted.
        m_impl->stream = std::make_unique<pqxx::stream_to>(m_tx.raw(), table.quoted(), quoted);
    } catch (...) {
        m_tx.connection().rethrow_current("starting COPY into " + table.display());
    }
    m_impl->line.text.reserve(1024);
}

CopyWriter::~CopyWriter() {
    // ~stream_to ends an unfinished COPY without throwing; the caller's transaction rolls back.
}

void CopyWriter::separator() {
    if (m_fields++ > 0) {
        m_impl->line.text += '\t';
    }
}

void CopyWriter::add(std::string_view text) {
    separator();
    append_copy_text(m_impl->line.text, text);
}

void CopyWriter::add_raw(std::string_view safe_text) {
    separator();
    m_impl->line.text.append(safe_text.data(), safe_text.size());
}

void CopyWriter::add_null() {
    separator();
    m_impl->line.text += COPY_TEXT_NULL;
}

void CopyWriter::end_row() {
    if (m_fields != m_columns) {
        throw InternalError("COPY row has " + std::to_string(m_fields) + " fields for " +
                            std::to_string(m_columns) + " columns");
    }
    try {
        *m_impl->stream << m_impl->line;
    } catch (...) {
        m_tx.connection().rethrow_current("writing COPY data");
    }
    m_impl->line.text.clear();
    m_fields = 0;
    ++m_rows;
}

void CopyWriter::complete() {
    try {
        m_impl->stream->complete();
    } catch (...) {
        m_tx.connection().rethrow_current("finishing COPY");
    }
}

} // namespace baims::db
