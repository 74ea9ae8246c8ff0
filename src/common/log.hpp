#pragma once
// Structured logging: one line per event, "key=value" fields after the message
// (or JSON lines with LogFormat::json). Never pass secrets (passwords, tokens,
// agent keys) to a log call.
#include <string_view>

#include <spdlog/spdlog.h>

namespace deskaudit {

enum class LogFormat { text, json };

// Configures the default spdlog logger for a program ("server", "agent").
// level: trace|debug|info|warn|error. Throws std::invalid_argument on a bad level.
void init_logging(std::string_view program, std::string_view level, LogFormat format);

}  // namespace deskaudit
