#include "baims/core/log.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <regex>

namespace baims::log {
namespace {

// Formats a record as one JSON object: {"time":..., "level":..., "msg":...}
class JsonFormatter : public spdlog::formatter {
public:
    explicit JsonFormatter(bool deterministic)
        : m_deterministic(deterministic) {}

    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        nlohmann::ordered_json j;
        if (!m_deterministic) {
            auto secs = std::chrono::time_point_cast<std::chrono::milliseconds>(msg.time);
            auto ms = secs.time_since_epoch().count();
            std::time_t t = static_cast<std::time_t>(ms / 1000);
            std::tm tm{};
            gmtime_r(&t, &tm);
            char buf[40];
            std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
            char full[48];
            std::snprintf(full, sizeof full, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
            j["time"] = full;
        }
        j["level"] = std::string(spdlog::level::to_string_view(msg.level).data(),
                                 spdlog::level::to_string_view(msg.level).size());
        j["msg"] = std::string(msg.payload.data(), msg.payload.size());
        auto s = j.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
        dest.append(s.data(), s.data() + s.size());
        dest.push_back('\n');
    }

    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<JsonFormatter>(m_deterministic);
    }

private:
    bool m_deterministic;
};

} // namespace

void setup(const Options& options) {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto logger = std::make_shared<spdlog::logger>("baims", sink);
    if (options.format == Format::Json) {
        logger->set_formatter(std::make_unique<JsonFormatter>(options.deterministic));
    } else if (options.deterministic) {
        logger->set_pattern("%l: %v");
    } else {
        logger->set_pattern("%Y-%m-%d %H:%M:%S %l: %v");
    }
    auto level = spdlog::level::from_str(options.level);
    if (options.quiet && level < spdlog::level::warn) {
        level = spdlog::level::warn;
    }
    logger->set_level(level);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
}

void error_object(const std::string& line) {
    auto logger = spdlog::default_logger();
    const auto level = logger->level();
    if (level > spdlog::level::err) {
        logger->set_level(spdlog::level::err);
    }
    logger->error(line);
    logger->set_level(level);
}

std::string redact(const std::string& s) {
    static const std::regex dsn_pw(R"re((password\s*=\s*)('[^']*'|\S+))re", std::regex::icase);
    static const std::regex json_pw(R"re(("(?:dbpasswd|password)"\s*:\s*)"(?:[^"\\]|\\.)*")re",
                                    std::regex::icase);
    static const std::regex url_pw(R"re((://[^:/@\s]+:)[^@/\s]+@)re");
    std::string out = std::regex_replace(s, dsn_pw, "$1***");
    out = std::regex_replace(out, json_pw, "$1\"***\"");
    out = std::regex_replace(out, url_pw, "$1***@");
    return out;
}

void debug(const std::string& message) {
    spdlog::debug(message);
}
void info(const std::string& message) {
    spdlog::info(message);
}
void warn(const std::string& message) {
    spdlog::warn(message);
}
void error(const std::string& message) {
    spdlog::error(message);
}

} // namespace baims::log
