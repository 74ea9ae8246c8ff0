// The trust boundary of the server, tried as an attacker would: scoped
// grants cannot escalate, scope holds on every inventory and policy write,
// a recording keeps the pool it was made in, every way to the media is
// audited (and refused when it cannot be), and a catalog failure is never
// mistaken for a bad credential.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>

#include "common/time.hpp"
#include "sample_media.hpp"
#include "server_process.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;

namespace {

constexpr const char* kPassword = "staple-battery-horse-9";

class Access : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("access");
    server_ = new ServerProcess(ServerOptions(dir_->path() / "data"));
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }

  Api admin() { return Api(server_->url(), admin_token(server_->url())); }

  // A new administrator with these grants; returns its id and signs it in.
  struct User {
    std::string id;
    Api api;
  };
  User make_user(Api& by, const std::string& name, const Json& roles) {
    auto u = by.post("/api/v1/users", {{"username", name}, {"password", kPassword}, {"roles", roles}});
    EXPECT_EQ(u.status, 201) << u.body;
    auto login = Api(server_->url()).post("/api/v1/auth/login", {{"username", name}, {"password", kPassword}});
    EXPECT_EQ(login.status, 200) << login.body;
    return {u.json.value("id", ""), Api(server_->url(), login.json.value("token", ""))};
  }
  static Json scoped(const std::string& role, const std::string& pool) {
    return Json::array({{{"role_id", role}, {"scope_type", "pool"}, {"scope_id", pool}}});
  }
  std::string make_pool(Api& a, const std::string& name) {
    auto p = a.post("/api/v1/pools", {{"name", name}});
    EXPECT_EQ(p.status, 201) << p.body;
    return p.json.value("id", "");
  }
  std::string admin_id(Api& a) {
    const auto users = a.get("/api/v1/users").json;
    for (const auto& u : users["items"]) {
      if (u["username"] == "admin") return u["id"];
    }
    return {};
  }
  // A finished recording of one uploaded segment, started a minute ago.
  std::string record(const EnrolledAgent& who) {
    static const auto segs = make_segments(1, 2);
    const auto now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    Api agent(server_->url(), who.agent_token);
    auto rec =
        agent.post("/api/v1/agent/recordings", {{"username", "u"}, {"start_time", format_rfc3339(now - 60'000)}});
    EXPECT_EQ(rec.status, 201) << rec.body;
    const auto id = rec.json.value("id", "");
    auto up = agent.raw("PUT", "/api/v1/agent/recordings/" + id + "/segments/0", segs[0],
                        {{"X-Content-SHA256", sha256_of(segs[0])}});
    EXPECT_LT(up.status, 300) << up.body;
    auto fin = agent.post("/api/v1/agent/recordings/" + id + "/finish", {{"end_time", format_rfc3339(now - 58'000)}});
    EXPECT_EQ(fin.status, 200) << fin.body;
    return id;
  }
  std::size_t audit_count(Api& a, const std::string& action, const std::string& target, const std::string& actor) {
    auto r = a.get("/api/v1/audit-log?action=" + action + "&target=" + target + "&actor=" + actor);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json["items"].size();
  }
  // Runs SQL on the server's SQLite catalog from outside, as a database
  // fault would hit it.
  void catalog_sql(const std::string& sql) {
    sqlite3* db = nullptr;
    const auto path = (dir_->path() / "data" / "catalog.db").string();
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10'000);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    const std::string message = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << sql << ": " << message;
  }

  static inline TempDir* dir_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
};

// The reproduction from the security review: a pool-scoped administrator
// PATCHes itself to a global one, or resets the global administrator's
// password.
TEST_F(Access, ScopedAdministratorCannotMakeItselfGlobal) {
  auto a = admin();
  const auto pool_a = make_pool(a, "esc-a");
  const auto pool_b = make_pool(a, "esc-b");
  const auto b = enroll_agent(a, "esc-desk-b", pool_b);
  auto me = make_user(a, "esc-scoped", scoped("administrator", pool_a));

  EXPECT_EQ(me.api.get("/api/v1/computers/" + b.computer_id).status, 404);
  auto patch = me.api.patch("/api/v1/users/" + me.id, {{"roles", {{{"role_id", "administrator"}}}}});
  EXPECT_EQ(patch.status, 403) << patch.body;
  EXPECT_EQ(patch.json["error"]["code"], "permission_denied");
  EXPECT_EQ(me.api.get("/api/v1/computers/" + b.computer_id).status, 404);
  auto grants = a.get("/api/v1/users/" + me.id).json;
  ASSERT_EQ(grants["roles"].size(), 1u) << grants.dump();
  EXPECT_EQ(grants["roles"][0]["scope_id"], pool_a);

  // Nor the global administrator's password, nor user or role management.
  EXPECT_EQ(me.api.patch("/api/v1/users/" + admin_id(a), {{"password", "taken-over-password-1"}}).status, 403);
  EXPECT_EQ(
      Api(server_->url()).post("/api/v1/auth/login", {{"username", "admin"}, {"password", kAdminPassword}}).status,
      200);
  EXPECT_EQ(me.api
                .post("/api/v1/users",
                      {{"username", "esc-new"}, {"password", kPassword}, {"roles", {{{"role_id", "administrator"}}}}})
                .status,
            403);
  EXPECT_EQ(me.api.get("/api/v1/users").status, 403);
  EXPECT_EQ(me.api.post("/api/v1/roles", {{"name", "esc-role"}, {"permissions", {"admin:users"}}}).status, 403);
  // audit:read held in a scope does not open the log (it needs no scope).
  EXPECT_EQ(me.api.get("/api/v1/audit-log").status, 403);
  EXPECT_EQ(me.api.get("/api/v1/audit-log/verify").status, 403);
  // Its own API tokens carry its own scope, no more.
  auto tok = me.api.post("/api/v1/api-tokens", {{"name", "esc-automation"}});
  ASSERT_EQ(tok.status, 201) << tok.body;
  Api by_token(server_->url(), tok.json["token"]);
  EXPECT_EQ(by_token.get("/api/v1/computers/" + b.computer_id).status, 404);
  EXPECT_EQ(by_token.patch("/api/v1/users/" + me.id, {{"roles", {{{"role_id", "administrator"}}}}}).status, 403);
}

// A user manager (admin:users without a scope) who is administrator only of
// pool A grants nothing wider than that, and cannot touch anyone holding more.
TEST_F(Access, UserManagerGrantsNothingWiderThanItHolds) {
  auto a = admin();
  const auto pool_a = make_pool(a, "grant-a");
  const auto pool_b = make_pool(a, "grant-b");
  const auto b = enroll_agent(a, "grant-desk-b", pool_b);
  auto role = a.post("/api/v1/roles", {{"name", "user manager"}, {"permissions", {"admin:users"}}});
  ASSERT_EQ(role.status, 201) << role.body;
  Json roles = scoped("administrator", pool_a);
  roles.push_back({{"role_id", role.json["id"]}});
  auto mgr = make_user(a, "grant-mgr", roles);

  auto create = [&](const std::string& name, const Json& r) {
    return mgr.api.post("/api/v1/users", {{"username", name}, {"password", kPassword}, {"roles", r}}).status;
  };
  EXPECT_EQ(create("grant-1", {{{"role_id", "administrator"}}}), 403);
  EXPECT_EQ(create("grant-2", {{{"role_id", "auditor"}}}), 403);
  EXPECT_EQ(create("grant-3", scoped("auditor", pool_b)), 403);
  EXPECT_EQ(create("grant-4", {{{"role_id", "auditor"}, {"scope_type", "computer"}, {"scope_id", b.computer_id}}}),
            403);
  EXPECT_EQ(create("grant-5", scoped("auditor", pool_a)), 201);
  auto users = a.get("/api/v1/users").body;
  for (const auto* refused : {"grant-1", "grant-2", "grant-3", "grant-4"}) {
    EXPECT_EQ(users.find(std::string("\"") + refused + "\""), std::string::npos) << refused;
  }

  // Custom roles only with permissions held everywhere.
  EXPECT_EQ(mgr.api.post("/api/v1/roles", {{"name", "grant-wide"}, {"permissions", {"recording:delete"}}}).status, 403);
  auto own = mgr.api.post("/api/v1/roles", {{"name", "grant-narrow"}, {"permissions", {"admin:users"}}});
  ASSERT_EQ(own.status, 201) << own.body;
  EXPECT_EQ(
      mgr.api.patch("/api/v1/roles/" + own.json["id"].get<std::string>(), {{"permissions", {"audit:read"}}}).status,
      403);
  auto wide = a.post("/api/v1/roles", {{"name", "grant-admin-made"}, {"permissions", {"recording:delete"}}});
  ASSERT_EQ(wide.status, 201);
  EXPECT_EQ(mgr.api.patch("/api/v1/roles/" + wide.json["id"].get<std::string>(), {{"name", "renamed"}}).status, 403);
  EXPECT_EQ(mgr.api.del("/api/v1/roles/" + wide.json["id"].get<std::string>()).status, 403);

  // Nobody holding more can be reset, disabled, deleted, or lose tokens.
  const auto root = admin_id(a);
  EXPECT_EQ(mgr.api.patch("/api/v1/users/" + root, {{"password", "taken-over-password-1"}}).status, 403);
  EXPECT_EQ(mgr.api.patch("/api/v1/users/" + root, {{"disabled", true}}).status, 403);
  EXPECT_EQ(mgr.api.patch("/api/v1/users/" + root, {{"roles", Json::array()}}).status, 403);
  EXPECT_EQ(mgr.api.del("/api/v1/users/" + root).status, 403);
  auto root_token = a.post("/api/v1/api-tokens", {{"name", "root automation"}});
  ASSERT_EQ(root_token.status, 201);
  EXPECT_EQ(mgr.api.del("/api/v1/api-tokens/" + root_token.json["id"].get<std::string>()).status, 403);
  EXPECT_EQ(Api(server_->url(), root_token.json["token"]).get("/api/v1/pools").status, 200);
  auto peer = make_user(a, "grant-peer", scoped("auditor", pool_b));
  EXPECT_EQ(mgr.api.patch("/api/v1/users/" + peer.id, {{"disabled", true}}).status, 403);
  EXPECT_EQ(peer.api.get("/api/v1/recordings").status, 200);
  EXPECT_EQ(
      Api(server_->url()).post("/api/v1/auth/login", {{"username", "admin"}, {"password", kAdminPassword}}).status,
      200);

  // Someone within its reach it may manage.
  auto list = a.get("/api/v1/users").json["items"];
  std::string five;
  for (const auto& u : list) {
    if (u["username"] == "grant-5") five = u["id"];
  }
  EXPECT_EQ(mgr.api.patch("/api/v1/users/" + five, {{"disabled", true}}).status, 200);
}

TEST_F(Access, InventoryWritesCheckEveryPoolInvolved) {
  auto a = admin();
  const auto pool_a = make_pool(a, "inv-a");
  const auto pool_b = make_pool(a, "inv-b");
  const auto ca = enroll_agent(a, "inv-desk-a", pool_a).computer_id;
  const auto cb = enroll_agent(a, "inv-desk-b", pool_b).computer_id;
  auto me = make_user(a, "inv-scoped", scoped("administrator", pool_a));
  auto pool_of = [&](const std::string& c) { return a.get("/api/v1/computers/" + c).json["pool_id"]; };

  // Hidden objects: 404, as if absent, and nothing changes.
  EXPECT_EQ(me.api.put("/api/v1/pools/" + pool_a + "/computers/" + cb).status, 404);
  EXPECT_EQ(me.api.put("/api/v1/pools/" + pool_b + "/computers/" + ca).status, 404);
  EXPECT_EQ(me.api.patch("/api/v1/computers/" + cb, {{"pool_id", pool_a}}).status, 404);
  EXPECT_EQ(me.api.patch("/api/v1/computers/" + cb, {{"name", "mine"}}).status, 404);
  EXPECT_EQ(me.api.del("/api/v1/computers/" + cb).status, 404);
  EXPECT_EQ(me.api.patch("/api/v1/pools/" + pool_b, {{"name", "mine"}}).status, 404);
  EXPECT_EQ(me.api.del("/api/v1/pools/" + pool_b).status, 404);
  EXPECT_EQ(me.api.del("/api/v1/pools/" + pool_b + "/computers/" + cb).status, 404);
  // A hidden target pool reads like one that does not exist.
  auto into_b = me.api.patch("/api/v1/computers/" + ca, {{"pool_id", pool_b}});
  EXPECT_EQ(into_b.status, 422) << into_b.body;
  EXPECT_EQ(into_b.body.find("inv-b"), std::string::npos);
  EXPECT_EQ(me.api.post("/api/v1/computers", {{"name", "x"}, {"pool_id", pool_b}}).status, 422);
  // Out of every pool, or a new pool: beyond any pool scope.
  EXPECT_EQ(me.api.del("/api/v1/pools/" + pool_a + "/computers/" + ca).status, 403);
  EXPECT_EQ(me.api.patch("/api/v1/computers/" + ca, {{"pool_id", nullptr}}).status, 403);
  EXPECT_EQ(me.api.post("/api/v1/computers", {{"name", "x"}}).status, 403);
  EXPECT_EQ(me.api.post("/api/v1/pools", {{"name", "inv-new"}}).status, 403);
  EXPECT_EQ(pool_of(ca), pool_a);
  EXPECT_EQ(pool_of(cb), pool_b);
  EXPECT_EQ(a.get("/api/v1/pools/" + pool_b).json["name"], "inv-b");
  // Inside its pool it works.
  EXPECT_EQ(me.api.patch("/api/v1/computers/" + ca, {{"name", "renamed-a"}}).status, 200);
  EXPECT_EQ(me.api.patch("/api/v1/pools/" + pool_a, {{"description", "mine"}}).status, 200);

  // Visible but outside the write scope: 403 (inventory:read everywhere).
  Json roles = scoped("administrator", pool_a);
  roles.push_back({{"role_id", "read-only"}});
  auto reader = make_user(a, "inv-reader", roles);
  EXPECT_EQ(reader.api.patch("/api/v1/computers/" + cb, {{"name", "mine"}}).status, 403);
  EXPECT_EQ(reader.api.patch("/api/v1/computers/" + ca, {{"pool_id", pool_b}}).status, 403);
  EXPECT_EQ(reader.api.put("/api/v1/pools/" + pool_a + "/computers/" + cb).status, 403);
  EXPECT_EQ(reader.api.put("/api/v1/pools/" + pool_b + "/computers/" + ca).status, 403);
  EXPECT_EQ(reader.api.del("/api/v1/pools/" + pool_b).status, 403);
  EXPECT_EQ(pool_of(ca), pool_a);
  EXPECT_EQ(pool_of(cb), pool_b);

  // Enrollment tokens: only for pools in scope; others unseen and unrevocable.
  EXPECT_EQ(me.api.post("/api/v1/enrollment-tokens", {{"pool_id", pool_b}}).status, 422);
  EXPECT_EQ(me.api.post("/api/v1/enrollment-tokens", Json::object()).status, 403);
  auto mine = me.api.post("/api/v1/enrollment-tokens", {{"pool_id", pool_a}});
  ASSERT_EQ(mine.status, 201) << mine.body;
  const auto tok_b = a.post("/api/v1/enrollment-tokens", {{"pool_id", pool_b}}).json["id"].get<std::string>();
  const auto tok_none = a.post("/api/v1/enrollment-tokens", Json::object()).json["id"].get<std::string>();
  auto listed = me.api.get("/api/v1/enrollment-tokens?limit=500");
  ASSERT_EQ(listed.status, 200);
  ASSERT_GE(listed.json["items"].size(), 1u);
  for (const auto& t : listed.json["items"]) EXPECT_EQ(t["pool_id"], pool_a) << t.dump();
  EXPECT_EQ(me.api.del("/api/v1/enrollment-tokens/" + tok_b).status, 404);
  EXPECT_EQ(me.api.del("/api/v1/enrollment-tokens/" + tok_none).status, 404);
  EXPECT_EQ(me.api.del("/api/v1/enrollment-tokens/" + mine.json["id"].get<std::string>()).status, 204);
  const auto all_tokens = a.get("/api/v1/enrollment-tokens?limit=500").json;
  for (const auto& t : all_tokens["items"]) {
    if (t["id"] == tok_b || t["id"] == tok_none) {
      EXPECT_FALSE(t["revoked"].get<bool>()) << t.dump();
    }
  }
}

TEST_F(Access, ScopedPolicyWriterCannotChangeAPolicyThatAppliesElsewhere) {
  auto a = admin();
  const auto pool_a = make_pool(a, "pol-a");
  const auto pool_b = make_pool(a, "pol-b");
  const auto ca = enroll_agent(a, "pol-desk-a", pool_a).computer_id;
  const auto cb = enroll_agent(a, "pol-desk-b", pool_b).computer_id;
  auto me = make_user(a, "pol-scoped", scoped("policy-administrator", pool_a));
  const auto shared = a.post("/api/v1/policies", {{"name", "pol-shared"}, {"recording", {{"mode", "session"}}}})
                          .json["id"]
                          .get<std::string>();
  ASSERT_EQ(a.put("/api/v1/policies/" + shared + "/assignments/pools/" + pool_a).status, 204);
  ASSERT_EQ(a.put("/api/v1/policies/" + shared + "/assignments/pools/" + pool_b).status, 204);

  EXPECT_EQ(me.api.patch("/api/v1/policies/" + shared, {{"recording", {{"mode", "off"}}}}).status, 403);
  EXPECT_EQ(me.api.del("/api/v1/policies/" + shared).status, 403);
  EXPECT_EQ(me.api.del("/api/v1/policies/" + shared + "/assignments/pools/" + pool_a).status, 403);
  EXPECT_EQ(me.api.put("/api/v1/policies/" + shared + "/assignments/computers/" + ca).status, 403);
  auto after = a.get("/api/v1/policies/" + shared).json;
  EXPECT_EQ(after["recording"]["mode"], "session");
  EXPECT_EQ(after["assignments"].size(), 2u);

  // Its own policy, inside its pool.
  auto own = me.api.post("/api/v1/policies", {{"name", "pol-own"}, {"recording", {{"mode", "session"}}}});
  ASSERT_EQ(own.status, 201) << own.body;
  const auto pid = own.json["id"].get<std::string>();
  EXPECT_EQ(me.api.put("/api/v1/policies/" + pid + "/assignments/pools/" + pool_b).status, 404);
  EXPECT_EQ(me.api.put("/api/v1/policies/" + pid + "/assignments/computers/" + cb).status, 404);
  EXPECT_EQ(me.api.put("/api/v1/policies/" + pid + "/assignments/computers/" + ca).status, 204);
  EXPECT_EQ(me.api.patch("/api/v1/policies/" + pid, {{"name", "pol-own-2"}}).status, 200);
  // Once it also applies elsewhere, it is out of reach.
  ASSERT_EQ(a.put("/api/v1/policies/" + pid + "/assignments/computers/" + cb).status, 204);
  EXPECT_EQ(me.api.patch("/api/v1/policies/" + pid, {{"recording", {{"mode", "off"}}}}).status, 403);
  EXPECT_EQ(me.api.del("/api/v1/policies/" + pid + "/assignments/computers/" + ca).status, 403);
  EXPECT_EQ(me.api.del("/api/v1/policies/" + pid).status, 403);
  EXPECT_EQ(a.get("/api/v1/computers/" + cb + "/effective-policy").json["policy"]["id"], pid);
}

// A computer moved into pool A does not bring its history to pool A's
// auditors; pool B's auditors keep seeing what was recorded in pool B.
TEST_F(Access, HistoryDoesNotFollowAMovedComputer) {
  auto a = admin();
  const auto pool_a = make_pool(a, "hist-a");
  const auto pool_b = make_pool(a, "hist-b");
  const auto agent = enroll_agent(a, "hist-desk", pool_b);
  ASSERT_EQ(a.post("/api/v1/policies", {{"name", "hist-p"}, {"recording", {{"mode", "session"}}}}).status, 201);
  auto auditor_a = make_user(a, "hist-auditor-a", scoped("auditor-download", pool_a));
  auto auditor_b = make_user(a, "hist-auditor-b", scoped("auditor-download", pool_b));
  const auto old_rec = record(agent);

  ASSERT_EQ(a.put("/api/v1/pools/" + pool_a + "/computers/" + agent.computer_id).status, 204);
  auto seen_a = auditor_a.api.get("/api/v1/recordings?count=true");
  ASSERT_EQ(seen_a.status, 200);
  EXPECT_EQ(seen_a.json["total"], 0) << seen_a.body;
  for (const std::string suffix : {"", "/playlist.m3u8", "/segments/0", "/download"}) {
    EXPECT_EQ(auditor_a.api.get("/api/v1/recordings/" + old_rec + suffix).status, 404) << suffix;
    EXPECT_EQ(auditor_b.api.get("/api/v1/recordings/" + old_rec + suffix).status, 200) << suffix;
  }
  EXPECT_EQ(auditor_b.api.get("/api/v1/recordings").json["items"].size(), 1u);
  EXPECT_EQ(a.get("/api/v1/recordings/" + old_rec).json["pool_id"], pool_b);
  EXPECT_EQ(a.get("/api/v1/recordings?pool_id=" + pool_a).json["items"].size(), 0u);
  EXPECT_EQ(a.get("/api/v1/recordings?pool_id=" + pool_b).json["items"].size(), 1u);

  // What is recorded after the move belongs to pool A.
  const auto new_rec = record(agent);
  auto now_a = auditor_a.api.get("/api/v1/recordings");
  ASSERT_EQ(now_a.json["items"].size(), 1u);
  EXPECT_EQ(now_a.json["items"][0]["id"], new_rec);
  EXPECT_EQ(auditor_b.api.get("/api/v1/recordings/" + new_rec).status, 404);
}

TEST_F(Access, EveryWayToTheMediaIsAudited) {
  auto a = admin();
  const auto agent = enroll_agent(a, "media-desk");
  ASSERT_EQ(a.post("/api/v1/policies", {{"name", "media-p"}, {"recording", {{"mode", "session"}}}}).status, 201);
  const auto rec = record(agent);
  auto viewer = make_user(a, "media-viewer", {{{"role_id", "auditor-download"}}});
  const auto base = "/api/v1/recordings/" + rec;

  // A segment fetched directly is a play, logged once per window.
  EXPECT_EQ(viewer.api.get(base + "/segments/0").status, 200);
  EXPECT_EQ(audit_count(a, "recording.play", rec, "media-viewer"), 1u);
  EXPECT_EQ(viewer.api.get(base + "/segments/0").status, 200);
  EXPECT_EQ(viewer.api.get(base + "/playlist.m3u8").status, 200);
  EXPECT_EQ(audit_count(a, "recording.play", rec, "media-viewer"), 1u);
  // A ranged download from the middle is a download: its own action,
  // not swallowed by the play already logged.
  auto part = viewer.api.raw("GET", base + "/download", "", {{"Range", "bytes=100-199"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(audit_count(a, "recording.download", rec, "media-viewer"), 1u);
  EXPECT_EQ(viewer.api.raw("GET", base + "/download", "", {{"Range", "bytes=0-99"}}).status, 206);
  EXPECT_EQ(audit_count(a, "recording.download", rec, "media-viewer"), 1u);

  // A segment read from its middle, or the master playlist alone, is a play.
  auto seeker = make_user(a, "media-seeker", {{{"role_id", "auditor"}}});
  EXPECT_EQ(seeker.api.raw("GET", base + "/segments/0", "", {{"Range", "bytes=10-20"}}).status, 206);
  EXPECT_EQ(audit_count(a, "recording.play", rec, "media-seeker"), 1u);
  auto master = make_user(a, "media-master", {{{"role_id", "auditor"}}});
  EXPECT_EQ(master.api.get(base + "/master.m3u8").status, 200);
  EXPECT_EQ(audit_count(a, "recording.play", rec, "media-master"), 1u);
  // So is reading what happened on the desktop: the recording's events.
  EXPECT_EQ(master.api.get(base + "/events").status, 200);
  EXPECT_EQ(audit_count(a, "recording.events", rec, "media-master"), 1u);
}

// When the audit log cannot be written, the media is not served.
TEST_F(Access, MediaIsRefusedWhenTheAuditEntryCannotBeWritten) {
  auto a = admin();
  const auto agent = enroll_agent(a, "refuse-desk");
  ASSERT_EQ(a.post("/api/v1/policies", {{"name", "refuse-p"}, {"recording", {{"mode", "session"}}}}).status, 201);
  const auto rec = record(agent);
  auto viewer = make_user(a, "refuse-viewer", {{{"role_id", "auditor-download"}}});
  const auto base = "/api/v1/recordings/" + rec;

  catalog_sql(
      "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit disk full'); END");
  for (const std::string suffix : {"/segments/0", "/playlist.m3u8", "/master.m3u8", "/download", "/events"}) {
    auto r = viewer.api.get(base + suffix);
    EXPECT_EQ(r.status, 503) << suffix << " " << r.body;
    ASSERT_TRUE(r.json.is_object()) << suffix << " " << r.body;
    EXPECT_EQ(r.json["error"]["code"], "unavailable") << r.body;
    EXPECT_EQ(r.headers["retry-after"], "1");
  }
  // Searching the events of every recording is refused alike.
  auto search = viewer.api.get("/api/v1/events?app=x");
  EXPECT_EQ(search.status, 503) << search.body;
  EXPECT_EQ(search.headers["retry-after"], "1");
  // A ranged read from the middle is refused as well. (The body is not
  // checked: cpp-httplib applies the Range to error bodies too.)
  for (const std::string suffix : {"/segments/0", "/download"}) {
    auto r = viewer.api.raw("GET", base + suffix, "", {{"Range", "bytes=10-20"}});
    EXPECT_EQ(r.status, 503) << suffix;
    EXPECT_EQ(r.headers["retry-after"], "1");
  }
  catalog_sql("DROP TRIGGER refuse_audit");
  // The refused accesses left no mark: the next ones are served and logged.
  EXPECT_EQ(viewer.api.get(base + "/segments/0").status, 200);
  EXPECT_EQ(viewer.api.raw("GET", base + "/download", "", {{"Range", "bytes=10-20"}}).status, 206);
  EXPECT_EQ(audit_count(a, "recording.play", rec, "refuse-viewer"), 1u);
  EXPECT_EQ(audit_count(a, "recording.download", rec, "refuse-viewer"), 1u);
}

// A database failure is the server's trouble (503, retry), never "your
// credential is revoked" (401).
TEST_F(Access, CatalogFailureIsNotAnAuthenticationFailure) {
  auto a = admin();
  const auto agent = enroll_agent(a, "fail-desk");
  Api as_agent(server_->url(), agent.agent_token);
  ASSERT_EQ(as_agent.get("/api/v1/agent/policy").status, 200);

  catalog_sql("ALTER TABLE api_tokens RENAME TO api_tokens_away");
  auto r = a.get("/api/v1/pools");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.json["error"]["code"], "unavailable");
  EXPECT_EQ(r.headers["retry-after"], "1");
  catalog_sql("ALTER TABLE api_tokens_away RENAME TO api_tokens");
  EXPECT_EQ(a.get("/api/v1/pools").status, 200);

  catalog_sql("ALTER TABLE agent_credentials RENAME TO agent_credentials_away");
  auto g = as_agent.get("/api/v1/agent/policy");
  EXPECT_EQ(g.status, 503) << g.body;
  EXPECT_EQ(g.headers["retry-after"], "1");
  catalog_sql("ALTER TABLE agent_credentials_away RENAME TO agent_credentials");
  EXPECT_EQ(as_agent.get("/api/v1/agent/policy").status, 200);
  // Unknown credentials are still 401.
  EXPECT_EQ(Api(server_->url(), "dag_unknown").get("/api/v1/agent/policy").status, 401);
  EXPECT_EQ(Api(server_->url(), "das_unknown").get("/api/v1/pools").status, 401);
}

}  // namespace

// The console offers user, role and audit-log pages only to those who may use
// them: /auth/me tells permissions held in a scope from those held everywhere.
TEST_F(Access, WhoAmITellsScopedFromUnscopedPermissions) {
  auto a = admin();
  const auto pool = make_pool(a, "me-a");
  auto me = make_user(a, "me-scoped", scoped("administrator", pool));
  auto who = me.api.get("/api/v1/auth/me");
  ASSERT_EQ(who.status, 200) << who.body;
  const auto& perms = who.json["permissions"];
  EXPECT_NE(std::find(perms.begin(), perms.end(), "admin:users"), perms.end()) << who.body;
  EXPECT_TRUE(who.json["unscoped_permissions"].empty()) << who.body;
  auto global = a.get("/api/v1/auth/me");
  ASSERT_EQ(global.status, 200) << global.body;
  const auto& everywhere = global.json["unscoped_permissions"];
  EXPECT_NE(std::find(everywhere.begin(), everywhere.end(), "admin:users"), everywhere.end()) << global.body;
  EXPECT_NE(std::find(everywhere.begin(), everywhere.end(), "audit:read"), everywhere.end()) << global.body;
}
