// Evidence end to end with the real server and CLI binaries: agents sign
// segment uploads (another computer's key, a missing and a bad signature are
// refused with their codes; retries still answer already_present; a key
// registered later through /agent/keys), and `deskaudit recordings export`
// followed by `deskaudit verify` (no server, no credentials) passes, then
// names each kind of tampering: a changed byte, a removed segment, swapped
// segments, a manifest edited and re-hashed without the key. A byte flipped
// in a stored segment (local store and S3) is reported by play, download,
// `deskaudit recordings verify` and the exported package's verify.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>

#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "evidence/segment_statement.hpp"
#include "keys/key_service.hpp"
#include "media/fmp4.hpp"
#include "sample_media.hpp"
#include "s3_test_servers.hpp"
#include "server_process.hpp"
#include "storage/layout.hpp"
#include "storage/object_store.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;

namespace {

namespace fs = std::filesystem;

struct SigningAgent {
  std::string computer_id;
  std::unique_ptr<Api> api;
  std::unique_ptr<keys::KeyService> key;
};

class Evidence : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("evidence");
    server_ = new ServerProcess(ServerOptions(dir_->path() / "data"));
    segments_ = new std::vector<std::string>(make_segments(3, 3));
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
    delete segments_;
  }
  void SetUp() override { admin_ = std::make_unique<Api>(server_->url(), admin_token(server_->url())); }

  // Enrolls with a fresh key (with_key) or as an agent from before signing.
  SigningAgent enroll(const std::string& host, bool with_key = true) {
    SigningAgent a;
    auto k = keys::KeyService::open({dir_->path() / (host + ".key"), dir_->path() / (host + ".keys"), ""});
    EXPECT_TRUE(k) << k.error().message;
    a.key = std::move(*k);
    auto tok = admin_->post("/api/v1/enrollment-tokens", Json::object());
    Json body = {{"enrollment_token", tok.json["token"]}, {"hostname", host}, {"agent_version", "0.2.0"}};
    if (with_key) body["public_key"] = a.key->current().base64();
    Api anon(server_->url());
    auto e = anon.post("/api/v1/agent/enroll", body);
    EXPECT_EQ(e.status, 201) << e.body;
    if (with_key) {
      EXPECT_EQ(e.json["key_id"], a.key->current().key_id);
    }
    a.computer_id = e.json["computer_id"].get<std::string>();
    a.api = std::make_unique<Api>(server_->url(), e.json["agent_token"].get<std::string>());
    return a;
  }
  static std::string start(SigningAgent& a) {
    return a.api->post("/api/v1/agent/recordings", {{"username", "erin"}, {"start_time", "2026-11-27T07:00:00Z"}})
        .json["id"]
        .get<std::string>();
  }
  // The signature header for segment seq of rec by `signer` as computer `computer_id`.
  static std::string signature(const keys::KeyService& signer, const std::string& rec, const std::string& computer_id,
                               int seq) {
    const auto& bytes = (*segments_)[static_cast<std::size_t>(seq)];
    auto index = media::index_segment(std::as_bytes(std::span(bytes.data(), bytes.size())));
    const auto t = evidence::media_times(*index);
    const auto sig = signer.sign(evidence::signed_bytes(
        {rec, computer_id, seq, sha256_of(bytes), bytes.size(), t.first_ms, t.last_ms, "-"}));
    return evidence::signature_header({sig.key_id, sig.signature});
  }
  static Reply put(SigningAgent& a, const std::string& rec, int seq, const std::string& sig) {
    const auto& bytes = (*segments_)[static_cast<std::size_t>(seq)];
    std::vector<std::pair<std::string, std::string>> headers = {{"X-Content-SHA256", sha256_of(bytes)}};
    if (!sig.empty()) headers.emplace_back("X-Deskaudit-Signature", sig);
    return a.api->raw("PUT", "/api/v1/agent/recordings/" + rec + "/segments/" + std::to_string(seq), bytes, headers);
  }
  static CommandResult cli(const std::string& args) {
    const std::string cmd = "XDG_CONFIG_HOME='" + (dir_->path() / "home").string() + "' DESKAUDIT_PASSWORD='" +
                            kAdminPassword + "' '" + DESKAUDIT_CLI_BIN + "' --server " + server_->url() + " " + args +
                            " 2>&1";
    return run_command(cmd);
  }
  // The verifier alone: no server URL, no saved credentials.
  static CommandResult verify(const fs::path& dir, const std::string& extra = "") {
    return run_command("HOME=/nonexistent XDG_CONFIG_HOME=/nonexistent '" + std::string(DESKAUDIT_CLI_BIN) +
                       "' verify '" + dir.string() + "' " + extra + " 2>&1");
  }

  static inline TempDir* dir_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::vector<std::string>* segments_ = nullptr;
  std::unique_ptr<Api> admin_;
};

TEST_F(Evidence, UploadSignaturesAreCheckedWithClearCodesAndRetriesStillWork) {
  auto a = enroll("desk-sig-a");
  auto b = enroll("desk-sig-b");
  const auto rec = start(a);
  auto ok = put(a, rec, 0, signature(*a.key, rec, a.computer_id, 0));
  ASSERT_EQ(ok.status, 201) << ok.body;
  auto retry = put(a, rec, 0, signature(*a.key, rec, a.computer_id, 0));
  EXPECT_EQ(retry.status, 200) << retry.body;
  EXPECT_EQ(retry.json["status"], "already_present");

  auto foreign = put(a, rec, 1, signature(*b.key, rec, a.computer_id, 1));
  EXPECT_EQ(foreign.status, 403) << foreign.body;
  EXPECT_EQ(foreign.json["error"]["code"], "signature_key_foreign");
  auto missing = put(a, rec, 1, "");
  EXPECT_EQ(missing.status, 422) << missing.body;
  EXPECT_EQ(missing.json["error"]["code"], "signature_missing");
  EXPECT_EQ(missing.json["error"]["field"], "X-Deskaudit-Signature");
  auto bad = put(a, rec, 1, signature(*a.key, rec, a.computer_id, 2));  // signed for another segment
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_EQ(bad.json["error"]["code"], "signature_invalid");
  auto details = admin_->get("/api/v1/recordings/" + rec).json;
  EXPECT_EQ(details["segment_count"], 1);
  auto refused = admin_->get("/api/v1/audit-log?action=segment.signature_refused");
  EXPECT_EQ(refused.json["items"].size(), 3u) << refused.body;
}

TEST_F(Evidence, AnAgentFromBeforeUploadsUnsignedUntilItRegistersAKey) {
  auto old = enroll("desk-old", false);
  const auto rec = start(old);
  ASSERT_EQ(put(old, rec, 0, "").status, 201);
  auto reg = old.api->post("/api/v1/agent/keys", {{"public_key", old.key->current().base64()}});
  ASSERT_EQ(reg.status, 201) << reg.body;
  EXPECT_EQ(reg.json["status"], "registered");
  EXPECT_EQ(old.api->post("/api/v1/agent/keys", {{"public_key", old.key->current().base64()}}).json["status"],
            "already_current");
  EXPECT_EQ(put(old, rec, 1, "").json["error"]["code"], "signature_missing");
  EXPECT_EQ(put(old, rec, 1, signature(*old.key, rec, old.computer_id, 1)).status, 201);
}

TEST_F(Evidence, ExportThenVerifyOfflineAndEachTamperingIsNamed) {
  auto a = enroll("desk-export");
  const auto rec = start(a);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(put(a, rec, i, signature(*a.key, rec, a.computer_id, i)).status, 201);
  ASSERT_EQ(a.api->post("/api/v1/agent/recordings/" + rec + "/finish", {{"end_time", "2026-11-27T07:00:03Z"}}).status,
            200);
  ASSERT_EQ(cli("login -u admin").exit_code, 0);
  const auto keys_file = dir_->path() / "pinned-keys";
  ASSERT_EQ(cli("audit keys -o '" + keys_file.string() + "'").exit_code, 0);
  const auto out = dir_->path() / "export";
  auto exported = cli("recordings export " + rec + " -o '" + out.string() + "'");
  ASSERT_EQ(exported.exit_code, 0) << exported.out;
  EXPECT_EQ(admin_->get("/api/v1/audit-log?action=recording.export").json["items"][0]["target"], rec);
  for (const char* f : {"recording.mp4", "segments/000000.m4s", "segments/000002.m4s", "manifest.json", "manifest.sig",
                        "keys.json"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  const std::string pinned = "--server-key '" + keys_file.string() + "'";
  auto good = verify(out, pinned);
  EXPECT_EQ(good.exit_code, 0) << good.out;
  EXPECT_NE(good.out.find("evidence verified"), std::string::npos) << good.out;
  auto trusting = verify(out);
  EXPECT_EQ(trusting.exit_code, 0) << trusting.out;
  EXPECT_NE(trusting.out.find("trust on package"), std::string::npos) << trusting.out;
  EXPECT_EQ(cli("recordings export " + rec + " -o '" + out.string() + "'").exit_code, 1);  // not empty

  const auto fresh = [&](const std::string& name) {
    const auto copy = dir_->path() / name;
    fs::copy(out, copy, fs::copy_options::recursive);
    return copy;
  };
  // A changed byte.
  auto changed = fresh("changed");
  {
    std::fstream f(changed / "segments/000001.m4s", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1500);
    f.put('\x7f');
  }
  auto r1 = verify(changed, pinned);
  EXPECT_EQ(r1.exit_code, 1) << r1.out;
  EXPECT_NE(r1.out.find("FAIL segment_hash_mismatch [segments/000001.m4s]"), std::string::npos) << r1.out;
  // A removed segment.
  auto removed = fresh("removed");
  fs::remove(removed / "segments/000002.m4s");
  auto r2 = verify(removed, pinned);
  EXPECT_EQ(r2.exit_code, 1);
  EXPECT_NE(r2.out.find("FAIL segment_missing [segments/000002.m4s]"), std::string::npos) << r2.out;
  // Swapped segments.
  auto swapped = fresh("swapped");
  fs::rename(swapped / "segments/000000.m4s", swapped / "x");
  fs::rename(swapped / "segments/000001.m4s", swapped / "segments/000000.m4s");
  fs::rename(swapped / "x", swapped / "segments/000001.m4s");
  auto r3 = verify(swapped, pinned);
  EXPECT_EQ(r3.exit_code, 1);
  EXPECT_NE(r3.out.find("FAIL segments_swapped [segments/000000.m4s]"), std::string::npos) << r3.out;
  // A manifest edited and re-hashed without the key.
  auto edited = fresh("edited");
  {
    std::fstream f(edited / "segments/000001.m4s", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1500);
    f.put('\x7f');
  }
  auto text = read_file(edited / "manifest.json").value();
  const auto old_sha = sha256_of((*segments_)[1]);
  text.replace(text.find(old_sha), old_sha.size(), sha256_file_hex(edited / "segments/000001.m4s").value());
  ASSERT_TRUE(write_file_atomic(edited / "manifest.json", text, 0644));
  auto r4 = verify(edited, pinned);
  EXPECT_EQ(r4.exit_code, 1);
  EXPECT_NE(r4.out.find("FAIL manifest_signature_invalid [manifest.json]"), std::string::npos) << r4.out;
  EXPECT_EQ(verify(dir_->path() / "nowhere", pinned).exit_code, 2);
}

// A byte flipped in a stored segment, in the local store and in S3.
enum class StoreKind { local, s3rver };

class StoredTamper : public ::testing::TestWithParam<StoreKind> {
 protected:
  std::unique_ptr<storage::ObjectStore> start_server() {
    ServerOptions o(dir_.path() / "data");
    if (GetParam() == StoreKind::local) {
      server_ = std::make_unique<ServerProcess>(std::move(o));
      return storage::make_object_store("file://" + (dir_.path() / "data" / "objects").string()).value();
    }
    auto target = s3_test_target(S3Server::s3rver);
    const std::string url = "s3://" + target->bucket + "/" + random_id("tamper-");
    o.args = {"--store", url};
    o.env = {{"DESKAUDIT_S3_ENDPOINT", target->endpoint},
             {"DESKAUDIT_S3_PATH_STYLE", "true"},
             {"AWS_ACCESS_KEY_ID", target->access_key},
             {"AWS_SECRET_ACCESS_KEY", target->secret_key}};
    server_ = std::make_unique<ServerProcess>(std::move(o));
    storage::S3Options s3;
    s3.endpoint = target->endpoint;
    s3.access_key_id = target->access_key;
    s3.secret_access_key = target->secret_key;
    return storage::make_object_store(url, s3).value();
  }
  CommandResult cli(const std::string& args) {
    return run_command("XDG_CONFIG_HOME='" + (dir_.path() / "home").string() + "' DESKAUDIT_PASSWORD='" +
                       kAdminPassword + "' '" + DESKAUDIT_CLI_BIN + "' --server " + server_->url() + " " + args +
                       " 2>&1");
  }

  TempDir dir_{"stored-tamper"};
  std::unique_ptr<ServerProcess> server_;
};

TEST_P(StoredTamper, PlayDownloadAndVerifyReportAChangedByte) {
  if (GetParam() == StoreKind::s3rver) {
    DESKAUDIT_REQUIRE_S3_TARGET(target, S3Server::s3rver);
  }
  auto store = start_server();
  Api admin(server_->url(), admin_token(server_->url()));
  const auto segments = make_segments(3, 3);
  auto key = keys::KeyService::open({dir_.path() / "agent.key", dir_.path() / "agent.keys", ""}).value();
  auto tok = admin.post("/api/v1/enrollment-tokens", Json::object());
  auto e = Api(server_->url())
               .post("/api/v1/agent/enroll", {{"enrollment_token", tok.json["token"]},
                                              {"hostname", "desk-tamper"},
                                              {"public_key", key->current().base64()}});
  ASSERT_EQ(e.status, 201) << e.body;
  const auto computer = e.json["computer_id"].get<std::string>();
  Api agent(server_->url(), e.json["agent_token"].get<std::string>());
  const auto rec = agent.post("/api/v1/agent/recordings", {{"username", "erin"}, {"start_time", "2026-11-27T07:00:00Z"}})
                       .json["id"]
                       .get<std::string>();
  for (int seq = 0; seq < 3; ++seq) {
    const auto& bytes = segments[static_cast<std::size_t>(seq)];
    auto index = media::index_segment(std::as_bytes(std::span(bytes.data(), bytes.size())));
    const auto t = evidence::media_times(*index);
    const auto sig = key->sign(evidence::signed_bytes(
        {rec, computer, seq, sha256_of(bytes), bytes.size(), t.first_ms, t.last_ms, "-"}));
    auto put = agent.raw("PUT", "/api/v1/agent/recordings/" + rec + "/segments/" + std::to_string(seq), bytes,
                         {{"X-Content-SHA256", sha256_of(bytes)},
                          {"X-Deskaudit-Signature", evidence::signature_header({sig.key_id, sig.signature})}});
    ASSERT_EQ(put.status, 201) << put.body;
  }
  ASSERT_EQ(agent.post("/api/v1/agent/recordings/" + rec + "/finish", {{"end_time", "2026-11-27T07:00:03Z"}}).status,
            200);
  ASSERT_EQ(cli("login -u admin").exit_code, 0);
  const auto seg_path = "/api/v1/recordings/" + rec + "/segments/";
  ASSERT_EQ(admin.get(seg_path + "1").status, 200) << "intact before the change";

  // One byte of segment 1, in the store behind the server's back.
  const auto object = storage::segment_key(computer, rec, 1, sha256_of(segments[1])).value();
  std::string bytes = segments[1];
  bytes[1500] = static_cast<char>(bytes[1500] ^ 0x01);
  ASSERT_TRUE(store->put_bytes(object, std::as_bytes(std::span(bytes.data(), bytes.size()))));

  auto play = admin.get(seg_path + "1");
  EXPECT_EQ(play.status, 422) << play.body;
  EXPECT_EQ(play.json["error"]["code"], "corrupt") << play.body;
  EXPECT_NE(play.body.find("segment 1 of recording " + rec + " changed in the object store"), std::string::npos)
      << play.body;
  EXPECT_EQ(admin.get(seg_path + "0").status, 200) << "the other segments still play";

  auto download = cli("recordings download " + rec + " -o '" + (dir_.path() / "dl.mp4").string() + "'");
  EXPECT_NE(download.exit_code, 0) << "an altered file is never delivered as complete: " << download.out;

  auto checked = cli("recordings verify " + rec);
  EXPECT_EQ(checked.exit_code, 1) << checked.out;
  EXPECT_NE(checked.out.find("segment 0: ok"), std::string::npos) << checked.out;
  EXPECT_NE(checked.out.find("segment 1: CHANGED IN STORE"), std::string::npos) << checked.out;

  // The export copies what is stored; the offline verifier names it.
  const auto out = dir_.path() / "export";
  auto exported = cli("recordings export " + rec + " -o '" + out.string() + "'");
  ASSERT_EQ(exported.exit_code, 0) << exported.out;
  auto verified = run_command("HOME=/nonexistent XDG_CONFIG_HOME=/nonexistent '" + std::string(DESKAUDIT_CLI_BIN) +
                              "' verify '" + out.string() + "' 2>&1");
  EXPECT_EQ(verified.exit_code, 1) << verified.out;
  EXPECT_NE(verified.out.find("FAIL segment_hash_mismatch [segments/000001.m4s]"), std::string::npos) << verified.out;
}

INSTANTIATE_TEST_SUITE_P(Stores, StoredTamper, ::testing::Values(StoreKind::local, StoreKind::s3rver),
                         [](const auto& info) { return info.param == StoreKind::local ? "Local" : "S3rver"; });

}  // namespace
