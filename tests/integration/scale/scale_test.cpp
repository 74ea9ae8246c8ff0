// Scale-out: two server replicas on one PostgreSQL catalog (a schema of the
// test's own) and one S3 bucket (a prefix of the test's own). Agents and
// auditors move between replicas; a replica killed mid-upload loses nothing;
// the retention sweeper runs on one replica at a time.
// Needs DESKAUDIT_TEST_POSTGRES_URL (scripts/pg-test-server start) and runs
// once per S3 test server: s3rver (DESKAUDIT_TEST_S3_ENDPOINT) and Ceph RGW
// (DESKAUDIT_TEST_RGW_*), which verifies signatures (s3_test_servers.hpp).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

#include "common/fs.hpp"
#include "s3_test_servers.hpp"
#include "sample_media.hpp"
#include "scratch_schema.hpp"
#include "server_process.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;
using namespace std::chrono_literals;

namespace {

// One recording's segments, made once for the whole suite (ffmpeg is slow).
const std::vector<std::string>& sample_segments() {
  static const auto segs = make_segments(4, 8);
  return segs;
}

Reply upload(Api& agent, const std::string& rec, std::size_t seq, const std::string& bytes) {
  return agent.raw("PUT", "/api/v1/agent/recordings/" + rec + "/segments/" + std::to_string(seq), bytes,
                   {{"Content-Type", "video/mp4"}, {"X-Content-SHA256", sha256_of(bytes)}});
}

// A PUT whose body trickles in: the headers and the first half of the body
// are sent, the rest never is. The socket closes with the object.
class StalledUpload {
 public:
  StalledUpload(int port, const std::string& token, const std::string& path, const std::string& body) {
    fd_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd_) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect failed");
    std::string head = "PUT " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
                       "\r\nContent-Type: video/mp4\r\nX-Content-SHA256: " + sha256_of(body) +
                       "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    send_all(head);
    const std::size_t half = body.size() / 2;
    for (std::size_t off = 0; off < half; off += 4096) {  // slowly: 4 KiB per 5 ms
      send_all(body.substr(off, std::min<std::size_t>(4096, half - off)));
      std::this_thread::sleep_for(5ms);
    }
  }

 private:
  void send_all(const std::string& data) {
    if (!write_all(fd_.get(), data.data(), data.size(), "send")) throw std::runtime_error("send failed");
  }
  UniqueFd fd_;
};

class Scale : public ::testing::TestWithParam<S3Server> {
 protected:
  void SetUp() override {
    DESKAUDIT_REQUIRE_SERVICE("DESKAUDIT_TEST_POSTGRES_URL", "scripts/pg-test-server start");
    DESKAUDIT_REQUIRE_S3_TARGET(target, GetParam());
    s3_ = *target;
    schema_ = std::make_unique<ScratchSchema>(*service_env("DESKAUDIT_TEST_POSTGRES_URL"), "scale_test");
    dir_ = std::make_unique<TempDir>("scale");
    prefix_ = unique_name("scale");
    a_ = start_replica("replica-a");
    b_ = start_replica("replica-b");
    token_ = admin_token(a_->url());
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    schema_.reset();
  }

  std::unique_ptr<ServerProcess> start_replica(const std::string& name) {
    const auto config = dir_->path() / (name + ".toml");
    std::ofstream(config) << "replica_id = \"" << name << "\"\nsweep_interval_seconds = 1\n";
    ServerOptions o(dir_->path() / name);
    o.args = {"--config",     config.string(), "--catalog",
              schema_->url(), "--store",       "s3://" + s3_.bucket + "/" + prefix_};
    o.env = {{"DESKAUDIT_S3_ENDPOINT", s3_.endpoint},
             {"DESKAUDIT_S3_PATH_STYLE", "true"},
             {"AWS_ACCESS_KEY_ID", s3_.access_key},
             {"AWS_SECRET_ACCESS_KEY", s3_.secret_key}};
    return std::make_unique<ServerProcess>(std::move(o));
  }

  // A pool whose policy records with the given retention; agents enroll into it.
  std::string pool_with_policy(Api& admin, const std::string& name, int retention_days) {
    auto pool = admin.post("/api/v1/pools", {{"name", name}});
    EXPECT_EQ(pool.status, 201) << pool.body;
    auto pol = admin.post("/api/v1/policies",
                          {{"name", name}, {"recording", {{"mode", "session"}, {"retention_days", retention_days}}}});
    EXPECT_EQ(pol.status, 201) << pol.body;
    const auto pool_id = pool.json["id"].get<std::string>();
    EXPECT_EQ(
        admin.put("/api/v1/policies/" + pol.json["id"].get<std::string>() + "/assignments/pools/" + pool_id).status,
        204);
    return pool_id;
  }

  std::string audit_count(Api& admin, const std::string& action, const std::string& target) {
    auto r = admin.get("/api/v1/audit-log?action=" + action + "&target=" + target);
    return std::to_string(r.json["items"].size());
  }

  S3TestTarget s3_;
  std::unique_ptr<ScratchSchema> schema_;
  std::unique_ptr<TempDir> dir_;
  std::string prefix_;
  std::unique_ptr<ServerProcess> a_;
  std::unique_ptr<ServerProcess> b_;
  std::string token_;
};

TEST_P(Scale, AgentsAndAuditorsMoveFreelyBetweenReplicas) {
  // A console session made on A works on B: sessions live in the catalog.
  Api admin_a(a_->url(), token_);
  Api admin_b(b_->url(), token_);
  EXPECT_EQ(admin_b.get("/api/v1/computers").status, 200);
  const auto pool_id = pool_with_policy(admin_a, "scale", 30);
  const auto& segs = sample_segments();

  constexpr int kAgents = 4;
  std::vector<std::string> recordings(kAgents);
  std::vector<std::thread> agents;
  for (int i = 0; i < kAgents; ++i) {
    agents.emplace_back([&, i] {
      Api enroll_on_a(a_->url(), token_);
      auto creds = enroll_agent(enroll_on_a, "desk-scale-" + std::to_string(i), pool_id);
      Api on_a(a_->url(), creds.agent_token);
      Api on_b(b_->url(), creds.agent_token);
      auto rec = on_b.post("/api/v1/agent/recordings",
                           {{"username", "user" + std::to_string(i)}, {"start_time", "2026-11-27T09:00:00Z"}});
      ASSERT_EQ(rec.status, 201) << rec.body;
      const auto id = rec.json["id"].get<std::string>();
      for (std::size_t s = 0; s < segs.size(); ++s) {
        auto r = upload(s % 2 == 0 ? on_a : on_b, id, s, segs[s]);
        EXPECT_EQ(r.status, 201) << r.body;
      }
      auto fin = on_a.post("/api/v1/agent/recordings/" + id + "/finish", {{"end_time", "2026-11-27T09:00:08Z"}});
      EXPECT_EQ(fin.status, 200) << fin.body;
      recordings[static_cast<std::size_t>(i)] = id;
    });
  }
  for (auto& t : agents) t.join();

  // Auditors: list on B, download on A and B; identical bytes.
  auto list = admin_b.get("/api/v1/recordings?limit=100");
  ASSERT_EQ(list.status, 200);
  std::set<std::string> listed;
  for (const auto& item : list.json["items"]) listed.insert(item["id"].get<std::string>());
  for (const auto& id : recordings) {
    ASSERT_TRUE(listed.contains(id)) << id;
    auto detail = admin_b.get("/api/v1/recordings/" + id);
    EXPECT_EQ(detail.json["status"], "complete") << detail.body;
    EXPECT_EQ(detail.json["segment_count"], segs.size()) << detail.body;
    auto from_a = admin_a.get("/api/v1/recordings/" + id + "/download");
    auto from_b = admin_b.get("/api/v1/recordings/" + id + "/download");
    ASSERT_EQ(from_a.status, 200);
    ASSERT_EQ(from_b.status, 200);
    EXPECT_FALSE(from_a.body.empty());
    EXPECT_TRUE(from_a.body == from_b.body) << "downloads differ between replicas for " << id;
    for (std::size_t s = 0; s < segs.size(); ++s) {
      auto seg = (s % 2 == 0 ? admin_b : admin_a).get("/api/v1/recordings/" + id + "/segments/" + std::to_string(s));
      EXPECT_TRUE(seg.body == segs[s]) << id << " segment " << s;
    }
  }
  // A fresh sign-in on B, used on A; sign-out on A ends it on B too.
  auto second = admin_token(b_->url());
  Api second_a(a_->url(), second);
  Api second_b(b_->url(), second);
  EXPECT_EQ(second_a.get("/api/v1/recordings").status, 200);
  // One audit log for both replicas, and its chain verifies.
  auto verify = admin_b.get("/api/v1/audit-log/verify");
  EXPECT_EQ(verify.status, 200) << verify.body;
  EXPECT_EQ(verify.json["ok"], true) << verify.body;
}

TEST_P(Scale, AReplicaKilledMidUploadLosesNothing) {
  Api admin_a(a_->url(), token_);
  const auto pool_id = pool_with_policy(admin_a, "kill", 30);
  const auto creds = enroll_agent(admin_a, "desk-kill", pool_id);
  Api on_a(a_->url(), creds.agent_token);
  Api on_b(b_->url(), creds.agent_token);
  const auto& segs = sample_segments();
  auto rec = on_a.post("/api/v1/agent/recordings", {{"username", "kim"}, {"start_time", "2026-11-27T10:00:00Z"}});
  ASSERT_EQ(rec.status, 201) << rec.body;
  const auto id = rec.json["id"].get<std::string>();
  ASSERT_EQ(upload(on_a, id, 0, segs[0]).status, 201);
  ASSERT_EQ(upload(on_a, id, 1, segs[1]).status, 201);
  {
    // Segment 2 is streaming into A when A dies.
    StalledUpload stalled(a_->port(), creds.agent_token, "/api/v1/agent/recordings/" + id + "/segments/2", segs[2]);
    std::this_thread::sleep_for(200ms);
    const int status = a_->stop(SIGKILL);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  }
  // The agent retries on B: the interrupted segment and the rest succeed.
  for (std::size_t s = 2; s < segs.size(); ++s) {
    auto r = upload(on_b, id, s, segs[s]);
    EXPECT_EQ(r.status, 201) << r.body;
  }
  // Re-sending a segment that A had fully stored is recognised, not duplicated.
  EXPECT_EQ(upload(on_b, id, 1, segs[1]).status, 200);
  auto fin = on_b.post("/api/v1/agent/recordings/" + id + "/finish", {{"end_time", "2026-11-27T10:00:08Z"}});
  ASSERT_EQ(fin.status, 200) << fin.body;

  Api admin_b(b_->url(), token_);
  auto detail = admin_b.get("/api/v1/recordings/" + id);
  EXPECT_EQ(detail.json["segment_count"], segs.size()) << detail.body;
  std::int64_t total = 0;
  for (const auto& s : segs) total += static_cast<std::int64_t>(s.size());
  EXPECT_EQ(detail.json["size_bytes"], total) << detail.body;
  for (std::size_t s = 0; s < segs.size(); ++s) {
    auto seg = admin_b.get("/api/v1/recordings/" + id + "/segments/" + std::to_string(s));
    ASSERT_EQ(seg.status, 200);
    EXPECT_TRUE(seg.body == segs[s]) << "segment " << s;
  }
  EXPECT_EQ(admin_b.get("/api/v1/recordings/" + id + "/download").status, 200);

  // A comes back on the same catalog and store and serves the same recording.
  a_->restart();
  auto again = admin_a.get("/api/v1/recordings/" + id + "/segments/2");
  EXPECT_TRUE(again.body == segs[2]);
}

TEST_P(Scale, TheRetentionSweeperRunsOnOneReplicaAtATime) {
  Api admin_a(a_->url(), token_);
  Api admin_b(b_->url(), token_);
  const auto pool_id = pool_with_policy(admin_a, "short", 1);
  const auto creds = enroll_agent(admin_a, "desk-expire", pool_id);
  Api on_a(a_->url(), creds.agent_token);
  Api on_b(b_->url(), creds.agent_token);
  const auto& segs = sample_segments();
  // Recorded long ago with one day of retention: expired as soon as finished.
  auto record = [&](Api& agent, int i) {
    auto rec = agent.post("/api/v1/agent/recordings",
                          {{"username", "old" + std::to_string(i)}, {"start_time", "2020-01-01T00:00:00Z"}});
    EXPECT_EQ(rec.status, 201) << rec.body;
    const auto id = rec.json["id"].get<std::string>();
    EXPECT_EQ(upload(agent, id, 0, segs[0]).status, 201);
    EXPECT_EQ(agent.post("/api/v1/agent/recordings/" + id + "/finish", {{"end_time", "2020-01-01T00:10:00Z"}}).status,
              200);
    return id;
  };
  auto wait_gone = [&](Api& admin, const std::vector<std::string>& which) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    for (const auto& id : which) {
      while (admin.get("/api/v1/recordings/" + id).status != 404) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << id << " was not swept";
        std::this_thread::sleep_for(200ms);
      }
    }
  };
  auto holder = [&] { return schema_->query_text("SELECT holder FROM leases WHERE name = 'retention-sweeper'"); };
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(record(i % 2 == 0 ? on_a : on_b, i));
  wait_gone(admin_b, ids);
  // Several more sweep intervals pass on both replicas; the lease stays with
  // one of them all along.
  const auto first_holder = holder();
  ASSERT_TRUE(first_holder == "replica-a" || first_holder == "replica-b") << first_holder;
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(holder(), first_holder);
  }
  for (const auto& id : ids) {
    EXPECT_EQ(audit_count(admin_a, "recording.expire", id), "1") << id;
  }

  // The holder dies; the other replica takes the lease over once it lapses
  // (3 sweep intervals) and sweeps new expiries, still once each.
  const bool a_held = first_holder == "replica-a";
  (a_held ? a_ : b_)->stop(SIGKILL);
  Api& survivor_agent = a_held ? on_b : on_a;
  Api& survivor_admin = a_held ? admin_b : admin_a;
  std::vector<std::string> later;
  for (int i = 10; i < 13; ++i) later.push_back(record(survivor_agent, i));
  wait_gone(survivor_admin, later);
  EXPECT_EQ(holder(), a_held ? "replica-b" : "replica-a");
  std::this_thread::sleep_for(2s);
  for (const auto& id : later) EXPECT_EQ(audit_count(survivor_admin, "recording.expire", id), "1") << id;
  EXPECT_EQ(survivor_admin.get("/api/v1/recordings?username=old0").json["items"].size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Stores, Scale, ::testing::Values(S3Server::s3rver, S3Server::rgw),
                         [](const auto& info) { return s3_server_name(info.param); });

}  // namespace
