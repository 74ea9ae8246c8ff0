// Each built-in role against every route of the table: allowed, or 403 with
// nothing leaked. And a scoped auditor sees only its pool by every route. A
// scoped administrator and a scoped policy writer are tried on every route
// twice: with objects of their pool (allowed unless the route needs an
// unscoped grant) and with objects of another pool (403 or 404, never done).
#include <gtest/gtest.h>

#include <map>
#include <regex>

#include "auth/permissions.hpp"
#include "sample_media.hpp"
#include "server/services.hpp"
#include "server_process.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;

namespace {

class Permissions : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("perms");
    server_ = new ServerProcess(ServerOptions(dir_->path() / "data"));
    Api admin(server_->url(), admin_token(server_->url()));
    ids_["pools"] = admin.post("/api/v1/pools", {{"name", "pool a"}}).json["id"];
    pool_b_ = admin.post("/api/v1/pools", {{"name", "pool b"}}).json["id"];
    auto a = enroll_agent(admin, "desk-a", ids_["pools"]);
    auto b = enroll_agent(admin, "desk-b", pool_b_);
    ids_["computers"] = a.computer_id;
    computer_b_ = b.computer_id;
    ids_["policies"] = admin.post("/api/v1/policies", {{"name", "p"}, {"recording", {{"mode", "session"}}}}).json["id"];
    auto segs = make_segments(1, 2);
    auto record = [&](const EnrolledAgent& who) {
      Api agent(server_->url(), who.agent_token);
      auto id = agent.post("/api/v1/agent/recordings", {{"username", "u"}, {"start_time", "2026-11-27T10:00:00Z"}}).json["id"].get<std::string>();
      // Activity events naming the computer, so a leak would show.
      const auto events = Json{{"format", "deskaudit-events/1"}, {"recording_id", id}, {"seq", 0},
                               {"events", {{{"t_ms", 0}, {"type", "window"}, {"title", "window of " + who.computer_id}, {"app", "shared-app"}}}}}.dump();
      agent.raw("PUT", "/api/v1/agent/recordings/" + id + "/segments/0/events", events, {{"X-Content-SHA256", sha256_of(events)}});
      agent.raw("PUT", "/api/v1/agent/recordings/" + id + "/segments/0", segs[0],
                {{"X-Content-SHA256", sha256_of(segs[0])}, {"X-Deskaudit-Events-SHA256", sha256_of(events)}});
      agent.post("/api/v1/agent/recordings/" + id + "/finish", {{"end_time", "2026-11-27T10:00:02Z"}});
      return id;
    };
    ids_["recordings"] = record(a);
    rec_b_ = record(b);
    ids_["segments"] = "0";
    ids_["users"] = admin.post("/api/v1/users", {{"username", "victim"}, {"password", "correct-horse-staple-1"}}).json["id"];
    ids_["roles"] = admin.post("/api/v1/roles", {{"name", "custom"}, {"permissions", {"audit:read"}}}).json["id"];
    ids_["enrollment-tokens"] = admin.post("/api/v1/enrollment-tokens", Json::object()).json["id"];
    for (const auto& role : auth::builtin_roles()) {
      const auto name = "user-" + role.id;
      auto u = admin.post("/api/v1/users", {{"username", name}, {"password", "role-password-123"}, {"roles", {{{"role_id", role.id}}}}});
      ASSERT_EQ(u.status, 201) << u.body;
      Api anon(server_->url());
      tokens_[role.id] = anon.post("/api/v1/auth/login", {{"username", name}, {"password", "role-password-123"}}).json["token"];
    }
    ids_["api-tokens"] = Api(server_->url(), tokens_["read-only"]).post("/api/v1/api-tokens", {{"name", "t"}}).json["id"];
    auto scoped = admin.post("/api/v1/users", {{"username", "scoped-auditor"}, {"password", "scoped-password-1"},
                                               {"roles", {{{"role_id", "auditor-download"}, {"scope_type", "pool"}, {"scope_id", ids_["pools"]}}}}});
    ASSERT_EQ(scoped.status, 201) << scoped.body;
    scoped_token_ = Api(server_->url()).post("/api/v1/auth/login", {{"username", "scoped-auditor"}, {"password", "scoped-password-1"}}).json["token"];
    for (const auto& [name, role] : {std::pair{"scoped-administrator", "administrator"}, std::pair{"scoped-policy-writer", "policy-administrator"}}) {
      auto u = admin.post("/api/v1/users", {{"username", name}, {"password", "scoped-password-1"},
                                            {"roles", {{{"role_id", role}, {"scope_type", "pool"}, {"scope_id", ids_["pools"]}}}}});
      ASSERT_EQ(u.status, 201) << u.body;
      tokens_[name] = Api(server_->url()).post("/api/v1/auth/login", {{"username", name}, {"password", "scoped-password-1"}}).json["token"];
    }
    // The same kinds of objects in pool b, for the scoped rows' other pass.
    ids_b_ = ids_;
    ids_b_["pools"] = pool_b_;
    ids_b_["computers"] = computer_b_;
    ids_b_["recordings"] = rec_b_;
    ids_b_["policies"] = admin.post("/api/v1/policies", {{"name", "pb"}, {"recording", {{"mode", "session"}}}}).json["id"];
    ASSERT_EQ(admin.put("/api/v1/policies/" + ids_b_["policies"] + "/assignments/pools/" + pool_b_).status, 204);
    ids_b_["enrollment-tokens"] = admin.post("/api/v1/enrollment-tokens", {{"pool_id", pool_b_}}).json["id"];
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }

  // A concrete path for a route pattern: each group takes the id of the
  // resource named just before it.
  static std::string path_for(const std::string& pattern, const std::map<std::string, std::string>& ids = ids_) {
    std::string out;
    std::string last;
    std::size_t i = 0;
    while (i < pattern.size()) {
      if (pattern.compare(i, 7, "([^/]+)") == 0) {
        out += ids.at(last);
        i += 7;
      } else if (pattern[i] == '\\') {
        out += pattern[i + 1];
        i += 2;
      } else {
        if (pattern[i] == '/') last.clear();
        else last += pattern[i];
        out += pattern[i];
        ++i;
      }
      if (!out.empty() && out.back() == '/') {
        auto prev = out.substr(0, out.size() - 1);
        last = prev.substr(prev.rfind('/') + 1);
      }
    }
    return out;
  }

  static inline TempDir* dir_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::map<std::string, std::string> ids_, ids_b_;
  static inline std::map<std::string, std::string> tokens_;
  static inline std::string pool_b_, computer_b_, rec_b_, scoped_token_;
};

TEST_F(Permissions, AuditorListsAndPlaysButCannotDownload) {
  Api auditor(server_->url(), tokens_["auditor"]);
  const auto rec = ids_["recordings"];
  EXPECT_EQ(auditor.get("/api/v1/recordings").status, 200);
  EXPECT_EQ(auditor.get("/api/v1/recordings/" + rec + "/playlist.m3u8").status, 200);
  EXPECT_EQ(auditor.get("/api/v1/recordings/" + rec + "/segments/0").status, 200);
  EXPECT_EQ(auditor.get("/api/v1/recordings/" + rec + "/download").status, 403);
  EXPECT_EQ(auditor.del("/api/v1/recordings/" + rec).status, 403);
  EXPECT_EQ(auditor.post("/api/v1/policies", {{"name", "x"}}).status, 403);
}

TEST_F(Permissions, ScopedAuditorSeesOnlyItsPoolByEveryRoute) {
  Api s(server_->url(), scoped_token_);
  auto list = s.get("/api/v1/recordings?count=true");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.json["items"].size(), 1u);
  EXPECT_EQ(list.json["items"][0]["id"], ids_["recordings"]);
  EXPECT_EQ(list.json["total"], 1);
  EXPECT_EQ(s.get("/api/v1/recordings?pool_id=" + pool_b_).json["items"].size(), 0u);
  EXPECT_EQ(s.get("/api/v1/recordings?computer_id=" + computer_b_).json["items"].size(), 0u);
  for (const std::string& suffix : std::vector<std::string>{"", "/playlist.m3u8", "/segments/0", "/download", "/events"}) {
    auto r = s.get("/api/v1/recordings/" + rec_b_ + suffix);
    EXPECT_EQ(r.status, 404) << suffix << " " << r.body;
    EXPECT_EQ(r.body.find(computer_b_), std::string::npos);
    EXPECT_EQ(s.get("/api/v1/recordings/" + ids_["recordings"] + suffix).status, 200) << suffix;
  }
  // Activity events: only the pool's own, by every route and filter.
  auto events = s.get("/api/v1/events?app=shared-app");
  ASSERT_EQ(events.status, 200) << events.body;
  ASSERT_EQ(events.json["items"].size(), 1u) << events.body;
  EXPECT_EQ(events.json["items"][0]["recording_id"], ids_["recordings"]);
  EXPECT_EQ(events.body.find(computer_b_), std::string::npos);
  for (const std::string& query : std::vector<std::string>{"", "?pool_id=" + pool_b_, "?computer_id=" + computer_b_,
                                                           "?window_title=" + computer_b_}) {
    auto r = s.get("/api/v1/events" + query);
    EXPECT_EQ(r.body.find(computer_b_), std::string::npos) << query << " " << r.body;
  }
  auto by_title = s.get("/api/v1/recordings?app=shared-app");
  ASSERT_EQ(by_title.json["items"].size(), 1u);
  EXPECT_EQ(by_title.json["items"][0]["id"], ids_["recordings"]);
  EXPECT_EQ(by_title.json["items"][0]["first_match_ms"], 0);
  EXPECT_EQ(s.get("/api/v1/recordings/" + ids_["recordings"] + "/events").json["items"].size(), 1u);
  auto computers = s.get("/api/v1/computers");
  ASSERT_EQ(computers.json["items"].size(), 1u);
  EXPECT_EQ(computers.json["items"][0]["id"], ids_["computers"]);
  EXPECT_EQ(s.get("/api/v1/computers/" + computer_b_).status, 404);
  EXPECT_EQ(s.get("/api/v1/computers/" + computer_b_ + "/recording-status").status, 404);
  EXPECT_EQ(s.get("/api/v1/pools/" + pool_b_ + "/computers").status, 404);
}

TEST_F(Permissions, ConsoleCookieNeedsCsrfHeaderForChanges) {
  Api anon(server_->url());
  auto login = anon.post("/api/v1/auth/login", {{"username", "admin"}, {"password", kAdminPassword}, {"session", "cookie"}});
  ASSERT_EQ(login.status, 200);
  // The session secret is only in the HttpOnly cookie.
  const auto& set_cookie = login.headers["set-cookie"];
  const auto at = set_cookie.find("deskaudit_session=") + std::string("deskaudit_session=").size();
  const auto session = set_cookie.substr(at, set_cookie.find(';', at) - at);
  ASSERT_TRUE(session.starts_with("das_")) << set_cookie;
  const auto csrf = login.json["csrf_token"].get<std::string>();
  const std::string cookie = "deskaudit_session=" + session + "; deskaudit_csrf=" + csrf;
  EXPECT_EQ(anon.raw("GET", "/api/v1/pools", "", {{"Cookie", cookie}}).status, 200);
  EXPECT_EQ(anon.raw("POST", "/api/v1/pools", "{\"name\":\"c1\"}", {{"Cookie", cookie}, {"Content-Type", "application/json"}}).status, 403);
  EXPECT_EQ(anon.raw("POST", "/api/v1/pools", "{\"name\":\"c1\"}",
                     {{"Cookie", cookie}, {"Content-Type", "application/json"}, {"X-CSRF-Token", "wrong"}}).status, 403);
  EXPECT_EQ(anon.raw("POST", "/api/v1/pools", "{\"name\":\"c1\"}",
                     {{"Cookie", cookie}, {"Content-Type", "application/json"}, {"X-CSRF-Token", csrf}}).status, 201);
  // Signing out revokes the session.
  EXPECT_EQ(anon.raw("POST", "/api/v1/auth/logout", "{}", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}, {"Content-Type", "application/json"}}).status, 204);
  EXPECT_EQ(anon.raw("GET", "/api/v1/pools", "", {{"Cookie", cookie}}).status, 401);
}

// Last: the administrator's allowed DELETEs remove the fixtures.
TEST_F(Permissions, EveryBuiltinRoleAgainstEveryRoute) {
  server::Services none;
  const auto routes = server::build_routes(none);
  // Scoped rows before the administrator; the administrator last: its
  // allowed DELETEs remove fixtures.
  std::vector<std::string> order = {"read-only", "auditor", "auditor-download", "policy-administrator",
                                    "scoped-policy-writer", "scoped-administrator", "administrator"};
  const std::map<std::string, std::string> scoped_roles = {{"scoped-policy-writer", "policy-administrator"},
                                                           {"scoped-administrator", "administrator"}};
  // Object kinds whose scope a pool grant limits.
  const std::vector<std::string> pooled = {"pools", "computers", "recordings", "policies", "enrollment-tokens"};
  int checked = 0, outside = 0;
  for (const auto& row : order) {
    const bool is_scoped = scoped_roles.contains(row);
    const auto role_id = is_scoped ? scoped_roles.at(row) : row;
    const auto& role = *std::ranges::find(auth::builtin_roles(), role_id, &catalog::Role::id);
    Api api(server_->url(), tokens_[row]);
    auto refused = [&](const Reply& reply) {
      EXPECT_EQ(reply.status, 403) << reply.body;
      ASSERT_TRUE(reply.json.is_object()) << reply.body;
      EXPECT_EQ(reply.json.size(), 1u) << "a refusal carries only the error: " << reply.body;
      EXPECT_EQ(reply.json["error"]["code"], "permission_denied");
    };
    // Scoped rows name their own pool in bodies, so a create lands inside it.
    const std::string body_json = is_scoped ? Json{{"pool_id", ids_["pools"]}}.dump() : "{}";
    for (const auto& r : routes) {
      if (r.access.kind == server::AccessKind::open || r.access.kind == server::AccessKind::agent) continue;
      if (r.pattern == "/api/v1/auth/logout") continue;  // would end this role's session
      const bool held = std::ranges::find(role.permissions, r.access.permission) != role.permissions.end();
      const bool allowed = r.access.kind == server::AccessKind::signed_in || (held && !(is_scoped && r.access.unscoped));
      const std::string body = (r.method == "GET" || r.method == "DELETE") ? "" : (allowed ? body_json : "{}");
      if (is_scoped && allowed) {
        // Objects of pool b: never reachable (404 when hidden, 403 when
        // visible but outside the write scope). Policies are readable by
        // every policy reader, so GETs of them are not tried.
        bool names_pooled = false;
        for (const auto& kind : pooled) names_pooled = names_pooled || r.pattern.find("/" + kind + "/(") != std::string::npos;
        const bool readable_policy = r.method == "GET" && r.pattern.starts_with("/api/v1/policies/");
        if (names_pooled && !readable_policy) {
          const auto path_b = path_for(r.pattern, ids_b_);
          auto reply = api.raw(r.method, path_b, body, {{"Content-Type", "application/json"}});
          SCOPED_TRACE(row + " outside its pool: " + r.method + " " + path_b);
          EXPECT_TRUE(reply.status == 403 || reply.status == 404) << reply.status << " " << reply.body;
          EXPECT_EQ(reply.body.find("desk-b"), std::string::npos) << reply.body;
          ++outside;
        }
      }
      const auto path = path_for(r.pattern);
      auto reply = api.raw(r.method, path, body, {{"Content-Type", "application/json"}});
      SCOPED_TRACE(row + " " + r.method + " " + path);
      // Taking a computer out of its pool leaves it outside every pool,
      // which no pool-scoped grant reaches.
      const bool leaves_every_pool = r.method == "DELETE" && r.pattern == "/api/v1/pools/([^/]+)/computers/([^/]+)";
      if (is_scoped && allowed && leaves_every_pool) {
        // 404 once this row's DELETE of the computer has run before.
        EXPECT_TRUE(reply.status == 403 || reply.status == 404) << reply.status << " " << reply.body;
      } else if (allowed) {
        EXPECT_NE(reply.status, 403) << reply.body;
        EXPECT_NE(reply.status, 401) << reply.body;
      } else {
        refused(reply);
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 7 * 40);
  EXPECT_GT(outside, 2 * 15);
  // Pool b's objects came through both scoped rows untouched.
  Api admin(server_->url(), admin_token(server_->url()));
  EXPECT_EQ(admin.get("/api/v1/recordings/" + rec_b_).status, 200);
  EXPECT_EQ(admin.get("/api/v1/computers/" + computer_b_).json["pool_id"], pool_b_);
  auto pb = admin.get("/api/v1/policies/" + ids_b_["policies"]);
  ASSERT_EQ(pb.status, 200);
  EXPECT_EQ(pb.json["assignments"].size(), 1u);
  EXPECT_EQ(pb.json["name"], "pb");
}

}  // namespace
