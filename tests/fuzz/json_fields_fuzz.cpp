// Fuzz target: the JSON field helpers every route uses on request bodies
// (server/http.hpp get_string/get_int/get_bool, server/views.hpp get_name,
// get_time, rule_from_json), on every member of an arbitrary body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "policy/policy.hpp"
#include "server/views.hpp"

using namespace deskaudit;
using namespace deskaudit::server;

namespace {

template <class T>
void expect_named_422(const Result<T>& r, const std::string& field) {
  if (r) return;
  FUZZ_CHECK(r.error().code == Errc::unprocessable);
  FUZZ_CHECK(!r.error().message.empty());
  FUZZ_CHECK(r.error().field.rfind(field, 0) == 0 || r.error().field.rfind("recording", 0) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Request req;
  Response res;
  const Context ctx(req, res, Principal{}, std::string(reinterpret_cast<const char*>(data), size));
  auto body = ctx.json_body();
  if (!body) return 0;
  for (const auto& [key, value] : body->items()) {
    const std::string field = key;
    auto s = get_string(*body, field);
    expect_named_422(s, field);
    if (s) FUZZ_CHECK(value.is_string());
    expect_named_422(get_string(*body, field, false), field);
    auto i = get_int(*body, field);
    expect_named_422(i, field);
    if (i && *i) FUZZ_CHECK(value.is_number_integer());
    auto b = get_bool(*body, field);
    expect_named_422(b, field);
    auto name = get_name(*body, field);
    expect_named_422(name, field);
    if (name) FUZZ_CHECK(check_name(*name, field).has_value());
    auto t = get_time(*body, field);
    expect_named_422(t, field);
    auto rule = policy::rule_from_json(value, policy::RecordingRule{});
    if (!rule) {
      FUZZ_CHECK(rule.error().code == Errc::unprocessable);
      FUZZ_CHECK(rule.error().field.rfind("recording", 0) == 0);
    } else {
      (void)policy::rule_to_json(*rule).dump();
    }
  }
  return 0;
}
