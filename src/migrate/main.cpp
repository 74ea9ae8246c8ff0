// deskaudit-migrate: embedded defaults -> PostgreSQL + S3 (see docs/migration.md).
#include <string>
#include <vector>

#include "common/log.hpp"
#include "migrate/migrate.hpp"

int main(int argc, char** argv) {
  deskaudit::init_logging("deskaudit-migrate", "warn", deskaudit::LogFormat::text);
  return deskaudit::migrate::run_cli(std::vector<std::string>(argv, argv + argc));
}
