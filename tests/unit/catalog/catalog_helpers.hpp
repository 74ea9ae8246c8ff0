#pragma once
// Builders for catalog rows used across the conformance tests.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>

#include "catalog/catalog.hpp"
#include "common/crypto.hpp"

namespace deskaudit::catalog::test {

// Fails the current test with the error's message when r holds an error.
#define CAT_OK(expr)                                                                \
  do {                                                                              \
    auto cat_ok_result_ = (expr);                                                   \
    ASSERT_TRUE(cat_ok_result_) << #expr << ": " << cat_ok_result_.error().message; \
  } while (0)

constexpr EpochMs kT0 = 1'790'000'000'000;  // 2026-09-21
constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kDay = 86'400'000;

inline Pool make_pool(std::string id, std::string name) { return Pool{std::move(id), std::move(name), "desc", kT0}; }

inline Computer make_computer(std::string id, std::string name, std::optional<std::string> pool = std::nullopt) {
  Computer c;
  c.id = std::move(id);
  c.name = std::move(name);
  c.hostname = c.name + ".example";
  c.os = "Debian 12";
  c.pool_id = std::move(pool);
  c.created_at = kT0;
  return c;
}

inline Policy make_policy(std::string id, std::string name, int retention_days = 30) {
  Policy p;
  p.id = std::move(id);
  p.name = std::move(name);
  p.recording.mode = RecordingMode::session;
  p.recording.fps = 10;
  p.recording.retention_days = retention_days;
  p.created_at = kT0;
  p.updated_at = kT0;
  return p;
}

inline Recording make_recording(std::string id, std::string computer_id, std::string username, EpochMs start,
                                std::optional<EpochMs> end = std::nullopt) {
  Recording r;
  r.id = std::move(id);
  r.computer_id = std::move(computer_id);
  r.username = std::move(username);
  r.start_time = start;
  r.end_time = end;
  r.status = end ? RecordingStatus::complete : RecordingStatus::recording;
  r.retention_days = 30;
  r.created_at = start;
  return r;
}

// Filter builders: designated initialisers would trip
// -Wmissing-field-initializers on GCC 12.
#define CAT_SETTER(Type, field)   \
  template <class V>              \
  Type& field(V&& v) {            \
    f.field = std::forward<V>(v); \
    return *this;                 \
  }
struct RF {
  RecordingFilter f;
  CAT_SETTER(RF, computer_id)
  CAT_SETTER(RF, pool_id)
  CAT_SETTER(RF, policy_id)
  CAT_SETTER(RF, username)
  CAT_SETTER(RF, start_time)
  CAT_SETTER(RF, end_time)
  CAT_SETTER(RF, status)
  CAT_SETTER(RF, scope)
  operator const RecordingFilter&() const { return f; }
};
struct AF {
  AuditFilter f;
  CAT_SETTER(AF, actor)
  CAT_SETTER(AF, action)
  CAT_SETTER(AF, target)
  CAT_SETTER(AF, start_time)
  CAT_SETTER(AF, end_time)
  operator const AuditFilter&() const { return f; }
};
#undef CAT_SETTER

inline std::string sha_of(std::string_view text) { return sha256_hex(text); }

}  // namespace deskaudit::catalog::test
