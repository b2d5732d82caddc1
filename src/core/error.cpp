#include "baims/core/error.hpp"

namespace baims {

Error::Error(std::string what, std::string hint)
    : std::runtime_error(std::move(what))
    , m_hint(std::move(hint)) {}

void Error::rethrow_with_context(const std::string& context) const {
    throw Error(context + ": " + what(), hint());
}

DatabaseError::DatabaseError(std::string what, std::string hint, std::string sqlstate)
    : Error(std::move(what), std::move(hint))
    , m_sqlstate(std::move(sqlstate)) {}

void DatabaseError::rethrow_with_context(const std::string& context) const {
    throw DatabaseError(context + ": " + what(), hint(), m_sqlstate);
}

std::string format_error_line(const std::string& command, const std::string& what,
                              const std::string& hint) {
    std::string line = "baims";
    if (!command.empty()) {
        line += " " + command;
    }
    line += ": error: " + what;
    if (!line.empty() && line.back() != '.') {
        line += '.';
    }
    if (!hint.empty()) {
        line += " " + hint;
    }
    return line;
}

} // namespace baims
