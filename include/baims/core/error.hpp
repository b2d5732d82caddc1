#pragma once
// One error hierarchy for the whole library. main() prints exactly one line per error:
//   baims <cmd>: error: <what>. <hint>
// and exits with exit_code(). See docs/exit-codes.md.

#include <stdexcept>
#include <string>

namespace baims {

enum ExitCode : int {
    EXIT_OK = 0,
    EXIT_USAGE = 2,
    EXIT_CONFIG = 3,
    EXIT_INPUT = 4,
    EXIT_OUTPUT = 5,
    EXIT_DATABASE = 6,
    EXIT_REMOTE = 7,
    EXIT_PARTIAL = 8,
    EXIT_INTERNAL = 70,
    EXIT_INTERRUPTED = 130,
};

class Error : public std::runtime_error {
public:
    explicit Error(std::string what, std::string hint = {});
    const std::string& hint() const noexcept { return m_hint; }
    virtual int exit_code() const noexcept { return EXIT_INTERNAL; }
    // A copy of this error with "context: " put before the message (same class, same hint).
    [[noreturn]] virtual void rethrow_with_context(const std::string& context) const;

private:
    std::string m_hint;
};

#define BAIMS_DECLARE_ERROR(Name, Code)                                                            \
    class Name : public Error {                                                                    \
    public:                                                                                        \
        using Error::Error;                                                                        \
        int exit_code() const noexcept override { return Code; }                                   \
        [[noreturn]] void rethrow_with_context(const std::string& context) const override {        \
            throw Name(context + ": " + what(), hint());                                           \
        }                                                                                          \
    };

BAIMS_DECLARE_ERROR(UsageError, EXIT_USAGE)
BAIMS_DECLARE_ERROR(ConfigError, EXIT_CONFIG)
BAIMS_DECLARE_ERROR(InputError, EXIT_INPUT)
BAIMS_DECLARE_ERROR(OutputError, EXIT_OUTPUT)
BAIMS_DECLARE_ERROR(RemoteError, EXIT_REMOTE)
BAIMS_DECLARE_ERROR(Interrupted, EXIT_INTERRUPTED)
BAIMS_DECLARE_ERROR(InternalError, EXIT_INTERNAL)

#undef BAIMS_DECLARE_ERROR

class DatabaseError : public Error {
public:
    DatabaseError(std::string what, std::string hint = {}, std::string sqlstate = {});
    int exit_code() const noexcept override { return EXIT_DATABASE; }
    const std::string& sqlstate() const noexcept { return m_sqlstate; }
    [[noreturn]] void rethrow_with_context(const std::string& context) const override;

private:
    std::string m_sqlstate;
};

// Formats the single user-facing line: "baims <cmd>: error: <what>. <hint>"
std::string format_error_line(const std::string& command, const std::string& what,
                              const std::string& hint);

} // namespace baims
