#include "common/log.hpp"

#include <stdexcept>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace deskaudit {

void init_logging(std::string_view program, std::string_view level, LogFormat format) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    throw std::invalid_argument("log level '" + std::string(level) + "' is not one of trace, debug, info, warn, error");
  }
  auto logger = spdlog::stderr_color_mt(std::string(program));
  if (format == LogFormat::json) {
    logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","program":"%n","msg":"%v"})",
                        spdlog::pattern_time_type::utc);
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %n: %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
}

}  // namespace deskaudit
