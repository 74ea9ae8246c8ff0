// Every route declares who may call it, in one table; this walks the table.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "auth/permissions.hpp"
#include "server/services.hpp"

using namespace deskaudit;
using namespace deskaudit::server;

namespace {

std::vector<Route> table() {
  static Services services;  // handlers are not called here
  return build_routes(services);
}

const Route* match(const std::string& method, const std::string& path) {
  static const auto routes = table();
  for (const auto& r : routes) {
    if (r.method == method && std::regex_match(path, std::regex(r.pattern))) return &r;
  }
  return nullptr;
}

TEST(RouteTable, EveryRouteDeclaresItsAccess) {
  for (const auto& r : table()) {
    SCOPED_TRACE(r.method + " " + r.pattern);
    EXPECT_FALSE(r.summary.empty());
    EXPECT_TRUE(r.handler);
    if (r.access.kind == AccessKind::permission) {
      EXPECT_TRUE(auth::is_permission(r.access.permission)) << r.access.permission;
    }
    if (r.access.kind == AccessKind::agent) {
      EXPECT_EQ(r.pattern.rfind("/api/v1/agent/", 0), 0u);
    }
    if (r.pattern.rfind("/api/v1/agent/", 0) == 0 && r.pattern != "/api/v1/agent/enroll") {
      EXPECT_EQ(r.access.kind, AccessKind::agent);
    }
  }
}

TEST(RouteTable, OnlyHealthLoginAndEnrollAreOpen) {
  std::set<std::string> open;
  for (const auto& r : table()) {
    if (r.access.kind == AccessKind::open) open.insert(r.method + " " + r.pattern);
  }
  EXPECT_EQ(open, (std::set<std::string>{"GET /api/v1/health", "POST /api/v1/auth/login", "POST /api/v1/agent/enroll"}));
}

TEST(RouteTable, NoTwoRoutesShareMethodAndPattern) {
  std::set<std::string> seen;
  for (const auto& r : table()) EXPECT_TRUE(seen.insert(r.method + " " + r.pattern).second) << r.pattern;
}

TEST(RouteTable, EveryRouteOfTheContractExists) {
  // ../shared/docs/api.md
  const std::vector<std::pair<std::string, std::string>> contract = {
      {"POST", "/api/v1/auth/login"},
      {"GET", "/api/v1/health"},
      {"POST", "/api/v1/enrollment-tokens"},
      {"GET", "/api/v1/users"},
      {"GET", "/api/v1/roles"},
      {"GET", "/api/v1/api-tokens"},
      {"GET", "/api/v1/audit-log"},
      {"GET", "/api/v1/computers"},
      {"POST", "/api/v1/computers"},
      {"GET", "/api/v1/computers/cc-1"},
      {"PATCH", "/api/v1/computers/cc-1"},
      {"DELETE", "/api/v1/computers/cc-1"},
      {"GET", "/api/v1/pools"},
      {"POST", "/api/v1/pools"},
      {"GET", "/api/v1/pools/pool-1"},
      {"PATCH", "/api/v1/pools/pool-1"},
      {"DELETE", "/api/v1/pools/pool-1"},
      {"GET", "/api/v1/pools/pool-1/computers"},
      {"PUT", "/api/v1/pools/pool-1/computers/cc-1"},
      {"DELETE", "/api/v1/pools/pool-1/computers/cc-1"},
      {"GET", "/api/v1/policies"},
      {"POST", "/api/v1/policies"},
      {"GET", "/api/v1/policies/pol-1"},
      {"PATCH", "/api/v1/policies/pol-1"},
      {"DELETE", "/api/v1/policies/pol-1"},
      {"PUT", "/api/v1/policies/pol-1/assignments/computers/cc-1"},
      {"DELETE", "/api/v1/policies/pol-1/assignments/computers/cc-1"},
      {"PUT", "/api/v1/policies/pol-1/assignments/pools/pool-1"},
      {"DELETE", "/api/v1/policies/pol-1/assignments/pools/pool-1"},
      {"GET", "/api/v1/computers/cc-1/effective-policy"},
      {"GET", "/api/v1/computers/cc-1/recording-status"},
      {"GET", "/api/v1/recordings"},
      {"GET", "/api/v1/recordings/rec-1"},
      {"GET", "/api/v1/recordings/rec-1/playlist.m3u8"},
      {"GET", "/api/v1/recordings/rec-1/download"},
      {"GET", "/api/v1/recordings/rec-1/segments/0"},
      {"DELETE", "/api/v1/recordings/rec-1"},
      {"POST", "/api/v1/agent/enroll"},
      {"POST", "/api/v1/agent/heartbeat"},
      {"GET", "/api/v1/agent/policy"},
      {"POST", "/api/v1/agent/recordings"},
      {"PUT", "/api/v1/agent/recordings/rec-1/segments/0"},
      {"POST", "/api/v1/agent/recordings/rec-1/finish"},
  };
  for (const auto& [method, path] : contract) EXPECT_NE(match(method, path), nullptr) << method << " " << path;
}

TEST(RouteTable, RecordingRoutesNeedTheMatchingPermission) {
  EXPECT_EQ(match("GET", "/api/v1/recordings")->access.permission, "recording:list");
  EXPECT_EQ(match("GET", "/api/v1/recordings/rec-1/playlist.m3u8")->access.permission, "recording:play");
  EXPECT_EQ(match("GET", "/api/v1/recordings/rec-1/segments/3")->access.permission, "recording:play");
  EXPECT_EQ(match("GET", "/api/v1/recordings/rec-1/download")->access.permission, "recording:download");
  EXPECT_EQ(match("DELETE", "/api/v1/recordings/rec-1")->access.permission, "recording:delete");
  EXPECT_EQ(match("POST", "/api/v1/policies")->access.permission, "policy:write");
  EXPECT_EQ(match("GET", "/api/v1/audit-log")->access.permission, "audit:read");
  EXPECT_EQ(match("POST", "/api/v1/users")->access.permission, "admin:users");
  // Managing who holds what, reading the whole log, and making pools reach
  // beyond any pool: these need the permission granted without a scope.
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/api/v1/users"}, {"POST", "/api/v1/users"}, {"PATCH", "/api/v1/users/usr-1"},
           {"DELETE", "/api/v1/users/usr-1"}, {"POST", "/api/v1/roles"}, {"PATCH", "/api/v1/roles/r-1"},
           {"DELETE", "/api/v1/roles/r-1"}, {"GET", "/api/v1/audit-log"}, {"GET", "/api/v1/audit-log/verify"},
           {"POST", "/api/v1/pools"}}) {
    EXPECT_TRUE(match(method, path)->access.unscoped) << method << " " << path;
  }
  EXPECT_FALSE(match("GET", "/api/v1/recordings")->access.unscoped);
  EXPECT_FALSE(match("PATCH", "/api/v1/computers/cc-1")->access.unscoped);
  // The playlist route must not swallow the detail route and vice versa.
  EXPECT_EQ(match("GET", "/api/v1/recordings/rec-1")->pattern, "/api/v1/recordings/([^/]+)");
}

}  // namespace
