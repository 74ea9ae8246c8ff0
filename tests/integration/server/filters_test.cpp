// The recording list's filter semantics over HTTP: overlap of time ranges,
// user name, pool via membership, status, and paging without duplicates or gaps.
#include <gtest/gtest.h>

#include <set>

#include "server_process.hpp"

using namespace deskaudit::testing;

namespace {

class Filters : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("filters");
    server_ = new ServerProcess(ServerOptions(dir_->path() / "data"));
    Api api(server_->url(), admin_token(server_->url()));
    pool_a_ = api.post("/api/v1/pools", {{"name", "pool a"}}).json["id"].get<std::string>();
    pool_b_ = api.post("/api/v1/pools", {{"name", "pool b"}}).json["id"].get<std::string>();
    a_ = enroll_agent(api, "desk-a", pool_a_);
    b_ = enroll_agent(api, "desk-b", pool_b_);
    Api agent_a(server_->url(), a_.agent_token), agent_b(server_->url(), b_.agent_token);
    // Recordings on desk-a: [09:00,10:00] alice, [11:00,12:00] bob, [13:00, open) alice.
    auto make = [](Api& agent, const std::string& user, const std::string& start, const std::string& end) {
      auto r = agent.post("/api/v1/agent/recordings", {{"username", user}, {"start_time", start}});
      EXPECT_EQ(r.status, 201) << r.body;
      const auto id = r.json["id"].get<std::string>();
      if (!end.empty()) {
        auto f = agent.post("/api/v1/agent/recordings/" + id + "/finish", {{"end_time", end}, {"status", "complete"}});
        EXPECT_EQ(f.status, 200) << f.body;
      }
      return id;
    };
    r1_ = make(agent_a, "alice", "2026-11-20T09:00:00Z", "2026-11-20T10:00:00Z");
    r2_ = make(agent_a, "bob", "2026-11-20T11:00:00Z", "2026-11-20T12:00:00Z");
    r3_ = make(agent_a, "alice", "2026-11-20T13:00:00Z", "");
    r4_ = make(agent_b, "alice", "2026-11-20T09:30:00Z", "2026-11-20T09:45:00Z");
    // 120 short recordings on desk-b for paging.
    for (int i = 0; i < 120; ++i) {
      char start[32], end[32];
      std::snprintf(start, sizeof start, "2026-11-21T%02d:%02d:00Z", i / 60, i % 60);
      std::snprintf(end, sizeof end, "2026-11-21T%02d:%02d:30Z", i / 60, i % 60);
      make(agent_b, "pager", start, end);
    }
    token_ = api.token();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  std::vector<std::string> ids(const std::string& query) {
    Api api(server_->url(), token_);
    auto r = api.get("/api/v1/recordings?" + query);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> out;
    for (const auto& item : r.json["items"]) out.push_back(item["id"].get<std::string>());
    return out;
  }
  static inline TempDir* dir_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::string token_, pool_a_, pool_b_, r1_, r2_, r3_, r4_;
  static inline EnrolledAgent a_, b_;
};

TEST_F(Filters, ComputerAndUserAndNewestFirst) {
  EXPECT_EQ(ids("computer_id=" + a_.computer_id), (std::vector<std::string>{r3_, r2_, r1_}));
  EXPECT_EQ(ids("computer_id=" + a_.computer_id + "&username=alice"), (std::vector<std::string>{r3_, r1_}));
  EXPECT_EQ(ids("username=bob"), std::vector<std::string>{r2_});
  EXPECT_TRUE(ids("username=ALICE").empty());  // user names match exactly
}

TEST_F(Filters, PoolIsWhereTheRecordingWasMade) {
  EXPECT_EQ(ids("pool_id=" + pool_a_), (std::vector<std::string>{r3_, r2_, r1_}));
  Api api(server_->url(), token_);
  // Moving desk-a into pool b leaves its recordings in pool a.
  ASSERT_EQ(api.put("/api/v1/pools/" + pool_b_ + "/computers/" + a_.computer_id).status, 204);
  EXPECT_EQ(ids("pool_id=" + pool_a_), (std::vector<std::string>{r3_, r2_, r1_}));
  EXPECT_EQ(ids("pool_id=" + pool_b_ + "&computer_id=" + a_.computer_id), std::vector<std::string>{});
  ASSERT_EQ(api.put("/api/v1/pools/" + pool_a_ + "/computers/" + a_.computer_id).status, 204);
}

TEST_F(Filters, TimeRangeMatchesOverlap) {
  const std::string a = "computer_id=" + a_.computer_id;
  // Inside r1 only.
  EXPECT_EQ(ids(a + "&start_time=2026-11-20T09:10:00Z&end_time=2026-11-20T09:20:00Z"), std::vector<std::string>{r1_});
  // Touching edges count: the range ends exactly when r2 starts.
  EXPECT_EQ(ids(a + "&start_time=2026-11-20T10:30:00Z&end_time=2026-11-20T11:00:00Z"), std::vector<std::string>{r2_});
  // Between recordings: nothing.
  EXPECT_TRUE(ids(a + "&start_time=2026-11-20T10:01:00Z&end_time=2026-11-20T10:59:00Z").empty());
  // A still-open recording overlaps everything after its start.
  EXPECT_EQ(ids(a + "&start_time=2026-12-01T00:00:00Z"), std::vector<std::string>{r3_});
  // Only an end: everything that started by then.
  EXPECT_EQ(ids(a + "&end_time=2026-11-20T09:59:00Z"), std::vector<std::string>{r1_});
  // Across computers.
  EXPECT_EQ(ids("username=alice&start_time=2026-11-20T09:40:00Z&end_time=2026-11-20T09:41:00Z"),
            (std::vector<std::string>{r4_, r1_}));
}

TEST_F(Filters, StatusFilter) {
  EXPECT_EQ(ids("computer_id=" + a_.computer_id + "&status=recording"), std::vector<std::string>{r3_});
  EXPECT_EQ(ids("computer_id=" + a_.computer_id + "&status=complete").size(), 2u);
}

TEST_F(Filters, PagingVisitsEveryRowOnceInOrder) {
  Api api(server_->url(), token_);
  std::vector<std::string> seen;
  std::set<std::string> unique;
  std::string token;
  std::string last_start = "9999";
  int pages = 0;
  do {
    auto r = api.get("/api/v1/recordings?username=pager&limit=7" + (token.empty() ? "" : "&next_token=" + token));
    ASSERT_EQ(r.status, 200) << r.body;
    ++pages;
    for (const auto& item : r.json["items"]) {
      const auto start = item["start_time"].get<std::string>();
      EXPECT_LE(start, last_start);  // newest first across pages
      last_start = start;
      seen.push_back(item["id"]);
      unique.insert(item["id"]);
    }
    token = r.json.value("next_token", "");
    // A recording added while paging (newer than everything) does not disturb the pages.
    if (pages == 3) {
      Api agent(server_->url(), b_.agent_token);
      ASSERT_EQ(agent.post("/api/v1/agent/recordings", {{"username", "pager"}, {"start_time", "2026-11-22T00:00:00Z"}}).status, 201);
    }
  } while (!token.empty());
  EXPECT_EQ(seen.size(), 120u);
  EXPECT_EQ(unique.size(), 120u);
  EXPECT_EQ(pages, 18);  // 17 full pages of 7, one of 1
}

}  // namespace
