#pragma once
// Structured logging: one line per event, "key=value" fields after the message
// (or JSON lines with LogFormat::json). Never pass secrets (passwords, tokens,
// agent keys) to a log call.
#include <cstddef>
#include <filesystem>
#include <string_view>

#include "common/error.hpp"

#include <spdlog/spdlog.h>

namespace deskaudit {

enum class LogFormat { text, json };

// Configures the default spdlog logger for a program ("server", "agent").
// level: trace|debug|info|warn|error. Throws std::invalid_argument on a bad level.
void init_logging(std::string_view program, std::string_view level, LogFormat format);

// Also writes the default logger's lines (same format) to `path`, rotated:
// once the file would pass max_bytes it becomes path.1 (path.1 becomes path.2,
// and so on up to max_files; the oldest is dropped). For programs nobody
// watches the stderr of, such as a Windows service. Missing directories are
// made.
// Call after init_logging and before other threads log.
// Errors: io when the file cannot be opened.
Status add_log_file(const std::filesystem::path& path, std::size_t max_bytes, std::size_t max_files);

}  // namespace deskaudit
