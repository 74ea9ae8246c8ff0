// Activity events through the API (docs/api.md, "Activity events"): the
// agent uploads a segment's events document, then the segment naming its
// hash; administrators read a recording's events, filter recordings by
// application and window title, and search events across recordings, each
// within their scope; retention deletes events with their recording. The
// server runs in-process so the test can move its clock.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "events/events.hpp"
#include "in_process_server.hpp"
#include "sample_media.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;

namespace {

constexpr EpochMs kDay = 24ll * 3600 * 1000;

Json doc_of(const std::string& rec, int seq, Json events) {
  return {{"format", "deskaudit-events/1"}, {"recording_id", rec}, {"seq", seq}, {"events", std::move(events)}};
}

class Events : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("events");
    clock_ = std::make_shared<ManualClock>(parse_rfc3339("2026-11-27T12:00:00Z").value());
    server::ServerConfig config;
    config.data_dir = dir_->path() / "data";
    config.sweep_interval_ms = 3600'000;  // the test calls sweep_once itself
    server_ = std::make_unique<InProcessServer>(config, clock_);
    url_ = server_->url();
    admin_ = std::make_unique<Api>(url_, admin_token(url_));
    admin_->set_token(admin_->post("/api/v1/api-tokens", {{"name", "events test"}}).json["token"].get<std::string>());
    pool_a_ = admin_->post("/api/v1/pools", {{"name", "pool a"}}).json["id"];
    pool_b_ = admin_->post("/api/v1/pools", {{"name", "pool b"}}).json["id"];
    auto pol = admin_->post("/api/v1/policies", {{"name", "p"}, {"recording", {{"mode", "session"}, {"retention_days", 2}}}});
    ASSERT_EQ(pol.status, 201) << pol.body;
    for (const auto& pool : {pool_a_, pool_b_}) {
      ASSERT_EQ(admin_->put("/api/v1/policies/" + pol.json["id"].get<std::string>() + "/assignments/pools/" + pool).status, 204);
    }
    a_ = enroll_agent(*admin_, "desk-a", pool_a_);
    b_ = enroll_agent(*admin_, "desk-b", pool_b_);
    segs_ = make_segments(2, 2);
  }

  std::string start(const EnrolledAgent& who, const std::string& user, const std::string& at = "2026-11-27T11:00:00Z") {
    Api agent(url_, who.agent_token);
    return agent.post("/api/v1/agent/recordings", {{"username", user}, {"start_time", at}}).json["id"].get<std::string>();
  }
  Reply put_events(const EnrolledAgent& who, const std::string& rec, int seq, const std::string& body,
                   std::string sha = {}) {
    Api agent(url_, who.agent_token);
    if (sha.empty()) sha = sha256_of(body);
    return agent.raw("PUT", "/api/v1/agent/recordings/" + rec + "/segments/" + std::to_string(seq) + "/events", body,
                     {{"X-Content-SHA256", sha}, {"Content-Type", "application/json"}});
  }
  Reply put_segment(const EnrolledAgent& who, const std::string& rec, int seq, const std::string& events_sha = {}) {
    Api agent(url_, who.agent_token);
    const auto& bytes = segs_[static_cast<std::size_t>(seq)];
    std::vector<std::pair<std::string, std::string>> headers = {{"X-Content-SHA256", sha256_of(bytes)}};
    if (!events_sha.empty()) headers.emplace_back("X-Deskaudit-Events-SHA256", events_sha);
    return agent.raw("PUT", "/api/v1/agent/recordings/" + rec + "/segments/" + std::to_string(seq), bytes, headers);
  }
  // Events document then segment, as the agent sends them.
  void upload(const EnrolledAgent& who, const std::string& rec, int seq, const Json& events) {
    const auto body = doc_of(rec, seq, events).dump();
    auto e = put_events(who, rec, seq, body);
    ASSERT_EQ(e.status, 201) << e.body;
    auto s = put_segment(who, rec, seq, sha256_of(body));
    ASSERT_EQ(s.status, 201) << s.body;
  }
  std::string scoped_auditor() {
    auto u = admin_->post("/api/v1/users", {{"username", "scoped-auditor"}, {"password", "scoped-password-1"},
                                            {"roles", {{{"role_id", "auditor"}, {"scope_type", "pool"}, {"scope_id", pool_a_}}}}});
    EXPECT_EQ(u.status, 201) << u.body;
    return Api(url_).post("/api/v1/auth/login", {{"username", "scoped-auditor"}, {"password", "scoped-password-1"}}).json["token"];
  }

  std::unique_ptr<TempDir> dir_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<InProcessServer> server_;
  std::unique_ptr<Api> admin_;
  std::string url_, pool_a_, pool_b_;
  EnrolledAgent a_, b_;
  std::vector<std::string> segs_;
};

const Json kWorkday = Json::array({
    {{"t_ms", 0}, {"type", "session.connect"}},
    {{"t_ms", 500}, {"type", "window"}, {"title", "Terminal"}, {"app", "xterm"}, {"process", "xterm"}, {"pid", 100}},
    {{"t_ms", 1200}, {"type", "app.start"}, {"process", "soffice.bin"}, {"pid", 4242}},
    {{"t_ms", 1500}, {"type", "window"}, {"title", "payroll.xlsx - LibreOffice Calc"}, {"app", "libreoffice-calc"}, {"process", "soffice.bin"}, {"pid", 4242}},
    {{"t_ms", 1800}, {"type", "idle"}},
});

TEST_F(Events, UploadThenSegmentThenReadBack) {
  const auto rec = start(a_, "alice");
  upload(a_, rec, 0, kWorkday);
  upload(a_, rec, 1, Json::array({{{"t_ms", 2100}, {"type", "active"}}, {{"t_ms", 2200}, {"type", "resolution"}, {"width", 1920}, {"height", 1080}}}));
  auto got = admin_->get("/api/v1/recordings/" + rec + "/events");
  ASSERT_EQ(got.status, 200) << got.body;
  ASSERT_EQ(got.json["items"].size(), 7u);
  EXPECT_TRUE(got.json["next_page_token"].is_null());
  const auto& calc = got.json["items"][3];
  EXPECT_EQ(calc["t_ms"], 1500);
  EXPECT_EQ(calc["time"], "2026-11-27T11:00:01.500Z");
  EXPECT_EQ(calc["type"], "window");
  EXPECT_EQ(calc["seq"], 0);
  EXPECT_EQ(calc["title"], "payroll.xlsx - LibreOffice Calc");
  EXPECT_EQ(calc["app"], "libreoffice-calc");
  EXPECT_EQ(calc["process"], "soffice.bin");
  EXPECT_EQ(calc["pid"], 4242);
  EXPECT_FALSE(calc.contains("width"));
  EXPECT_EQ(got.json["items"][6]["width"], 1920);
  EXPECT_EQ(got.json["items"][6]["seq"], 1);

  // Filters: type list, media time range.
  auto windows = admin_->get("/api/v1/recordings/" + rec + "/events?type=window,app.start");
  ASSERT_EQ(windows.json["items"].size(), 3u);
  auto range = admin_->get("/api/v1/recordings/" + rec + "/events?from_ms=1200&to_ms=2100");
  ASSERT_EQ(range.json["items"].size(), 4u);
  EXPECT_EQ(range.json["items"][0]["t_ms"], 1200);
  EXPECT_EQ(range.json["items"][3]["t_ms"], 2100);
  EXPECT_EQ(admin_->get("/api/v1/recordings/" + rec + "/events?type=keystroke").status, 400);
  EXPECT_EQ(admin_->get("/api/v1/recordings/" + rec + "/events?from_ms=5&to_ms=4").status, 400);
  EXPECT_EQ(admin_->get("/api/v1/recordings/" + rec + "/events?limit=1001").status, 400);

  // Paging: every event once, in order.
  std::vector<std::int64_t> seen;
  std::string token;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = admin_->get("/api/v1/recordings/" + rec + "/events?limit=3" + (token.empty() ? "" : "&page_token=" + token));
    ASSERT_EQ(page.status, 200) << page.body;
    for (const auto& e : page.json["items"]) seen.push_back(e["t_ms"].get<std::int64_t>());
    if (page.json["next_page_token"].is_null()) break;
    token = page.json["next_page_token"].get<std::string>();
  }
  EXPECT_EQ(seen, (std::vector<std::int64_t>{0, 500, 1200, 1500, 1800, 2100, 2200}));

  // Reading events is a look at the recording: audited once per window.
  auto looks = admin_->get("/api/v1/audit-log?action=recording.events&target=" + rec);
  ASSERT_EQ(looks.json["items"].size(), 1u) << looks.body;
  clock_->advance(11 * 60'000);
  admin_->get("/api/v1/recordings/" + rec + "/events");
  EXPECT_EQ(admin_->get("/api/v1/audit-log?action=recording.events&target=" + rec).json["items"].size(), 2u);
}

// Agents write version 2 (packed) documents; older ones still upload
// version 1: both give the same events, and what is stored and hashed is
// the bytes uploaded.
TEST_F(Events, Version2DocumentsReadBackLikeVersion1) {
  Json workday = kWorkday;
  workday.push_back({{"t_ms", 2500}, {"type", "app.exit"}, {"process", "soffice.bin"}, {"pid", 4242}});
  const auto v1_rec = start(a_, "alice");
  upload(a_, v1_rec, 0, workday);
  const auto v2_rec = start(a_, "alice");
  auto parsed = events::parse_document(doc_of(v2_rec, 0, workday).dump(), v2_rec, 0);
  ASSERT_TRUE(parsed) << parsed.error().message;
  const std::string v2 = events::to_json_v2(*parsed).dump();
  ASSERT_NE(v2.find("\"deskaudit-events/2\""), std::string::npos);
  ASSERT_NE(v2.find("[700,\"x\",4242]"), std::string::npos) << v2;  // the exit refers to its start
  auto e = put_events(a_, v2_rec, 0, v2);
  ASSERT_EQ(e.status, 201) << e.body;
  EXPECT_EQ(e.json["sha256"], sha256_of(v2));
  EXPECT_EQ(e.json["size_bytes"], v2.size());
  EXPECT_EQ(e.json["event_count"], 6);
  ASSERT_EQ(put_segment(a_, v2_rec, 0, sha256_of(v2)).status, 201);
  EXPECT_EQ(put_events(a_, v2_rec, 0, v2).json["status"], "already_present");

  auto from_v1 = admin_->get("/api/v1/recordings/" + v1_rec + "/events");
  auto from_v2 = admin_->get("/api/v1/recordings/" + v2_rec + "/events");
  ASSERT_EQ(from_v2.status, 200) << from_v2.body;
  ASSERT_EQ(from_v2.json["items"].size(), 6u);
  EXPECT_EQ(from_v2.json["items"], from_v1.json["items"]);
  EXPECT_EQ(from_v2.json["items"][5]["process"], "soffice.bin");
  // Searching finds it like a version 1 document.
  auto hits = admin_->get("/api/v1/recordings?window_title=payroll");
  ASSERT_EQ(hits.status, 200) << hits.body;
  EXPECT_EQ(hits.json["items"].size(), 2u) << hits.body;

  // A malformed version 2 document is refused naming the field.
  const auto v2_bad = start(a_, "alice");
  const std::string bad = Json{{"format", "deskaudit-events/2"},
                               {"recording_id", v2_bad},
                               {"seq", 0},
                               {"events", Json::parse(R"([[5,"s","xterm",7],[1,"x",8]])")}}
                              .dump();
  auto r = put_events(a_, v2_bad, 0, bad);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json["error"]["field"], "events[1][2]") << r.body;
  EXPECT_NE(r.json["error"]["message"].get<std::string>().find("refers to no earlier app.start of pid 8"),
            std::string::npos)
      << r.body;
}

TEST_F(Events, UploadsAreIdempotentAndNeverReplaced) {
  const auto rec = start(a_, "alice");
  const auto body = doc_of(rec, 0, kWorkday).dump();
  auto first = put_events(a_, rec, 0, body);
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(first.json["status"], "inserted");
  EXPECT_EQ(first.json["sha256"], sha256_of(body));
  EXPECT_EQ(first.json["size_bytes"], body.size());
  EXPECT_EQ(first.json["seq"], 0);
  auto again = put_events(a_, rec, 0, body);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json["status"], "already_present");
  // Other bytes under the same seq: refused.
  const auto other = doc_of(rec, 0, Json::array({{{"t_ms", 1}, {"type", "lock"}}})).dump();
  auto clash = put_events(a_, rec, 0, other);
  EXPECT_EQ(clash.status, 409) << clash.body;
  EXPECT_EQ(clash.json["error"]["code"], "conflict");

  // The segment must name the stored document's hash.
  auto missing = put_segment(a_, rec, 0, sha256_of(other));
  EXPECT_EQ(missing.status, 422) << missing.body;
  EXPECT_EQ(missing.json["error"]["code"], "events_missing");
  auto none = put_segment(a_, rec, 1, sha256_of(body));
  EXPECT_EQ(none.status, 422) << none.body;
  EXPECT_EQ(none.json["error"]["code"], "events_missing");
  EXPECT_EQ(put_segment(a_, rec, 0, "NOT-HEX").status, 400);
  auto seg = put_segment(a_, rec, 0, sha256_of(body));
  ASSERT_EQ(seg.status, 201) << seg.body;
  EXPECT_EQ(put_segment(a_, rec, 0, sha256_of(body)).status, 200);
  // The same segment bytes without the document, or a document for a
  // segment stored without one: conflicts.
  EXPECT_EQ(put_segment(a_, rec, 0).status, 409);
  ASSERT_EQ(put_segment(a_, rec, 1).status, 201);
  auto late = put_events(a_, rec, 1, doc_of(rec, 1, Json::array()).dump());
  EXPECT_EQ(late.status, 409) << late.body;
  EXPECT_EQ(admin_->get("/api/v1/recordings/" + rec + "/events").json["items"].size(), kWorkday.size());
  auto details = admin_->get("/api/v1/recordings/" + rec);
  EXPECT_EQ(details.json["segment_count"], 2);

  // Another computer's recording looks absent; a finished one takes no more.
  EXPECT_EQ(put_events(b_, rec, 2, doc_of(rec, 2, Json::array()).dump()).status, 404);
  Api agent(url_, a_.agent_token);
  ASSERT_EQ(agent.post("/api/v1/agent/recordings/" + rec + "/finish", {{"end_time", "2026-11-27T11:30:00Z"}}).status, 200);
  EXPECT_EQ(put_events(a_, rec, 2, doc_of(rec, 2, Json::array()).dump()).status, 409);
}

TEST_F(Events, BadDocumentsAreRefusedNamingTheFirstProblem) {
  const auto rec = start(a_, "alice");
  const auto refused = [&](const std::string& body, const std::string& field, int status = 422) {
    auto r = put_events(a_, rec, 0, body);
    EXPECT_EQ(r.status, status) << body << " -> " << r.body;
    if (status == 422) {
      EXPECT_EQ(r.json["error"]["field"], field) << r.body;
    }
    EXPECT_TRUE(r.json["error"]["message"].is_string()) << r.body;
  };
  const auto with = [&](Json events) { return doc_of(rec, 0, std::move(events)).dump(); };
  refused("not json", "body");
  refused("[]", "body");
  refused(Json{{"format", "deskaudit-events/3"}, {"recording_id", rec}, {"seq", 0}, {"events", Json::array()}}.dump(),
          "format");
  refused(doc_of("rec-other", 0, Json::array()).dump(), "recording_id");
  refused(doc_of(rec, 1, Json::array()).dump(), "seq");
  refused(Json{{"format", "deskaudit-events/1"}, {"recording_id", rec}, {"seq", 0}, {"events", Json::array()}, {"extra", 1}}.dump(), "extra");
  // A member without a name (found by the events_doc fuzz target).
  refused(Json{{"format", "deskaudit-events/1"}, {"recording_id", rec}, {"seq", 0}, {"events", Json::array()}, {"", 1}}.dump(), "body");
  refused(with(Json::array({{{"t_ms", 5}, {"type", "lock"}}, {{"t_ms", 4}, {"type", "unlock"}}})), "events[1].t_ms");
  refused(with(Json::array({{{"t_ms", -1}, {"type", "lock"}}})), "events[0].t_ms");
  refused(with(Json::array({{{"t_ms", 1.5}, {"type", "lock"}}})), "events[0].t_ms");
  refused(with(Json::array({{{"type", "lock"}}})), "events[0].t_ms");
  refused(with(Json::array({{{"t_ms", 1}, {"type", "keystroke"}}})), "events[0].type");
  refused(with(Json::array({{{"t_ms", 1}, {"type", "lock"}, {"title", "x"}}})), "events[0].title");
  refused(with(Json::array({{{"t_ms", 1}, {"type", "window"}, {"clipboard", "secret"}}})), "events[0].clipboard");
  refused(with(Json::array({{{"t_ms", 1}, {"type", "window"}, {"title", std::string(513, 'x')}}})), "events[0].title");
  refused(with(Json::array({{{"t_ms", 1}, {"type", "window"}, {"title", "a\nb"}}})), "events[0].title");
  refused(with(Json::array({{{"t_ms", 1}, {"type", "window"}, {"app", std::string(129, 'x')}}})), "events[0].app");
  refused(with(Json::array({{{"t_ms", 1}, {"type", "app.start"}, {"process", std::string(65, 'x')}}})), "events[0].process");
  refused(with(Json::array({{{"t_ms", 1}, {"type", "app.start"}, {"pid", 0}}})), "events[0].pid");
  refused(with(Json::array({{{"t_ms", 1}, {"type", "resolution"}, {"width", "1920"}}})), "events[0].width");
  // Invalid UTF-8 in a title: not valid JSON text either.
  refused("{\"format\":\"deskaudit-events/1\",\"recording_id\":\"" + rec +
              "\",\"seq\":0,\"events\":[{\"t_ms\":1,\"type\":\"window\",\"title\":\"\xff\"}]}",
          "body");
  Json many = Json::array();
  for (int i = 0; i < 20'001; ++i) many.push_back({{"t_ms", i}, {"type", "lock"}});
  refused(with(many), "events");
  // Over 1 MiB: 413 from Content-Length, before the body is read.
  refused(std::string((1u << 20) + 1, ' '), "", 413);
  // The hash must be the body's.
  auto damaged = put_events(a_, rec, 0, with(kWorkday), sha256_of("other bytes"));
  EXPECT_EQ(damaged.status, 422);
  EXPECT_EQ(damaged.json["error"]["field"], "X-Content-SHA256");
  EXPECT_EQ(put_events(a_, rec, 0, with(kWorkday), "nothex").status, 400);
  // Nothing of it was stored.
  EXPECT_EQ(put_events(a_, rec, 0, with(kWorkday)).status, 201);
}

TEST_F(Events, RecordingsFilterByApplicationAndWindowTitleWithTheFirstMatch) {
  const auto payroll = start(a_, "alice", "2026-11-27T11:00:00Z");
  upload(a_, payroll, 0, kWorkday);
  const auto terminal = start(a_, "bob", "2026-11-27T11:10:00Z");
  upload(a_, terminal, 0, Json::array({{{"t_ms", 700}, {"type", "window"}, {"title", "vim notes.txt"}, {"app", "XTerm"}, {"process", "xterm"}}}));
  auto hits = admin_->get("/api/v1/recordings?window_title=PAYROLL");
  ASSERT_EQ(hits.status, 200) << hits.body;
  ASSERT_EQ(hits.json["items"].size(), 1u);
  EXPECT_EQ(hits.json["items"][0]["id"], payroll);
  EXPECT_EQ(hits.json["items"][0]["first_match_ms"], 1500);
  auto xterm = admin_->get("/api/v1/recordings?app=xterm");
  ASSERT_EQ(xterm.json["items"].size(), 2u);  // newest first
  EXPECT_EQ(xterm.json["items"][0]["id"], terminal);
  EXPECT_EQ(xterm.json["items"][0]["first_match_ms"], 700);
  EXPECT_EQ(xterm.json["items"][1]["first_match_ms"], 500);
  // Process names match too; both filters must hold for one event.
  EXPECT_EQ(admin_->get("/api/v1/recordings?app=soffice").json["items"][0]["first_match_ms"], 1200);
  EXPECT_EQ(admin_->get("/api/v1/recordings?app=calc&window_title=payroll").json["items"].size(), 1u);
  EXPECT_EQ(admin_->get("/api/v1/recordings?app=xterm&window_title=payroll").json["items"].size(), 0u);
  // Without the filters, no first_match_ms; the search is audited.
  EXPECT_FALSE(admin_->get("/api/v1/recordings").json["items"][0].contains("first_match_ms"));
  EXPECT_FALSE(admin_->get("/api/v1/audit-log?action=event.search").json["items"].empty());
}

TEST_F(Events, SearchAcrossRecordingsIsScopedAndAudited) {
  const auto rec_a = start(a_, "alice", "2026-11-27T11:00:00Z");
  upload(a_, rec_a, 0, kWorkday);
  const auto rec_b = start(b_, "bob", "2026-11-27T11:05:00Z");
  upload(b_, rec_b, 0, Json::array({{{"t_ms", 100}, {"type", "window"}, {"title", "payroll.xlsx - secret"}, {"app", "libreoffice-calc"}}}));
  auto all = admin_->get("/api/v1/events?window_title=payroll");
  ASSERT_EQ(all.status, 200) << all.body;
  ASSERT_EQ(all.json["items"].size(), 2u);
  EXPECT_EQ(all.json["items"][0]["recording_id"], rec_b);  // newest first by wall time
  EXPECT_EQ(all.json["items"][0]["time"], "2026-11-27T11:05:00.100Z");
  EXPECT_EQ(all.json["items"][0]["computer_id"], b_.computer_id);
  EXPECT_EQ(all.json["items"][0]["username"], "bob");
  EXPECT_EQ(all.json["items"][1]["recording_id"], rec_a);
  EXPECT_EQ(admin_->get("/api/v1/events?username=alice").json["items"].size(), kWorkday.size());
  EXPECT_EQ(admin_->get("/api/v1/events?type=idle").json["items"].size(), 1u);
  EXPECT_EQ(admin_->get("/api/v1/events?from=2026-11-27T11:00:01Z&to=2026-11-27T11:00:02Z").json["items"].size(), 3u);
  EXPECT_EQ(admin_->get("/api/v1/events?pool_id=" + pool_b_).json["items"].size(), 1u);
  EXPECT_EQ(admin_->get("/api/v1/events?from=2026-11-28T00:00:00Z&to=2026-11-27T00:00:00Z").status, 400);
  // Paging newest first, no event twice.
  std::set<std::string> seen;
  std::string token;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = admin_->get("/api/v1/events?limit=2" + (token.empty() ? "" : "&page_token=" + token));
    for (const auto& e : page.json["items"]) seen.insert(e["recording_id"].get<std::string>() + "/" + e["time"].get<std::string>());
    if (page.json["next_page_token"].is_null()) break;
    token = page.json["next_page_token"].get<std::string>();
  }
  EXPECT_EQ(seen.size(), kWorkday.size() + 1);
  auto searches = admin_->get("/api/v1/audit-log?action=event.search");
  EXPECT_GE(searches.json["items"].size(), 7u);

  // A scoped auditor gets no event of another pool by any route.
  Api scoped(url_, scoped_auditor());
  auto mine = scoped.get("/api/v1/events?window_title=payroll");
  ASSERT_EQ(mine.status, 200);
  ASSERT_EQ(mine.json["items"].size(), 1u);
  EXPECT_EQ(mine.json["items"][0]["recording_id"], rec_a);
  EXPECT_EQ(scoped.get("/api/v1/events").json["items"].size(), kWorkday.size());
  EXPECT_EQ(scoped.get("/api/v1/events?pool_id=" + pool_b_).json["items"].size(), 0u);
  EXPECT_EQ(scoped.get("/api/v1/events?computer_id=" + b_.computer_id).json["items"].size(), 0u);
  auto hidden = scoped.get("/api/v1/recordings/" + rec_b + "/events");
  EXPECT_EQ(hidden.status, 404);
  EXPECT_EQ(hidden.body.find("secret"), std::string::npos);
  auto listed = scoped.get("/api/v1/recordings?window_title=payroll");
  ASSERT_EQ(listed.json["items"].size(), 1u);
  EXPECT_EQ(listed.json["items"][0]["id"], rec_a);
  EXPECT_EQ(scoped.get("/api/v1/recordings/" + rec_a + "/events").json["items"].size(), kWorkday.size());
}

TEST_F(Events, RetentionDeletesEventsWithTheirRecording) {
  const auto rec = start(a_, "alice");
  const auto body = doc_of(rec, 0, kWorkday).dump();
  ASSERT_EQ(put_events(a_, rec, 0, body).status, 201);
  ASSERT_EQ(put_segment(a_, rec, 0, sha256_of(body)).status, 201);
  Api agent(url_, a_.agent_token);
  ASSERT_EQ(agent.post("/api/v1/agent/recordings/" + rec + "/finish", {{"end_time", "2026-11-27T11:30:00Z"}}).status, 200);
  const auto dir = dir_->path() / "data" / "objects" / "recordings" / a_.computer_id / rec;
  bool has_document = false;
  for (const auto& f : std::filesystem::directory_iterator(dir)) has_document = has_document || f.path().string().ends_with(".events.json");
  EXPECT_TRUE(has_document);
  ASSERT_EQ(admin_->get("/api/v1/events?username=alice").json["items"].size(), kWorkday.size());
  clock_->advance(3 * kDay);
  EXPECT_EQ(server_->app().sweep_once().value(), 1);
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_EQ(admin_->get("/api/v1/events?username=alice").json["items"].size(), 0u);
  EXPECT_EQ(admin_->get("/api/v1/recordings/" + rec + "/events").status, 404);
  EXPECT_EQ(admin_->get("/api/v1/recordings?app=xterm").json["items"].size(), 0u);
}

}  // namespace
