// The audit log against someone with only database access: a real server
// (SQLite, and PostgreSQL when DESKAUDIT_TEST_POSTGRES_URL is set), the
// database edited by the test itself through sqlite3 / psql while the server
// is stopped, then the server's verify and the CLI's pinned-key verify.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "audit/chain.hpp"
#include "common/crypto.hpp"
#include "keys/key_service.hpp"
#include "server_process.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;

namespace {

enum class Db { sqlite, postgresql };

using Ran = CommandResult;

Ran shell(const std::string& cmd) { return run_command(cmd + " 2>&1"); }

std::string quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

class AuditSigning : public ::testing::TestWithParam<Db> {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("audit-signing");
    if (GetParam() == Db::postgresql) {
      const char* base = std::getenv("DESKAUDIT_TEST_POSTGRES_URL");
      if (base == nullptr || *base == '\0') GTEST_SKIP() << "DESKAUDIT_TEST_POSTGRES_URL not set";
      const std::string schema = "audit_signing_" + random_id("").substr(0, 10);
      auto made = shell("psql -X -q -v ON_ERROR_STOP=1 '" + std::string(base) + "' -c 'CREATE SCHEMA " + schema + "'");
      ASSERT_EQ(made.exit_code, 0) << made.out;
      pg_url_ = std::string(base) + (std::string(base).find('?') == std::string::npos ? "?" : "&") +
                "options=-csearch_path%3D" + schema;
    }
  }

  void start(int sign_every) {
    ServerOptions o(dir_->path() / "data");
    o.env["DESKAUDIT_AUDIT_SIGN_EVERY"] = std::to_string(sign_every);
    if (!pg_url_.empty()) o.env["DESKAUDIT_CATALOG"] = pg_url_;
    server_ = std::make_unique<ServerProcess>(o);
    Api anon(server_->url());
    auto login = anon.post("/api/v1/auth/login", {{"username", "admin"}, {"password", kAdminPassword}});
    ASSERT_EQ(login.status, 200) << login.body;
    // An API token: later requests write no audit entries of their own
    // (a sign-in would), so the tests know the log's length exactly.
    Api session(server_->url(), login.json["token"].get<std::string>());
    auto token = session.post("/api/v1/api-tokens", {{"name", "audit-test"}});
    ASSERT_EQ(token.status, 201) << token.body;
    api_ = std::make_unique<Api>(server_->url(), token.json["token"].get<std::string>());
  }

  // Appends audited actions until the log holds `length` entries.
  void fill_to(std::int64_t length) {
    for (std::int64_t have = log_length(); have < length; ++have) {
      auto r = api_->post("/api/v1/pools", {{"name", "pool-" + random_id("")}});
      ASSERT_EQ(r.status, 201) << r.body;
    }
    ASSERT_EQ(log_length(), length);
  }
  std::int64_t log_length() {
    auto page = api_->get("/api/v1/audit-log?limit=1");
    EXPECT_EQ(page.status, 200) << page.body;
    return page.json["items"].empty() ? 0 : page.json["items"][0]["seq"].get<std::int64_t>();
  }
  Json verify() {
    auto r = api_->get("/api/v1/audit-log/verify");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json;
  }
  // Stops the server (which signs the head), lets `edit` change the database, starts it again.
  template <class Edit>
  void with_server_stopped(Edit&& edit) {
    server_->stop();
    edit();
    server_->restart();
  }
  Ran cli(const std::string& args) {
    return shell(std::string("'") + DESKAUDIT_CLI_BIN + "' --server " + server_->url() + " --token " + api_->token() +
                 " " + args);
  }

  // --- the database editor ---
  Ran sql(const std::string& statements) {
    const auto file = dir_->path() / ("edit-" + random_id("") + ".sql");
    std::ofstream(file) << statements;
    if (GetParam() == Db::sqlite) {
      return shell("sqlite3 -bail '" + (dir_->path() / "data" / "catalog.db").string() + "' < '" + file.string() + "'");
    }
    return shell("psql -X -q -A -t -v ON_ERROR_STOP=1 '" + pg_url_ + "' -f '" + file.string() + "'");
  }
  std::vector<audit::Entry> read_entries() {
    auto r = sql(GetParam() == Db::sqlite
                     ? "SELECT json_group_array(json_object('seq', seq, 'time', entry_time, 'actor', actor, 'action', "
                       "action, 'target', target, 'details', details_json, 'prev', prev_hash, 'hash', hash)) FROM "
                       "(SELECT * FROM audit_log ORDER BY seq);"
                     : "SELECT json_agg(json_build_object('seq', seq, 'time', entry_time, 'actor', actor, 'action', "
                       "action, 'target', target, 'details', details_json, 'prev', prev_hash, 'hash', hash) ORDER BY "
                       "seq) FROM audit_log;");
    EXPECT_EQ(r.exit_code, 0) << r.out;
    const auto j = Json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_array()) << r.out;
    std::vector<audit::Entry> out;
    for (const auto& e : j) {
      out.push_back({e["seq"].get<std::int64_t>(), e["time"].get<std::int64_t>(), e["actor"].get<std::string>(),
                     e["action"].get<std::string>(), e["target"].get<std::string>(), e["details"].get<std::string>(),
                     e["prev"].get<std::string>(), e["hash"].get<std::string>()});
    }
    return out;
  }
  // Edits one entry's details and recomputes every later hash, as someone
  // who knows the (public) hash function would.
  void rewrite_entry(std::int64_t seq) {
    auto entries = read_entries();
    ASSERT_GE(static_cast<std::int64_t>(entries.size()), seq);
    std::string statements = "BEGIN;\n";
    for (auto i = static_cast<std::size_t>(seq - 1); i < entries.size(); ++i) {
      auto& e = entries[i];
      if (e.seq == seq) e.details_json = R"({"name":"nothing to see"})";
      if (i > 0) e.prev_hash = entries[i - 1].hash;
      e.hash = audit::entry_hash(e);
      statements += "UPDATE audit_log SET details_json = " + quote(e.details_json) +
                    ", prev_hash = " + quote(e.prev_hash) + ", hash = " + quote(e.hash) +
                    " WHERE seq = " + std::to_string(e.seq) + ";\n";
    }
    auto r = sql(statements + "COMMIT;\n");
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }

  std::unique_ptr<TempDir> dir_;
  std::string pg_url_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Api> api_;
};

TEST_P(AuditSigning, RewrittenEntryWithRecomputedHashesIsNamed) {
  start(4);
  fill_to(14);
  auto before = verify();
  EXPECT_TRUE(before["ok"].get<bool>()) << before.dump();
  EXPECT_EQ(before["signed_through_seq"], 12);
  EXPECT_EQ(before["unsigned_entries"], 2);  // newer than the last checkpoint: reported, not a failure

  with_server_stopped([&] { rewrite_entry(6); });  // the stop signed the head (seq 14)
  auto after = verify();
  EXPECT_FALSE(after["ok"].get<bool>()) << after.dump();
  // The checkpoint of seq 4 still holds; the one of seq 8 does not.
  EXPECT_EQ(after["first_bad_seq"], 5) << after.dump();
  EXPECT_EQ(after["untrusted_through_seq"], 8) << after.dump();
  EXPECT_NE(after["reason"].get<std::string>().find("rewritten"), std::string::npos);

  // The CLI, trusting only an exported public key file, agrees.
  const auto keyring = (dir_->path() / "pinned-keys").string();
  auto exported = cli("audit keys -o '" + keyring + "'");
  ASSERT_EQ(exported.exit_code, 0) << exported.out;
  auto pinned = cli("audit verify --public-key '" + keyring + "'");
  EXPECT_EQ(pinned.exit_code, 1) << pinned.out;
  EXPECT_NE(pinned.out.find("first bad seq 5 (entries 5..8"), std::string::npos) << pinned.out;
  auto by_server = cli("audit verify");
  EXPECT_EQ(by_server.exit_code, 1) << by_server.out;
  EXPECT_NE(by_server.out.find("first bad seq 5"), std::string::npos) << by_server.out;
}

TEST_P(AuditSigning, SigningEveryEntryNamesTheExactRewrittenEntry) {
  start(1);
  fill_to(10);
  with_server_stopped([&] { rewrite_entry(6); });
  auto after = verify();
  EXPECT_FALSE(after["ok"].get<bool>());
  EXPECT_EQ(after["first_bad_seq"], 6) << after.dump();
  EXPECT_EQ(after["untrusted_through_seq"], 6) << after.dump();
}

TEST_P(AuditSigning, CuttingOffTheNewestEntriesIsDetected) {
  start(4);
  fill_to(14);
  // Only the entries: the shutdown checkpoint of seq 14 now points at nothing.
  with_server_stopped([&] { ASSERT_EQ(sql("DELETE FROM audit_log WHERE seq > 10;").exit_code, 0); });
  auto r = verify();
  EXPECT_FALSE(r["ok"].get<bool>());
  EXPECT_EQ(r["first_bad_seq"], 9) << r.dump();
  EXPECT_NE(r["reason"].get<std::string>().find("cut off"), std::string::npos) << r.dump();
  // Stopping again does not sign over the cut log (checkpoints at 4, 8, 12, 14 only).
  server_->stop();
  auto count = sql("SELECT COUNT(*) FROM audit_checkpoints;");
  EXPECT_EQ(count.out, "4\n");
  server_->restart();

  // Entries and their checkpoints: the catalog is consistent again, but the
  // server remembers (outside the catalog) the checkpoint it signed last.
  with_server_stopped([&] {
    ASSERT_EQ(sql("DELETE FROM audit_checkpoints WHERE seq > 8; DELETE FROM audit_log WHERE seq > 8;").exit_code, 0);
  });
  r = verify();
  EXPECT_FALSE(r["ok"].get<bool>());
  EXPECT_EQ(r["first_bad_seq"], 9) << r.dump();
  EXPECT_NE(r["reason"].get<std::string>().find("signed by this server, is missing"), std::string::npos) << r.dump();
}

TEST_P(AuditSigning, DeletedOrAlteredCheckpointRowsAreDetected) {
  start(4);
  fill_to(13);
  with_server_stopped([&] { ASSERT_EQ(sql("DELETE FROM audit_checkpoints WHERE n = 2;").exit_code, 0); });
  auto r = verify();
  EXPECT_FALSE(r["ok"].get<bool>());
  EXPECT_EQ(r["first_bad_seq"], 5) << r.dump();
  EXPECT_NE(r["reason"].get<std::string>().find("missing"), std::string::npos) << r.dump();
}

TEST_P(AuditSigning, AKeyInsertedIntoTheCatalogIsNotTrusted) {
  start(4);
  fill_to(9);
  // The editor makes a key of their own, announces it in the catalog,
  // rewrites an entry and re-signs every checkpoint with it.
  keys::KeyOptions o{dir_->path() / "mallory.key", dir_->path() / "mallory.keyring", ""};
  auto mallory = keys::KeyService::open(o);
  ASSERT_TRUE(mallory) << mallory.error().message;
  const auto key = (*mallory)->current();
  with_server_stopped([&] {
    rewrite_entry(3);
    const auto entries = read_entries();
    std::string statements = "BEGIN;\nDELETE FROM audit_checkpoints;\n";
    statements += "INSERT INTO signing_keys (key_id, algorithm, public_key, first_seen_at) VALUES (" +
                  quote(key.key_id) + ", 'ed25519', " + quote(key.base64()) + ", 0);\n";
    std::string prev;
    std::int64_t n = 0;
    for (const auto& e : entries) {
      if (e.seq % 4 != 0 && e.seq != static_cast<std::int64_t>(entries.size())) continue;
      audit::Checkpoint cp{++n, e.seq, e.hash, prev, 1, "checkpoint", "mallory", key.key_id, ""};
      cp.signature = (*mallory)->sign(audit::signed_message(cp)).signature;
      prev = cp.signature;
      statements +=
          "INSERT INTO audit_checkpoints (n, seq, entry_hash, prev_signature, signed_at, kind, replica, key_id, "
          "signature) VALUES (" +
          std::to_string(cp.n) + ", " + std::to_string(cp.seq) + ", " + quote(cp.entry_hash) + ", " +
          quote(cp.prev_signature) + ", 1, 'checkpoint', 'mallory', " + quote(cp.key_id) + ", " + quote(cp.signature) +
          ");\n";
    }
    ASSERT_EQ(sql(statements + "COMMIT;\n").exit_code, 0);
  });
  auto r = verify();
  EXPECT_FALSE(r["ok"].get<bool>());
  EXPECT_EQ(r["first_bad_seq"], 1) << r.dump();  // no checkpoint can be trusted
  EXPECT_NE(r["reason"].get<std::string>().find("not a trusted key"), std::string::npos) << r.dump();
  auto listed = api_->get("/api/v1/signing-keys");
  ASSERT_EQ(listed.status, 200);
  ASSERT_EQ(listed.json["untrusted_in_catalog"].size(), 1u) << listed.body;
  EXPECT_EQ(listed.json["untrusted_in_catalog"][0]["key_id"], key.key_id);
  for (const auto& k : listed.json["trusted"]) EXPECT_NE(k["key_id"], key.key_id);
}

TEST_P(AuditSigning, RotationIsAuditedAndOldCheckpointsStayVerifiable) {
  start(4);
  fill_to(6);
  const auto old_keyring = (dir_->path() / "old-keys").string();
  ASSERT_EQ(cli("audit keys -o '" + old_keyring + "'").exit_code, 0);
  auto rotated = cli("--json audit rotate-key");
  ASSERT_EQ(rotated.exit_code, 0) << rotated.out;
  const auto j = Json::parse(rotated.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << rotated.out;
  const std::string old_id = j["old_key_id"], new_id = j["current_key_id"];
  EXPECT_NE(old_id, new_id);
  auto entry = api_->get("/api/v1/audit-log?action=signing_key.rotate");
  ASSERT_EQ(entry.json["items"].size(), 1u) << entry.body;
  EXPECT_EQ(entry.json["items"][0]["details"]["old_key_id"], old_id);
  fill_to(14);
  server_->stop();
  server_->restart();  // the rotated key is loaded from the key file
  auto r = verify();
  EXPECT_TRUE(r["ok"].get<bool>()) << r.dump();
  EXPECT_EQ(r["key_ids"], Json::array({old_id, new_id})) << r.dump();
  // A verifier that kept only the old public key cannot trust the new checkpoints.
  auto stale = cli("audit verify --public-key '" + old_keyring + "'");
  EXPECT_EQ(stale.exit_code, 1) << stale.out;
  EXPECT_NE(stale.out.find("not a trusted key"), std::string::npos) << stale.out;
  const auto new_keyring = (dir_->path() / "new-keys").string();
  ASSERT_EQ(cli("audit keys -o '" + new_keyring + "'").exit_code, 0);
  auto fresh = cli("audit verify --public-key '" + new_keyring + "'");
  EXPECT_EQ(fresh.exit_code, 0) << fresh.out;
  EXPECT_NE(fresh.out.find("audit log intact"), std::string::npos) << fresh.out;
}

TEST_P(AuditSigning, RawChainNeedsUnscopedAuditReadAndRotationUnscopedAdmin) {
  if (GetParam() != Db::sqlite) GTEST_SKIP() << "access checks do not depend on the catalog";
  start(4);
  auto pool = api_->post("/api/v1/pools", {{"name", "scope"}});
  ASSERT_EQ(pool.status, 201);
  auto user =
      api_->post("/api/v1/users",
                 {{"username", "scoped-reader"},
                  {"password", "scoped-password-1"},
                  {"roles", {{{"role_id", "read-only"}, {"scope_type", "pool"}, {"scope_id", pool.json["id"]}}}}});
  ASSERT_EQ(user.status, 201) << user.body;
  auto login = Api(server_->url())
                   .post("/api/v1/auth/login", {{"username", "scoped-reader"}, {"password", "scoped-password-1"}});
  ASSERT_EQ(login.status, 200) << login.body;
  Api scoped(server_->url(), login.json["token"].get<std::string>());
  EXPECT_EQ(scoped.get("/api/v1/audit-log/chain").status, 403);
  EXPECT_EQ(scoped.get("/api/v1/audit-log/checkpoints").status, 403);
  EXPECT_EQ(scoped.post("/api/v1/signing-keys/rotate", Json::object()).status, 403);
  EXPECT_EQ(api_->get("/api/v1/audit-log/chain?after_seq=x").status, 400);
  auto chain = api_->get("/api/v1/audit-log/chain?after_seq=1&limit=2");
  ASSERT_EQ(chain.status, 200) << chain.body;
  ASSERT_EQ(chain.json["items"].size(), 2u);
  EXPECT_EQ(chain.json["items"][0]["seq"], 2);
  EXPECT_TRUE(chain.json["items"][0]["details_json"].is_string());
}

INSTANTIATE_TEST_SUITE_P(Catalogs, AuditSigning, ::testing::Values(Db::sqlite, Db::postgresql),
                         [](const auto& info) { return info.param == Db::sqlite ? "sqlite" : "postgresql"; });

}  // namespace
