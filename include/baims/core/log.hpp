#pragma once
// Logging setup. Everything the library says goes to stderr through spdlog; stdout belongs to the
// command's own output. Text by default, or one JSON object per line (--log-format json).

#include <string>

namespace baims::log {

enum class Format { Text, Json };

struct Options {
    std::string level = "info"; // trace, debug, info, warn, error, off
    Format format = Format::Text;
    bool quiet = false;         // only warnings and errors
    bool deterministic = false; // no timestamps (for golden tests)
};

// Installs the global logger. Safe to call more than once (the last call wins).
void setup(const Options& options);

// Returns s with any password in it masked: "password=…" in DSNs, "dbpasswd": "…" in JSON,
// and user:pass@ in URLs.
std::string redact(const std::string& s);

// Thin wrappers so that modules without spdlog in their interface can log.
void debug(const std::string& message);
void info(const std::string& message);
void warn(const std::string& message);
void error(const std::string& message);

// The command's closing error line with JSON logs: one JSON object at level error, written at
// every --log-level (off included), so that stderr holds JSON objects only and the error is never
// lost. (With text logs the caller prints the plain line itself.)
void error_object(const std::string& line);

} // namespace baims::log
