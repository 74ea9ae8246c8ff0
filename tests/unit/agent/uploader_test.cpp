// The uploader against a small HTTP server started inside the test (cpp-httplib
// on 127.0.0.1): which server answers block the queue (retry later) and which
// set a recording aside so the others go on.
#include "agent/uploader.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "activity/document.hpp"
#include "agent/agent.hpp"
#include "agent/api.hpp"
#include "common/crypto.hpp"
#include "events/events.hpp"

using namespace deskaudit;
using namespace deskaudit::agent;
namespace fs = std::filesystem;

namespace {

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

std::string error_body(std::string_view code, std::string_view message) {
  return nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump();
}

// The agent API as far as the uploader uses it. Recordings are created with
// id "rec-<username>"; `answers` forces a status (and body) for a path.
class FakeServer {
 public:
  struct Answer {
    Answer(int status_, std::string body_, std::map<std::string, std::string> headers_ = {})
        : status(status_), body(std::move(body_)), headers(std::move(headers_)) {}
    int status;
    std::string body;
    std::map<std::string, std::string> headers;
  };

  FakeServer() {
    server_.Post("/api/v1/agent/recordings", [this](const httplib::Request& req, httplib::Response& res) {
      if (forced(req.path, res)) return;
      const auto doc = nlohmann::json::parse(req.body);
      const auto user = doc.at("username").get<std::string>();
      std::lock_guard lock(mu_);
      created_.push_back(user);
      created_starts_.push_back(doc.at("start_time").get<std::string>());
      res.status = 201;
      res.set_content(nlohmann::json{{"id", "rec-" + user}}.dump(), "application/json");
    });
    server_.Put(R"(/api/v1/agent/recordings/([^/]+)/segments/(\d+)/events)",
                [this](const httplib::Request& req, httplib::Response& res) {
                  std::lock_guard lock(mu_);
                  log_.push_back("events " + req.matches[1].str() + "/" + req.matches[2].str() + " " +
                                 req.get_header_value("X-Content-SHA256"));
                  event_bodies_.push_back(req.body);
                  if (events_v1_only_ && req.body.find("deskaudit-events/1") == std::string::npos) {
                    // A server from before document version 2.
                    res.status = 422;
                    res.set_content(nlohmann::json{{"error",
                                                    {{"code", "unprocessable"},
                                                     {"message", "format must be \"deskaudit-events/1\""},
                                                     {"field", "format"}}}}
                                        .dump(),
                                    "application/json");
                    return;
                  }
                  res.status = 201;
                  res.set_content("{}", "application/json");
                });
    server_.Put(R"(/api/v1/agent/recordings/([^/]+)/segments/(\d+))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  {
                    std::lock_guard lock(mu_);
                    log_.push_back("segment " + req.matches[1].str() + "/" + req.matches[2].str() + " " +
                                   req.get_header_value("X-Deskaudit-Events-SHA256"));
                  }
                  if (forced(req.path, res)) return;
                  std::lock_guard lock(mu_);
                  segments_.insert(req.matches[1].str() + "/" + req.matches[2].str());
                  res.status = 201;
                  res.set_content("{}", "application/json");
                });
    server_.Post(R"(/api/v1/agent/recordings/([^/]+)/finish)",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   if (forced(req.path, res)) return;
                   std::lock_guard lock(mu_);
                   finished_.insert(req.matches[1].str());
                   res.set_content("{}", "application/json");
                 });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeServer() {
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void answer(const std::string& path, Answer a) {
    std::lock_guard lock(mu_);
    answers_.insert_or_assign(path, std::move(a));
  }
  std::vector<std::string> created() {
    std::lock_guard lock(mu_);
    return created_;
  }
  // The start_time each creation sent, in order.
  std::vector<std::string> created_starts() {
    std::lock_guard lock(mu_);
    return created_starts_;
  }
  std::set<std::string> segments() {
    std::lock_guard lock(mu_);
    return segments_;
  }
  std::set<std::string> finished() {
    std::lock_guard lock(mu_);
    return finished_;
  }
  // "events REC/SEQ SHA" and "segment REC/SEQ EVENTS-SHA", in arrival order.
  std::vector<std::string> log() {
    std::lock_guard lock(mu_);
    return log_;
  }
  std::vector<std::string> event_bodies() {
    std::lock_guard lock(mu_);
    return event_bodies_;
  }
  void events_v1_only() {
    std::lock_guard lock(mu_);
    events_v1_only_ = true;
  }

 private:
  bool forced(const std::string& path, httplib::Response& res) {
    std::lock_guard lock(mu_);
    const auto it = answers_.find(path);
    if (it == answers_.end()) return false;
    res.status = it->second.status;
    for (const auto& [k, v] : it->second.headers) res.set_header(k, v);
    res.set_content(it->second.body, "application/json");
    return true;
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, Answer> answers_;
  std::vector<std::string> created_;
  std::vector<std::string> created_starts_;
  std::set<std::string> segments_;
  std::set<std::string> finished_;
  std::vector<std::string> log_;
  std::vector<std::string> event_bodies_;
  bool events_v1_only_ = false;
};

}  // namespace

class UploaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("deskaudit-uploader-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    spool_ = std::make_unique<Spool>(root_);
    ASSERT_TRUE(spool_->init());
    api_ = std::make_unique<AgentApi>(server_.url(), "dat_test");
    uploader_ = std::make_unique<Uploader>(*spool_, UploaderOptions{server_.url(), "dat_test"},
                                           [this](const Error& e) { errors_.push_back(e.message); });
  }
  void TearDown() override { fs::remove_all(root_); }

  // A finished recording of `user` with `segments` closed segment files; its
  // server recording exists already when server_id is given.
  fs::path add_recording(const std::string& user, int segments, std::optional<std::string> server_id = {},
                         EpochMs start = 1'764'000'000'000) {
    RecordingMeta meta;
    meta.username = user;
    meta.start_time = start + static_cast<EpochMs>(order_++);
    meta.server_id = std::move(server_id);
    meta.next_seq = segments;
    meta.media_end_ms = 1000L * segments;
    meta.finished = true;
    meta.end_time = meta.start_time + meta.media_end_ms;
    auto dir = spool_->create(meta);
    EXPECT_TRUE(dir) << dir.error().message;
    for (int i = 0; i < segments; ++i) {
      std::ofstream(*dir / segment_file_name(i)) << "segment " << i << " of " << user;
      fs::permissions(*dir / segment_file_name(i), fs::perms::owner_read | fs::perms::owner_write);
    }
    return *dir;
  }

  fs::path root_;
  FakeServer server_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<AgentApi> api_;
  std::unique_ptr<Uploader> uploader_;
  std::vector<std::string> errors_;
  int order_ = 0;
};

TEST_F(UploaderTest, RecordingDeletedOnTheServerIsSetAsideAndTheNextOneUploads) {
  const auto gone = add_recording("alice", 2, "rec-deleted");
  const auto next = add_recording("bob", 2);
  server_.answer("/api/v1/agent/recordings/rec-deleted/segments/0",
                 {404, error_body("not_found", "no recording rec-deleted on this computer")});

  const auto pass = uploader_->pass(*api_);
  EXPECT_FALSE(pass.blocked);
  EXPECT_EQ(pass.recordings_set_aside, 1);
  EXPECT_EQ(pass.segments_uploaded, 2);
  EXPECT_EQ(pass.recordings_finished, 1);
  EXPECT_EQ(server_.segments(), (std::set<std::string>{"rec-bob/0", "rec-bob/1"}));
  EXPECT_EQ(server_.finished(), std::set<std::string>{"rec-bob"});
  EXPECT_FALSE(fs::exists(next));

  // The refused recording keeps its files, private, in the set-aside area,
  // with the server's status and message.
  EXPECT_FALSE(fs::exists(gone));
  auto aside = spool_->set_aside_recordings();
  ASSERT_TRUE(aside);
  ASSERT_EQ(aside->size(), 1u);
  const fs::path dir = aside->front();
  EXPECT_EQ(dir.parent_path(), spool_->set_aside_root());
  EXPECT_EQ(mode_of(spool_->set_aside_root()), 0700u);
  EXPECT_EQ(mode_of(dir), 0700u);
  EXPECT_TRUE(fs::exists(dir / segment_file_name(0)));
  EXPECT_TRUE(fs::exists(dir / segment_file_name(1)));
  EXPECT_EQ(mode_of(dir / segment_file_name(0)), 0600u);
  auto meta = spool_->load(dir);
  ASSERT_TRUE(meta) << meta.error().message;
  ASSERT_TRUE(meta->set_aside);
  EXPECT_EQ(meta->set_aside->http_status, 404);
  EXPECT_NE(meta->set_aside->error.find("no recording rec-deleted"), std::string::npos) << meta->set_aside->error;
  EXPECT_EQ(meta->server_id, "rec-deleted");
  // Set-aside files still count toward the spool's size (and disk floor).
  EXPECT_GT(spool_->bytes(), 0u);

  // A later pass leaves it alone.
  const auto again = uploader_->pass(*api_);
  EXPECT_FALSE(again.blocked);
  EXPECT_EQ(again.recordings_set_aside, 0);
  EXPECT_EQ(spool_->set_aside_recordings()->size(), 1u);
}

// The agent creates a spool recording before its capture has a picture and
// sets its start to the first frame's time then: until that, the server
// recording is not created, so it never carries the earlier time.
TEST_F(UploaderTest, RecordingAwaitingItsFirstFrameIsCreatedOnlyWithItsTrueStart) {
  // As Agent::start_recording creates one.
  const auto awaiting = [&](const std::string& user, EpochMs created) {
    RecordingMeta meta;
    meta.username = user;
    meta.start_time = created;
    meta.awaiting_first_frame = true;
    auto dir = spool_->create(meta);
    EXPECT_TRUE(dir) << dir.error().message;
    return dir.value_or(fs::path());
  };
  const auto dir = awaiting("gina", 1'764'000'000'000);
  auto pass = uploader_->pass(*api_);
  EXPECT_FALSE(pass.blocked);
  EXPECT_EQ(pass.recordings_created, 0);
  EXPECT_TRUE(server_.created().empty());
  EXPECT_TRUE(fs::exists(dir));

  ASSERT_TRUE(spool_->update(dir, [](RecordingMeta& m) {
    m.start_time = 1'764'000'001'600;
    m.awaiting_first_frame = false;
  }));
  pass = uploader_->pass(*api_);
  EXPECT_FALSE(pass.blocked);
  EXPECT_EQ(pass.recordings_created, 1);
  EXPECT_EQ(server_.created(), std::vector<std::string>{"gina"});
  EXPECT_EQ(server_.created_starts(), std::vector<std::string>{format_rfc3339(1'764'000'001'600)});

  // One whose recorder stopped before any frame leaves nothing anywhere.
  const auto never_dir = awaiting("hank", 1'764'000'002'000);
  ASSERT_TRUE(spool_->recover(never_dir));
  pass = uploader_->pass(*api_);
  EXPECT_FALSE(pass.blocked);
  EXPECT_EQ(server_.created(), std::vector<std::string>{"gina"});
  EXPECT_FALSE(fs::exists(never_dir));
  EXPECT_TRUE(errors_.empty()) << errors_.front();
}

TEST_F(UploaderTest, RecordingRefusedAtCreationIsSetAside) {
  add_recording("carol", 1);
  add_recording("dave", 1);
  server_.answer("/api/v1/agent/recordings", {422, error_body("unprocessable", "start_time is too far from now")});
  // Both are refused (same path): both set aside, nothing blocks.
  const auto pass = uploader_->pass(*api_);
  EXPECT_FALSE(pass.blocked);
  EXPECT_EQ(pass.recordings_set_aside, 2);
  auto aside = spool_->set_aside_recordings();
  ASSERT_TRUE(aside);
  ASSERT_EQ(aside->size(), 2u);
  auto meta = spool_->load(aside->front());
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->set_aside->http_status, 422);
  EXPECT_FALSE(meta->server_id);
  EXPECT_TRUE(spool_->recordings()->empty());
}

TEST_F(UploaderTest, TransientAnswersBlockAndKeepTheRecordingQueued) {
  for (const int status : {401, 403, 408, 500, 503}) {
    SCOPED_TRACE(status);
    const auto dir = add_recording("erin" + std::to_string(status), 1, "rec-t" + std::to_string(status));
    server_.answer("/api/v1/agent/recordings/rec-t" + std::to_string(status) + "/segments/0",
                   {status, error_body("x", "try later")});
    const auto pass = uploader_->pass(*api_);
    EXPECT_TRUE(pass.blocked);
    EXPECT_EQ(pass.recordings_set_aside, 0);
    EXPECT_TRUE(fs::exists(dir / segment_file_name(0)));
    ASSERT_TRUE(spool_->remove(dir));
  }
  EXPECT_TRUE(spool_->set_aside_recordings()->empty());
}

TEST_F(UploaderTest, TooManyRequestsHonoursRetryAfter) {
  const auto dir = add_recording("frank", 1, "rec-busy");
  server_.answer("/api/v1/agent/recordings/rec-busy/segments/0",
                 {429, error_body("too_many_requests", "slow down"), {{"Retry-After", "120"}}});
  const auto pass = uploader_->pass(*api_);
  EXPECT_TRUE(pass.blocked);
  ASSERT_TRUE(pass.retry_after);
  EXPECT_EQ(*pass.retry_after, std::chrono::seconds(120));
  EXPECT_TRUE(fs::exists(dir / segment_file_name(0)));
  EXPECT_TRUE(spool_->set_aside_recordings()->empty());
}

TEST_F(UploaderTest, ConflictingSegmentKeepsUploadingTheRestThenSetsTheRecordingAside) {
  add_recording("grace", 3, "rec-grace");
  add_recording("heidi", 1);
  server_.answer("/api/v1/agent/recordings/rec-grace/segments/1",
                 {409, error_body("conflict", "segment 1 of rec-grace is already stored with other bytes")});
  const auto pass = uploader_->pass(*api_);
  EXPECT_FALSE(pass.blocked);
  EXPECT_EQ(server_.segments(), (std::set<std::string>{"rec-grace/0", "rec-grace/2", "rec-heidi/0"}));
  EXPECT_EQ(server_.finished(), (std::set<std::string>{"rec-grace", "rec-heidi"}));
  auto aside = spool_->set_aside_recordings();
  ASSERT_TRUE(aside);
  ASSERT_EQ(aside->size(), 1u);
  EXPECT_TRUE(fs::exists(aside->front() / (segment_file_name(1) + ".conflict")));
  auto meta = spool_->load(aside->front());
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->set_aside->http_status, 409);
  EXPECT_TRUE(spool_->recordings()->empty());
}

TEST_F(UploaderTest, SetAsideRecordingCanBeRetriedOrDeleted) {
  add_recording("ivan", 1, "rec-ivan-old");
  add_recording("judy", 1, "rec-judy");
  server_.answer("/api/v1/agent/recordings/rec-ivan-old/segments/0", {404, error_body("not_found", "gone")});
  server_.answer("/api/v1/agent/recordings/rec-judy/segments/0", {413, error_body("too_large", "too big")});
  EXPECT_EQ(uploader_->pass(*api_).recordings_set_aside, 2);
  auto aside = spool_->set_aside_recordings();
  ASSERT_TRUE(aside);
  ASSERT_EQ(aside->size(), 2u);
  const std::string ivan = aside->at(0).filename().string(), judy = aside->at(1).filename().string();

  // Retry: back in the queue; the recording that was gone from the server is
  // created anew.
  ASSERT_TRUE(spool_->retry_set_aside(ivan));
  const auto pass = uploader_->pass(*api_);
  EXPECT_EQ(pass.recordings_created, 1);
  EXPECT_EQ(server_.created(), std::vector<std::string>{"ivan"});
  EXPECT_TRUE(server_.segments().contains("rec-ivan/0"));

  EXPECT_FALSE(spool_->delete_set_aside("../" + judy));
  EXPECT_FALSE(spool_->delete_set_aside("no-such-recording"));
  ASSERT_TRUE(spool_->delete_set_aside(judy));
  EXPECT_TRUE(spool_->set_aside_recordings()->empty());
}

TEST_F(UploaderTest, HeartbeatReportsSetAsideRecordingsBounded) {
  nlohmann::json body = nlohmann::json::object();
  add_set_aside_report(*spool_, body);
  EXPECT_EQ(body["set_aside_count"], 0);
  EXPECT_TRUE(body["set_aside"].empty());

  const std::string long_error(5000, 'e');
  for (int i = 0; i < 25; ++i) {
    const auto dir = add_recording("user" + std::to_string(i), 1, "rec-" + std::to_string(i));
    ASSERT_TRUE(spool_->set_aside(dir, SetAsideReason{404, long_error, 1'764'000'000'000}));
  }
  add_set_aside_report(*spool_, body);
  EXPECT_EQ(body["set_aside_count"], 25);
  ASSERT_EQ(body["set_aside"].size(), 20u);
  const auto& newest = body["set_aside"][0];
  EXPECT_EQ(newest["recording_id"], "rec-24");
  EXPECT_EQ(newest["username"], "user24");
  EXPECT_EQ(newest["http_status"], 404);
  EXPECT_LE(newest["error"].get<std::string>().size(), 512u);
  EXPECT_LT(body.dump().size(), 16u * 1024);
}

TEST_F(UploaderTest, EventsDocumentGoesBeforeItsSegmentWhichNamesItsHash) {
  const auto dir = add_recording("erin", 2);
  activity::Event e;
  e.type = activity::EventType::window;
  e.title = "payroll.xlsx - LibreOffice Calc";
  ASSERT_TRUE(write_file_atomic(dir / events_file_name(0), activity::build_document(0, {{1234, e}}).json));
  // The segment fails once (a server restart): the retry sends the same
  // document bytes again, then the segment.
  server_.answer("/api/v1/agent/recordings/rec-erin/segments/0", {503, error_body("unavailable", "restarting")});
  auto p = uploader_->pass(*api_);
  EXPECT_TRUE(p.blocked);
  EXPECT_TRUE(fs::exists(dir / events_file_name(0)));
  server_.answer("/api/v1/agent/recordings/rec-erin/segments/0", {201, "{}"});
  p = uploader_->pass(*api_);
  EXPECT_FALSE(p.blocked);
  EXPECT_FALSE(fs::exists(dir));

  const auto bodies = server_.event_bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(bodies[0], bodies[1]);
  const auto doc = nlohmann::json::parse(bodies[0]);
  EXPECT_EQ(doc["format"], "deskaudit-events/2");
  EXPECT_EQ(doc["recording_id"], "rec-erin");
  EXPECT_EQ(doc["seq"], 0);
  EXPECT_EQ(doc["events"][0], nlohmann::json::array({1234, "w", "payroll.xlsx - LibreOffice Calc"}));
  const std::string sha = sha256_hex(bodies[0]);
  const std::vector<std::string> want = {"events rec-erin/0 " + sha, "segment rec-erin/0 " + sha,
                                         "events rec-erin/0 " + sha, "segment rec-erin/0 " + sha,
                                         "segment rec-erin/1 "};
  EXPECT_EQ(server_.log(), want);
}

// An events document in the spool that is not one (damaged on disk): the
// video of its segment still goes up (without a document), the recording's
// other segments and the recordings after it too, the error is reported, and
// the recording is set aside with the document kept for an operator.
TEST_F(UploaderTest, UnreadableEventsDocumentIsKeptReportedAndBlocksNothing) {
  const auto dir = add_recording("mallory", 2);
  add_recording("niaj", 1);
  activity::Event e;
  e.type = activity::EventType::lock;
  ASSERT_TRUE(write_file_atomic(dir / events_file_name(0), "{\"format\": \"deskaudit-events/2\", \"ev"));
  ASSERT_TRUE(write_file_atomic(dir / events_file_name(1), activity::build_document(1, {{1500, e}}).json));
  const auto pass = uploader_->pass(*api_);
  EXPECT_FALSE(pass.blocked);
  EXPECT_EQ(server_.segments(), (std::set<std::string>{"rec-mallory/0", "rec-mallory/1", "rec-niaj/0"}));
  EXPECT_EQ(server_.finished(), (std::set<std::string>{"rec-mallory", "rec-niaj"}));
  const auto log = server_.log();
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0], "segment rec-mallory/0 ");  // no document named
  EXPECT_TRUE(log[1].starts_with("events rec-mallory/1 "));
  const auto unreadable = std::ranges::find_if(errors_, [](const std::string& m) {
    return m.find("activity events of segment 0 of rec-mallory are unreadable") != std::string::npos;
  });
  EXPECT_NE(unreadable, errors_.end()) << ::testing::PrintToString(errors_);

  auto aside = spool_->set_aside_recordings();
  ASSERT_TRUE(aside);
  ASSERT_EQ(aside->size(), 1u);
  EXPECT_TRUE(fs::exists(aside->front() / (events_file_name(0) + ".unreadable")));
  auto meta = spool_->load(aside->front());
  ASSERT_TRUE(meta);
  ASSERT_TRUE(meta->set_aside);
  EXPECT_NE(meta->set_aside->error.find("could not be read"), std::string::npos) << meta->set_aside->error;
  EXPECT_TRUE(spool_->recordings()->empty());
}

// An agent newer than its server: the server refuses version 2 of the events
// document naming "format"; the agent sends the same events as version 1.
TEST_F(UploaderTest, AServerOlderThanVersion2GetsTheSameEventsAsVersion1) {
  server_.events_v1_only();
  const auto dir = add_recording("olivia", 1);
  activity::Event start, exit;
  start.type = activity::EventType::app_start;
  start.process = "xterm";
  start.pid = 77;
  exit = start;
  exit.type = activity::EventType::app_exit;
  ASSERT_TRUE(
      write_file_atomic(dir / events_file_name(0), activity::build_document(0, {{10, start}, {20, exit}}).json));
  const auto pass = uploader_->pass(*api_);
  EXPECT_FALSE(pass.blocked);
  EXPECT_EQ(server_.segments(), (std::set<std::string>{"rec-olivia/0"}));
  const auto bodies = server_.event_bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(bodies[0])["format"], "deskaudit-events/2");
  auto v2 = events::parse_document(bodies[0], "rec-olivia", 0);
  auto v1 = events::parse_document(bodies[1], "rec-olivia", 0);
  ASSERT_TRUE(v1 && v2);
  EXPECT_EQ(nlohmann::json::parse(bodies[1])["format"], "deskaudit-events/1");
  EXPECT_EQ(v1->events, v2->events);
  EXPECT_EQ(server_.log().back(), "segment rec-olivia/0 " + sha256_hex(bodies[1]));
  EXPECT_TRUE(spool_->set_aside_recordings()->empty());
}
