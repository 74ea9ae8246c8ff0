#pragma once
// A PostgreSQL schema of its own for one test (created on construction,
// dropped with everything in it by the destructor), and an S3 prefix of its
// own, so tests never see each other's rows or objects.
// DESKAUDIT_TEST_POSTGRES_URL / DESKAUDIT_TEST_S3_ENDPOINT name the services.
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>

namespace deskaudit::testing {

inline std::string unique_name(const std::string& tag) {
  std::random_device rd;
  return tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(rd() % 1000000);
}

inline std::optional<std::string> service_env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

class ScratchSchema {
 public:
  ScratchSchema(const std::string& base_url, const std::string& tag) : name_(unique_name(tag)) {
    const std::string admin_url =
        base_url + (base_url.find('?') == std::string::npos ? "?application_name=deskaudit_test" : "");
    admin_ = std::make_unique<soci::session>(soci::postgresql, admin_url);
    *admin_ << "SET client_min_messages = warning";
    *admin_ << "CREATE SCHEMA " + name_;
    url_ = base_url + (base_url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + name_;
  }
  ~ScratchSchema() {
    try {
      *admin_ << "DROP SCHEMA " + name_ + " CASCADE";
    } catch (const std::exception&) {
      // A test that failed half way may leave connections; the schema name is unique anyway.
    }
  }
  ScratchSchema(const ScratchSchema&) = delete;
  ScratchSchema& operator=(const ScratchSchema&) = delete;
  const std::string& url() const { return url_; }  // catalog URL with search_path set to the schema
  // One text value from a query run in the schema ("" when no row).
  std::string query_text(const std::string& sql) {
    std::string value;
    soci::indicator ind = soci::i_ok;
    *admin_ << "SET search_path TO " + name_;
    *admin_ << sql, soci::into(value, ind);
    const bool got = admin_->got_data() && ind == soci::i_ok;
    *admin_ << "SET search_path TO DEFAULT";
    return got ? value : std::string();
  }

 private:
  std::string name_;
  std::string url_;
  std::unique_ptr<soci::session> admin_;
};

}  // namespace deskaudit::testing

// Skips (or fails under CI) when the service's variable is unset.
#define DESKAUDIT_REQUIRE_SERVICE(var, how)                                       \
  do {                                                                            \
    if (!::deskaudit::testing::service_env(var)) {                                \
      if (std::getenv("CI") != nullptr) FAIL() << "CI is set but " var " is not"; \
      GTEST_SKIP() << var " is not set (run: " how ")";                           \
    }                                                                             \
  } while (0)
