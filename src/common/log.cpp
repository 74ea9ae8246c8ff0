#include "common/log.hpp"

#include <stdexcept>
#include <string>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace deskaudit {
namespace {

LogFormat g_format = LogFormat::text;

void set_pattern(spdlog::sinks::sink& sink, LogFormat format) {
  const char* pattern = format == LogFormat::json
                            ? R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","program":"%n","msg":"%v"})"
                            : "%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %n: %v";
  sink.set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
}

}  // namespace

void init_logging(std::string_view program, std::string_view level, LogFormat format) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    throw std::invalid_argument("log level '" + std::string(level) + "' is not one of trace, debug, info, warn, error");
  }
  spdlog::drop(std::string(program));
  auto logger = spdlog::stderr_color_mt(std::string(program));
  for (auto& sink : logger->sinks()) set_pattern(*sink, format);
  logger->set_level(lvl);
  g_format = format;
  spdlog::set_default_logger(logger);
}

Status add_log_file(const std::filesystem::path& path, std::size_t max_bytes, std::size_t max_files) {
  std::shared_ptr<spdlog::sinks::sink> sink;
  try {
    sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(path.string(), max_bytes, max_files);
  } catch (const spdlog::spdlog_ex& e) {
    return fail(Errc::io, "log file " + path.string() + ": " + e.what());
  }
  set_pattern(*sink, g_format);
  auto logger = spdlog::default_logger();
  logger->sinks().push_back(std::move(sink));
  logger->flush_on(spdlog::level::info);
  return {};
}

}  // namespace deskaudit
