// The agent against the real server, under Xvfb: sessions recorded end to
// end, segment limits, crash and server-restart recovery, policy changes.
// Each test starts its own server, X display and agent.
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "../record/pulse_server.hpp"
#include "agent_harness.hpp"
#include "common/fs.hpp"
#include "common/time.hpp"
#include "media/fmp4.hpp"
#include "server_process.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::int64_t now_ms() { return SystemClock().now_ms(); }

// "HH:MM" of the local time `minutes` from now (wrapping at midnight).
std::string local_hhmm(int minutes_from_now) {
  const std::time_t t = std::time(nullptr) + minutes_from_now * 60;
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d", tm.tm_hour, tm.tm_min);
  return buf;
}

std::string current_user() {
  passwd* pw = ::getpwuid(::geteuid());
  return pw ? pw->pw_name : std::to_string(::geteuid());
}

// ffprobe's view of a media file.
struct Probe {
  bool ok = false;
  double duration_s = 0;
  long frames = 0;
  std::string errors;  // from a full decode
};

Probe probe(const fs::path& file) {
  Probe p;
  int st = 0;
  const auto out = shell("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                         "stream=nb_read_frames:format=duration -of default=nw=1 " +
                             quote(file.string()) + " 2>&1",
                         &st);
  if (st != 0) {
    p.errors = out;
    return p;
  }
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("nb_read_frames=")) p.frames = std::atol(line.c_str() + 15);
    if (line.starts_with("duration=")) p.duration_s = std::atof(line.c_str() + 9);
  }
  p.errors = shell("ffmpeg -v error -i " + quote(file.string()) + " -f null - 2>&1", &st);
  p.ok = st == 0 && p.frames > 0;
  return p;
}

}  // namespace

class AgentIT : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v Xvfb ffprobe ffplay >/dev/null 2>&1") != 0) {
      if (std::getenv("CI")) FAIL() << "Xvfb, ffprobe and ffplay are required (Debian: xvfb ffmpeg)";
      GTEST_SKIP() << "Xvfb/ffmpeg not installed";
    }
    data_ = std::make_unique<TempDir>("agent-it-data");
    logs_ = std::make_unique<TempDir>("agent-it-logs");
    state_ = std::make_unique<TempDir>("agent-it-state");
    ServerOptions so(data_->path());
    so.env["DESKAUDIT_ADMIN_PASSWORD"] = kPassword;
    server_ = std::make_unique<ServerProcess>(so);
    login();
    xvfb_ = std::make_unique<Xvfb>(logs_->path());
  }

  void TearDown() override {
    if (HasFailure() && logs_) {
      std::cerr << "---- agent log (tail) ----\n" << tail_of(logs_->path() / "agent.log") << "\n";
    }
    motion_.reset();
    agent_.reset();
    xvfb_.reset();
    admin_.reset();
    server_.reset();
  }

  void login() {
    Api anon(server_->url());
    auto r = anon.post("/api/v1/auth/login", {{"username", "admin"}, {"password", kPassword}});
    ASSERT_EQ(r.status, 200) << r.body;
    admin_ = std::make_unique<Api>(server_->url(), r.json["token"].get<std::string>());
  }

  static constexpr const char* kPassword = "Agent-IT-passphrase-42";

  // A policy assigned to a fresh pool; the agent enrolls into that pool.
  void set_policy(nlohmann::json recording) {
    recording.emplace("retention_days", 7);
    auto pol = admin_->post("/api/v1/policies", {{"name", "it-" + random_suffix()}, {"recording", recording}});
    ASSERT_EQ(pol.status, 201) << pol.body;
    policy_id_ = pol.json["id"];
    auto pool = admin_->post("/api/v1/pools", {{"name", "pool-" + random_suffix()}});
    ASSERT_EQ(pool.status, 201) << pool.body;
    pool_id_ = pool.json["id"];
    auto as = admin_->put("/api/v1/policies/" + policy_id_ + "/assignments/pools/" + pool_id_);
    ASSERT_TRUE(as.status == 200 || as.status == 201 || as.status == 204) << as.body;
  }

  void patch_policy(const nlohmann::json& recording) {
    auto r = admin_->patch("/api/v1/policies/" + policy_id_, {{"recording", recording}});
    ASSERT_EQ(r.status, 200) << r.body;
  }

  static std::string random_suffix() {
    static int n = 0;
    return std::to_string(::getpid()) + "-" + std::to_string(++n);
  }

  std::vector<std::string> agent_args(std::vector<std::string> extra = {}) {
    auto tok = admin_->post("/api/v1/enrollment-tokens", {{"pool_id", pool_id_}});
    EXPECT_EQ(tok.status, 201) << tok.body;
    std::vector<std::string> a = {DESKAUDIT_AGENT_BIN, "run", "--server", server_->url(),
                                  "--state-dir", state_->path().string(), "--display", xvfb_->display(),
                                  "--heartbeat-seconds", "1", "--retry-max-seconds", "2",
                                  "--min-free-mib", "16", "--min-free-percent", "0",
                                  "--shutdown-timeout", "20", "--log-level", "debug"};
    // An option in `extra` replaces the default given above.
    for (std::size_t i = 0; i + 1 < extra.size(); ++i) {
      if (!extra[i].starts_with("--")) continue;
      for (std::size_t j = 2; j + 1 < a.size(); ++j) {
        if (a[j] == extra[i] && !a[j + 1].starts_with("--")) {
          a.erase(a.begin() + static_cast<long>(j), a.begin() + static_cast<long>(j) + 2);
          break;
        }
      }
    }
    a.insert(a.end(), extra.begin(), extra.end());
    enroll_token_ = tok.json.value("token", std::string());
    return a;
  }

  void start_agent(std::vector<std::string> extra = {}) {
    auto args = agent_args(std::move(extra));
    agent_ = std::make_unique<Child>(args, logs_->path() / "agent.log",
                                     std::map<std::string, std::string>{{"DESKAUDIT_ENROLL_TOKEN", enroll_token_}});
    // Up = answering on its socket (a socket file left by a killed agent is not enough).
    const std::string status_cmd = std::string(DESKAUDIT_AGENT_BIN) + " session status --state-dir " +
                                   quote(state_->path().string()) + " >/dev/null 2>&1";
    ASSERT_TRUE(wait_until(
        [&] {
          int st = 1;
          shell(status_cmd, &st);
          return st == 0 || !agent_->running();
        },
        30s))
        << "agent did not come up";
    ASSERT_TRUE(agent_->running()) << "agent exited:\n" << tail_of(logs_->path() / "agent.log");
    auto cred = read_file(state_->path() / "credential.json");
    ASSERT_TRUE(cred);
    computer_id_ = nlohmann::json::parse(*cred)["computer_id"];
  }

  nlohmann::json session(const std::string& op, const std::string& user = {}) {
    std::string cmd = std::string(DESKAUDIT_AGENT_BIN) + " session " + op + " --state-dir " + quote(state_->path().string());
    if (!user.empty()) cmd += " --user " + quote(user);
    int st = 0;
    const auto out = shell(cmd + " 2>/dev/null", &st);
    auto j = nlohmann::json::parse(out, nullptr, false);
    EXPECT_EQ(st, 0) << cmd << " -> " << out;
    return j;
  }

  // Continuous motion on the display for `seconds` (a test pattern video).
  void start_motion(int seconds, const std::string& size = "480x270") {
    motion_ = std::make_unique<Child>(
        std::vector<std::string>{"ffplay", "-loglevel", "quiet", "-an", "-f", "lavfi", "-i",
                                 "testsrc2=size=" + size + ":rate=25:duration=" + std::to_string(seconds), "-left",
                                 "20", "-top", "20", "-autoexit", "-window_title", "motion"},
        logs_->path() / "motion.log", std::map<std::string, std::string>{{"DISPLAY", xvfb_->display()}});
  }

  // A colour over the whole screen (ffplay of a lavfi colour source).
  std::unique_ptr<Child> fill_screen(const std::string& colour) {
    return std::make_unique<Child>(std::vector<std::string>{"ffplay", "-loglevel", "quiet", "-an", "-f", "lavfi", "-i",
                                                            "color=c=" + colour + ":size=1280x720:rate=5", "-left", "0",
                                                            "-top", "0", "-noborder", "-window_title", colour},
                                   logs_->path() / (colour + ".log"),
                                   std::map<std::string, std::string>{{"DISPLAY", xvfb_->display()}});
  }

  std::vector<nlohmann::json> recordings() {
    auto r = admin_->get("/api/v1/recordings?computer_id=" + computer_id_);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<nlohmann::json> out;
    if (r.json.is_object() && r.json.contains("items")) {
      for (const auto& it : r.json["items"]) out.push_back(it);
    }
    std::reverse(out.begin(), out.end());  // oldest first
    return out;
  }

  // The text of the user notice on the test's display: the message argument
  // of the xmessage the agent started for it (empty until one runs).
  std::string notice_text() {
    std::error_code ec;
    for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
      auto cmdline = read_file(it->path() / "cmdline");
      if (!cmdline) continue;
      std::vector<std::string> args;
      for (std::size_t from = 0; from < cmdline->size();) {
        const auto nul = cmdline->find('\0', from);
        args.push_back(cmdline->substr(from, nul - from));
        from = nul == std::string::npos ? cmdline->size() : nul + 1;
      }
      if (args.size() < 3 || fs::path(args[0]).filename() != "xmessage") continue;
      const auto d = std::find(args.begin(), args.end(), "-display");
      if (d == args.end() || d + 1 == args.end() || *(d + 1) != xvfb_->display()) continue;
      return args.back();
    }
    return {};
  }

  nlohmann::json status_check(const std::string& id) {
    auto r = admin_->get("/api/v1/computers/" + computer_id_ + "/recording-status");
    EXPECT_EQ(r.status, 200) << r.body;
    for (const auto& c : r.json["checks"]) {
      if (c["id"] == id) return c;
    }
    return nullptr;
  }

  nlohmann::json detail(const std::string& id) {
    auto r = admin_->get("/api/v1/recordings/" + id);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json;
  }

  // Waits until `count` recordings exist and the first `count` have left
  // status "recording"; returns them oldest first.
  std::vector<nlohmann::json> wait_finished(std::size_t count, std::chrono::seconds timeout) {
    std::vector<nlohmann::json> recs;
    wait_until(
        [&] {
          recs = recordings();
          if (recs.size() < count) return false;
          for (std::size_t i = 0; i < count; ++i) {
            if (recs[i]["status"] == "recording") return false;
          }
          return true;
        },
        timeout, 500ms);
    return recs;
  }

  fs::path download(const std::string& path, const std::string& name) {
    auto r = admin_->get(path);
    EXPECT_EQ(r.status, 200) << path;
    const auto file = logs_->path() / name;
    std::ofstream(file, std::ios::binary) << r.body;
    return file;
  }

  // Checks a finished recording on the server: segments 0..n-1 without a
  // gap, each playable alone, media times back to back, the download
  // playable and as long as the segments together. Returns the segments.
  nlohmann::json check_recording(const nlohmann::json& rec) {
    const std::string id = rec["id"];
    auto d = detail(id);
    const auto& segs = d["segments"];
    EXPECT_GE(segs.size(), 1u) << d.dump();
    std::int64_t total_ms = 0;
    for (std::size_t i = 0; i < segs.size(); ++i) {
      EXPECT_EQ(segs[i]["seq"].get<std::int64_t>(), static_cast<std::int64_t>(i)) << "gap in the segments";
      if (i > 0) {
        const auto prev_end = segs[i - 1]["start_offset_ms"].get<std::int64_t>() + segs[i - 1]["duration_ms"].get<std::int64_t>();
        EXPECT_NEAR(static_cast<double>(segs[i]["start_offset_ms"].get<std::int64_t>()), static_cast<double>(prev_end), 2.0)
            << "segment " << i << " does not continue where " << i - 1 << " ended";
      }
      total_ms += segs[i]["duration_ms"].get<std::int64_t>();
      auto file = download("/api/v1/recordings/" + id + "/segments/" + std::to_string(i), id + "-" + std::to_string(i) + ".mp4");
      auto p = probe(file);
      if (!p.ok || !p.errors.empty()) {
        // Keep the evidence: the test's directories are removed at its end.
        const auto kept = fs::temp_directory_path() / ("deskaudit-agent-it-bad-" + file.filename().string());
        fs::copy_file(file, kept, fs::copy_options::overwrite_existing);
        ADD_FAILURE() << "segment " << i << " (kept as " << kept.string() << "): " << p.errors;
      }
    }
    auto whole = download("/api/v1/recordings/" + id + "/download", id + ".mp4");
    auto p = probe(whole);
    EXPECT_TRUE(p.ok) << p.errors;
    EXPECT_NEAR(p.duration_s * 1000.0, static_cast<double>(total_ms), 250.0) << "download vs segments";
    return d;
  }

  // The computer's agent as the server sees it, once a heartbeat that left the
  // agent after `after_ms` has arrived: proof that the agent has acted on
  // everything that happened before (a session connected, a policy applied).
  nlohmann::json heartbeat_after(std::int64_t after_ms) {
    nlohmann::json c;
    const bool seen = wait_until(
        [&] {
          auto r = admin_->get("/api/v1/computers/" + computer_id_);
          if (r.status != 200 || !r.json.is_object() || !r.json["agent"].is_object()) return false;
          c = r.json["agent"];
          if (!c["last_seen_at"].is_string()) return false;
          auto t = parse_rfc3339(c["last_seen_at"].get<std::string>());
          return t && *t > after_ms;
        },
        20s);
    EXPECT_TRUE(seen) << "no heartbeat after " << format_rfc3339(after_ms);
    return c;
  }

  std::size_t spool_recordings() {
    std::size_t n = 0;
    std::error_code ec;
    for (fs::directory_iterator it(state_->path() / "spool", ec), end; !ec && it != end; it.increment(ec)) ++n;
    return n;
  }

  std::unique_ptr<TempDir> data_, logs_, state_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Api> admin_;
  std::unique_ptr<Xvfb> xvfb_;
  std::unique_ptr<Child> agent_, motion_;
  std::string policy_id_, pool_id_, computer_id_, enroll_token_;
};

TEST_F(AgentIT, SessionRecordedEndToEndWithTheWorkload) {
  auto script = workload_script();
  if (!script) {
    if (std::getenv("CI")) FAIL() << "shared/workload/desktop-session.sh not found (set DESKAUDIT_WORKLOAD)";
    GTEST_SKIP() << "workload script not found";
  }
  set_policy({{"mode", "session"}, {"fps", 5}, {"user_notice", true},
              {"user_notice_message", "This session is recorded for audit."}});
  start_agent();
  const auto t0 = now_ms();
  auto reply = session("connect", "alice");
  EXPECT_TRUE(reply["ok"].get<bool>()) << reply.dump();
  EXPECT_EQ(reply["will_record"], true) << reply.dump();
  // The user notice appears on the display without holding recording up.
  EXPECT_TRUE(wait_until(
      [&] {
        int st = 0;
        shell("DISPLAY=" + xvfb_->display() + " xdotool search --name '^xmessage$' >/dev/null 2>&1", &st);
        return st == 0;
      },
      10s))
      << "no user notice window";
  {
    Child workload({script->string(), xvfb_->display(), "--profile", "quick"}, logs_->path() / "workload.log");
    ASSERT_TRUE(workload.wait(180s)) << "workload did not finish";
  }
  reply = session("disconnect");
  EXPECT_TRUE(reply["ok"].get<bool>());
  const auto t1 = now_ms();
  auto recs = wait_finished(1, 90s);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["status"], "complete") << recs[0].dump();
  EXPECT_EQ(recs[0]["username"], "alice");
  EXPECT_EQ(recs[0]["policy_id"], policy_id_);
  auto d = check_recording(recs[0]);
  const auto start = *parse_rfc3339(recs[0]["start_time"].get<std::string>());
  const auto end = *parse_rfc3339(recs[0]["end_time"].get<std::string>());
  EXPECT_GE(start, t0 - 1000);
  EXPECT_LE(end, t1 + 1000);
  std::int64_t total_ms = 0;
  for (const auto& s : d["segments"]) total_ms += s["duration_ms"].get<std::int64_t>();
  // The media covers the session (a still screen costs no frames, but the
  // workload's clock ticks every second).
  EXPECT_NEAR(static_cast<double>(total_ms), static_cast<double>(end - start), 3000.0);
  EXPECT_TRUE(wait_until([&] { return spool_recordings() == 0; }, 10s)) << "spool not emptied after upload";
  // Every segment went up signed (docs/evidence.md): the enrollment
  // registered the agent's key, after which the server stores no unsigned
  // segment, and it refused none.
  const auto enrolls = admin_->get("/api/v1/audit-log?action=agent.enroll").json["items"];
  ASSERT_FALSE(enrolls.empty());
  for (const auto& e : enrolls) EXPECT_TRUE(e["details"].contains("key_id")) << e.dump();
  EXPECT_TRUE(admin_->get("/api/v1/audit-log?action=segment.signature_refused").json["items"].empty());
}

TEST_F(AgentIT, SmallSegmentLimitGivesSeveralSegmentsThatPlayBackToBackAtThePolicyFps) {
  // 5 fps: constant motion is coded as coarsely as H.264 goes (~1 KB a
  // frame here), and 18 s of it must still fill more than 64 KiB.
  set_policy({{"mode", "session"}, {"fps", 5}, {"segment_max_bytes", 65536}});
  start_agent();
  session("connect", "bob");
  start_motion(18, "1200x660");  // nearly the whole screen in motion
  ASSERT_TRUE(motion_->wait(60s));
  session("disconnect");
  auto recs = wait_finished(1, 90s);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["status"], "complete");
  auto d = check_recording(recs[0]);
  // How many frames a loaded machine captures varies, so only "more than one".
  EXPECT_GE(d["segments"].size(), 2u) << "a 64 KiB limit should cut an 18 s busy screen into several segments";
  for (const auto& s : d["segments"]) {
    EXPECT_LE(s["size_bytes"].get<std::int64_t>(), 65536) << s.dump();
  }
  auto whole = probe(logs_->path() / (recs[0]["id"].get<std::string>() + ".mp4"));
  ASSERT_TRUE(whole.ok);
  ASSERT_GT(whole.duration_s, 5.0);
  EXPECT_LE(static_cast<double>(whole.frames) / whole.duration_s, 5.0 * 1.05) << "frame rate above the policy's fps";
}

TEST_F(AgentIT, KillNineLosesAtMostTheFragmentInProgress) {
  set_policy({{"mode", "session"}, {"fps", 5}, {"segment_max_bytes", 131072}});
  start_agent();
  session("connect", "carol");
  start_motion(30, "1200x660");
  std::this_thread::sleep_for(12s);
  ASSERT_TRUE(agent_->stop(SIGKILL, 5s));
  const auto killed_at = now_ms();

  // What the spool holds right after the crash: whole fragments only count.
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(state_->path() / "spool")) dirs.push_back(e.path());
  ASSERT_EQ(dirs.size(), 1u);
  auto meta = nlohmann::json::parse(*read_file(dirs[0] / "recording.json"));
  const auto start = *parse_rfc3339(meta["start_time"].get<std::string>());
  std::int64_t on_disk_end_ms = 0;
  for (const auto& e : fs::directory_iterator(dirs[0])) {
    const auto name = e.path().filename().string();
    if (!name.starts_with("seg-")) continue;
    fs::path whole = e.path();
    if (name.ends_with(".part")) {
      auto len = media::valid_prefix_length(e.path());
      ASSERT_TRUE(len) << len.error().message;
      whole = logs_->path() / name;
      fs::copy_file(e.path(), whole, fs::copy_options::overwrite_existing);
      fs::resize_file(whole, *len);
    }
    if (auto idx = media::index_segment_file(whole)) {
      on_disk_end_ms = std::max(on_disk_end_ms, idx->start_ms() + idx->duration_ms());
    }
  }
  // Segments uploaded (and deleted from the spool) before the crash.
  for (const auto& r : recordings()) {
    for (const auto& s : detail(r["id"])["segments"]) {
      on_disk_end_ms = std::max(on_disk_end_ms, s["start_offset_ms"].get<std::int64_t>() + s["duration_ms"].get<std::int64_t>());
    }
  }
  // At most the fragment in progress (2 s of media) plus encoder latency is lost.
  const auto lost_ms = killed_at - start - on_disk_end_ms;
  RecordProperty("lost_ms", std::to_string(lost_ms));
  std::cout << "kill -9 lost " << lost_ms << " ms of media\n";
  EXPECT_LE(lost_ms, 3500) << "lost more than the fragment in progress";

  // Restarted, the agent finishes the old recording as interrupted and,
  // the session still being open, records it anew.
  start_agent();
  auto recs = wait_finished(1, 60s);
  ASSERT_GE(recs.size(), 1u);
  EXPECT_EQ(recs[0]["status"], "interrupted") << recs[0].dump();
  auto d = check_recording(recs[0]);
  const auto& segs = d["segments"];
  ASSERT_FALSE(segs.empty());
  const auto server_end = segs.back()["start_offset_ms"].get<std::int64_t>() + segs.back()["duration_ms"].get<std::int64_t>();
  EXPECT_NEAR(static_cast<double>(server_end), static_cast<double>(on_disk_end_ms), 2.0)
      << "every whole fragment on disk reached the server";
  const auto end = *parse_rfc3339(recs[0]["end_time"].get<std::string>());
  EXPECT_NEAR(static_cast<double>(end - start), static_cast<double>(on_disk_end_ms), 2.0)
      << "end_time = the last whole fragment's end";

  EXPECT_TRUE(wait_until([&] { return recordings().size() == 2; }, 20s)) << "the open session was not resumed";
  session("disconnect");
  recs = wait_finished(2, 60s);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[1]["status"], "complete");
  EXPECT_EQ(recs[1]["username"], "carol");
}

TEST_F(AgentIT, ServerStoppedDuringUploadThenRestartedLosesNothing) {
  set_policy({{"mode", "session"}, {"fps", 5}, {"segment_max_bytes", 65536}});
  start_agent();
  session("connect", "dave");
  // Long enough to fill a 64 KiB segment before and another after the server
  // dies (constant motion costs ~1 KB a frame).
  start_motion(40, "1200x660");
  ASSERT_TRUE(wait_until([&] {
    auto recs = recordings();
    return !recs.empty() && detail(recs[0]["id"])["segments"].size() >= 1;
  }, 30s)) << "no segment reached the server";
  // The server dies (as on a crash) while the agent keeps recording.
  server_->stop(SIGKILL);
  const auto closed_in_spool = [&] {
    std::size_t waiting = 0;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(state_->path() / "spool", ec), end; !ec && it != end; it.increment(ec)) {
      const auto name = it->path().filename().string();
      if (name.starts_with("seg-") && name.ends_with(".mp4")) ++waiting;
    }
    return waiting;
  };
  EXPECT_TRUE(wait_until([&] { return closed_in_spool() >= 1; }, 30s))
      << "closed segments must wait in the spool while the server is away";
  server_->restart();
  login();
  ASSERT_TRUE(motion_->wait(60s));
  session("disconnect");
  auto recs = wait_finished(1, 90s);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["status"], "complete");
  auto d = check_recording(recs[0]);
  EXPECT_GE(d["segments"].size(), 2u);
  std::int64_t total_ms = 0;
  for (const auto& s : d["segments"]) total_ms += s["duration_ms"].get<std::int64_t>();
  EXPECT_GT(total_ms, 18000) << "22 s of motion recorded";
  EXPECT_TRUE(wait_until([&] { return spool_recordings() == 0; }, 10s));
}

TEST_F(AgentIT, PolicyOffRecordsNothingAndTurningItOffStopsARecording) {
  set_policy({{"mode", "off"}});
  start_agent();
  auto reply = session("connect", "erin");
  EXPECT_EQ(reply["will_record"], "the policy turns recording off") << reply.dump();
  start_motion(40);
  // A heartbeat after the connect reports the session, without a recording.
  auto hb = heartbeat_after(now_ms() + 1000);
  EXPECT_EQ(hb["session"]["username"], "erin") << hb.dump();
  EXPECT_TRUE(hb["session"]["recording_id"].is_null()) << hb.dump();
  EXPECT_TRUE(recordings().empty());
  EXPECT_EQ(spool_recordings(), 0u);
  // Changed on the server, applied by the running agent.
  patch_policy({{"mode", "session"}});
  ASSERT_TRUE(wait_until([&] { return !recordings().empty(); }, 20s)) << "recording did not start";
  std::this_thread::sleep_for(4s);
  patch_policy({{"mode", "off"}});
  auto recs = wait_finished(1, 30s);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["status"], "complete");
  check_recording(recs[0]);
  hb = heartbeat_after(now_ms() + 1000);
  EXPECT_EQ(hb["session"]["username"], "erin") << hb.dump();
  EXPECT_TRUE(hb["session"]["recording_id"].is_null()) << "recording resumed although the policy is off: " << hb.dump();
  EXPECT_EQ(recordings().size(), 1u) << "recording resumed although the policy is off";
  EXPECT_EQ(session("status")["recording"], false);
}

// The policy's audio switch, end to end: a PulseAudio server of the test's
// (given as --pulse-server, as PULSE_SERVER would be), the agent's status,
// the uploaded recording.
TEST_F(AgentIT, AudioPolicyRecordsTheSoundAndStatusSaysWhyThereIsNone) {
  ptest::PulseServer pulse;
  set_policy({{"mode", "session"}, {"audio", true}, {"user_notice", true},
              {"user_notice_message", "This session is recorded for audit."}});
  start_agent({"--pulse-server", pulse.server()});
  session("connect", "fay");
  start_motion(40);
  // The user is told that the sound is recorded too.
  ASSERT_TRUE(wait_until([&] { return !notice_text().empty(); }, 20s)) << "no user notice";
  EXPECT_NE(notice_text().find("This session is recorded for audit."), std::string::npos) << notice_text();
  EXPECT_NE(notice_text().find("The sound of this session (what you hear) is recorded too."), std::string::npos)
      << notice_text();
  const auto audio = [&] { return session("status")["audio"]; };
  ASSERT_TRUE(wait_until([&] { return audio()["recording"] == true; }, 30s)) << audio().dump();
  EXPECT_EQ(audio()["enabled"], true);
  EXPECT_NE(pulse.clients().find("deskaudit"), std::string::npos);
  // The heartbeat carries it: recording-status says where the sound comes from.
  ASSERT_TRUE(wait_until([&] { return status_check("audio")["ok"] == true && status_check("audio")["detail"] != "no user session is open"; }, 30s))
      << status_check("audio").dump();
  EXPECT_NE(status_check("audio")["detail"].get<std::string>().find(pulse.server()), std::string::npos)
      << status_check("audio").dump();
  pulse.kill();
  ASSERT_TRUE(wait_until([&] { return audio()["recording"] == false && audio()["error"].is_string(); }, 30s))
      << audio().dump();
  // ... and, while the server is gone, why there is no sound.
  ASSERT_TRUE(wait_until([&] { return status_check("audio")["ok"] == false; }, 30s)) << status_check("audio").dump();
  EXPECT_TRUE(status_check("audio")["detail"].get<std::string>().starts_with("no sound: ")) << status_check("audio").dump();
  pulse.start();
  ASSERT_TRUE(wait_until([&] { return audio()["recording"] == true; }, 30s)) << audio().dump();
  EXPECT_TRUE(audio()["error"].is_null()) << audio().dump();
  ASSERT_TRUE(wait_until([&] { return status_check("audio")["ok"] == true; }, 30s)) << status_check("audio").dump();
  session("disconnect");
  auto recs = wait_finished(1, 60s);
  ASSERT_EQ(recs.size(), 1u);
  const auto d = detail(recs[0]["id"].get<std::string>());
  EXPECT_EQ(d["has_audio"], true) << d.dump();
  EXPECT_TRUE(d["codecs"].get<std::string>().ends_with(",opus")) << d.dump();
}

TEST_F(AgentIT, AudioServerNotFoundStillRecordsTheVideoAndSaysWhy) {
  set_policy({{"mode", "session"}, {"audio", true}});
  start_agent();  // no --pulse-server, and no local user "hal" with a runtime directory
  session("connect", "hal");
  start_motion(20);
  ASSERT_TRUE(wait_until([&] { return !recordings().empty(); }, 30s)) << "the video did not start";
  ASSERT_TRUE(wait_until([&] { return session("status")["audio"]["error"].is_string(); }, 30s));
  const auto audio = session("status")["audio"];
  EXPECT_EQ(audio["enabled"], true);
  EXPECT_EQ(audio["recording"], false);
  EXPECT_NE(audio["error"].get<std::string>().find("no local user 'hal'"), std::string::npos) << audio.dump();
  // The heartbeat tells the server, and recording-status tells the administrator.
  ASSERT_TRUE(wait_until([&] { return status_check("audio")["ok"] == false; }, 30s)) << status_check("audio").dump();
  EXPECT_NE(status_check("audio")["detail"].get<std::string>().find("no local user 'hal'"), std::string::npos)
      << status_check("audio").dump();
}

TEST_F(AgentIT, AudioOffOpensNothingOnTheAudioServer) {
  ptest::PulseServer pulse;
  set_policy({{"mode", "session"}, {"user_notice", true}, {"user_notice_message", "This session is recorded for audit."}});
  start_agent({"--pulse-server", pulse.server()});
  session("connect", "gus");
  start_motion(20);
  ASSERT_TRUE(wait_until([&] { return !recordings().empty(); }, 30s)) << "recording did not start";
  // The notice does not claim the sound is recorded.
  ASSERT_TRUE(wait_until([&] { return !notice_text().empty(); }, 20s)) << "no user notice";
  EXPECT_EQ(notice_text(), "This session is recorded for audit.");
  EXPECT_EQ(session("status")["audio"]["enabled"], false);
  EXPECT_EQ(pulse.clients().find("deskaudit"), std::string::npos) << pulse.clients();
  session("disconnect");
  auto recs = wait_finished(1, 60s);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(detail(recs[0]["id"].get<std::string>())["has_audio"], false);
}

TEST_F(AgentIT, OutsideTheTimeWindowNothingIsRecorded) {
  // A window that starts two hours from now (local time) and lasts one.
  set_policy({{"mode", "period"}, {"period_start", local_hhmm(120)}, {"period_end", local_hhmm(180)}});
  start_agent();
  auto reply = session("connect", "frank");
  EXPECT_EQ(reply["will_record"], "outside the policy's time window") << reply.dump();
  start_motion(40);
  auto hb = heartbeat_after(now_ms() + 1000);
  EXPECT_EQ(hb["session"]["username"], "frank") << hb.dump();
  EXPECT_TRUE(hb["session"]["recording_id"].is_null()) << hb.dump();
  EXPECT_TRUE(recordings().empty());
  EXPECT_EQ(spool_recordings(), 0u);
  // Move the window over now: recording starts; move it away: it stops.
  patch_policy({{"period_start", local_hhmm(-1)}, {"period_end", local_hhmm(5)}});
  ASSERT_TRUE(wait_until([&] { return !recordings().empty(); }, 20s)) << "recording did not start inside the window";
  std::this_thread::sleep_for(3s);
  patch_policy({{"period_start", local_hhmm(120)}, {"period_end", local_hhmm(180)}});
  auto recs = wait_finished(1, 30s);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["status"], "complete");
  check_recording(recs[0]);
}

TEST_F(AgentIT, DisplaySessionEndsWhenTheDisplayGoesAway) {
  set_policy({{"mode", "session"}, {"fps", 5}});
  start_agent({"--display-session"});
  start_motion(30);
  ASSERT_TRUE(wait_until([&] { return !recordings().empty(); }, 20s)) << "display session not recorded";
  // connect/disconnect are refused in this mode.
  int st = 0;
  shell(std::string(DESKAUDIT_AGENT_BIN) + " session disconnect --state-dir " + quote(state_->path().string()) +
            " >/dev/null 2>&1",
        &st);
  EXPECT_NE(st, 0);
  std::this_thread::sleep_for(4s);
  motion_.reset();
  xvfb_->stop();
  auto recs = wait_finished(1, 30s);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["status"], "complete") << recs[0].dump();
  EXPECT_EQ(recs[0]["username"], current_user()) << "user = owner of the display socket";
  check_recording(recs[0]);
}

TEST_F(AgentIT, SigtermFinishesAndUploadsTheOpenRecordingInBoundedTime) {
  set_policy({{"mode", "session"}, {"fps", 5}});
  start_agent();
  session("connect", "gina");
  start_motion(30);
  std::this_thread::sleep_for(6s);
  const auto t = std::chrono::steady_clock::now();
  auto status = agent_->stop(SIGTERM, 30s);
  ASSERT_TRUE(status) << "agent did not exit within 30 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t, 25s);
  auto recs = recordings();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["status"], "interrupted") << "the session was still open";
  auto d = check_recording(recs[0]);
  std::int64_t total_ms = 0;
  for (const auto& s : d["segments"]) total_ms += s["duration_ms"].get<std::int64_t>();
  EXPECT_GT(total_ms, 4000);
  EXPECT_EQ(spool_recordings(), 0u) << "everything uploaded before exiting";
}

TEST_F(AgentIT, DiskFloorStopsRecordingWithAnError) {
  set_policy({{"mode", "session"}, {"fps", 5}});
  start_agent({"--min-free-percent", "100"});  // no file system is 100 % free
  session("connect", "hank");
  nlohmann::json st;
  EXPECT_TRUE(wait_until(
      [&] {
        st = session("status");
        return st["last_error"].is_string();
      },
      20s))
      << st.dump();
  ASSERT_TRUE(st["last_error"].is_string()) << st.dump();
  EXPECT_EQ(st["recording"], false) << st.dump();
  EXPECT_TRUE(recordings().empty());
  EXPECT_NE(st["last_error"].get<std::string>().find("free"), std::string::npos) << st.dump();
  // The console learns it from the heartbeat.
  EXPECT_TRUE(wait_until(
      [&] {
        auto c = admin_->get("/api/v1/computers/" + computer_id_ + "/recording-status");
        return c.body.find("MiB free") != std::string::npos;
      },
      10s))
      << admin_->get("/api/v1/computers/" + computer_id_ + "/recording-status").body;
}

// A recording deleted on the server while the agent still uploads it: the
// agent sets it aside (files kept, reported) and later sessions upload as
// usual; before, the 404 blocked every later recording.
TEST_F(AgentIT, RecordingDeletedOnTheServerIsSetAsideAndLaterOnesStillUpload) {
  set_policy({{"mode", "session"}, {"fps", 5}});
  start_agent();
  session("connect", "alice");
  start_motion(60);
  std::vector<nlohmann::json> recs;
  ASSERT_TRUE(wait_until([&] { return !(recs = recordings()).empty(); }, 60s)) << tail_of(logs_->path() / "agent.log");
  const std::string deleted = recs[0]["id"];
  std::this_thread::sleep_for(2s);  // a few frames into its first segment
  ASSERT_EQ(admin_->del("/api/v1/recordings/" + deleted).status, 204);
  session("disconnect");

  const fs::path aside = state_->path() / "spool" / "set-aside";
  const auto aside_count = [&] {
    std::size_t n = 0;
    std::error_code ec;
    for (fs::directory_iterator it(aside, ec), end; !ec && it != end; it.increment(ec)) ++n;
    return n;
  };
  ASSERT_TRUE(wait_until([&] { return aside_count() == 1; }, 60s)) << tail_of(logs_->path() / "agent.log");

  session("connect", "bob");
  std::this_thread::sleep_for(3s);
  session("disconnect");
  recs = wait_finished(1, 60s);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["username"], "bob");
  EXPECT_NE(recs[0]["status"], "recording");
  check_recording(recs[0]);

  // Reported: by the agent's spool command and, through the heartbeat, by
  // the server's recording-status.
  int st = 0;
  const auto list = shell(
      std::string(DESKAUDIT_AGENT_BIN) + " spool list --state-dir " + quote(state_->path().string()) + " 2>&1", &st);
  EXPECT_EQ(st, 0) << list;
  EXPECT_NE(list.find("recording=" + deleted), std::string::npos) << list;
  EXPECT_NE(list.find("http_status=404"), std::string::npos) << list;
  const std::string status_path = "/api/v1/computers/" + computer_id_ + "/recording-status";
  EXPECT_TRUE(
      wait_until([&] { return admin_->get(status_path).body.find(deleted + ") HTTP 404") != std::string::npos; }, 20s))
      << admin_->get(status_path).body;

  // Cleared by the administrator: the report goes away.
  fs::path local;
  for (const auto& e : fs::directory_iterator(aside)) local = e.path().filename();
  shell(std::string(DESKAUDIT_AGENT_BIN) + " spool delete " + local.string() + " --state-dir " +
            quote(state_->path().string()) + " 2>&1",
        &st);
  EXPECT_EQ(st, 0);
  EXPECT_EQ(aside_count(), 0u);
  EXPECT_TRUE(wait_until(
      [&] {
        const auto r = admin_->get(status_path);
        for (const auto& c : r.json["checks"]) {
          if (c["id"] == "set_aside") return c["ok"].get<bool>();
        }
        return false;
      },
      20s))
      << admin_->get(status_path).body;
}

namespace {

// The mean colour of the frame at `seconds` of a media file (scaled to one
// pixel): {r, g, b}, or empty when ffmpeg gives none.
std::vector<int> frame_colour(const fs::path& file, double seconds) {
  int st = 0;
  const auto raw = shell("ffmpeg -v error -ss " + std::to_string(seconds) + " -i " + quote(file.string()) +
                             " -frames:v 1 -vf scale=1:1 -f rawvideo -pix_fmt rgb24 - 2>/dev/null",
                         &st);
  if (st != 0 || raw.size() < 3) return {};
  return {static_cast<unsigned char>(raw[0]), static_cast<unsigned char>(raw[1]), static_cast<unsigned char>(raw[2])};
}

bool is_blue(const std::vector<int>& c) { return c.size() == 3 && c[2] > 150 && c[0] < 80 && c[1] < 80; }
bool is_red(const std::vector<int>& c) { return c.size() == 3 && c[0] > 150 && c[1] < 80 && c[2] < 80; }

// Every frame of a media file's video track, in presentation order: its
// time in ms and its mean colour (scaled to one pixel).
struct FrameColour {
  std::int64_t ms = 0;
  std::vector<int> rgb;
};

std::vector<FrameColour> frame_colours(const fs::path& file) {
  int st = 0;
  const auto times = shell("ffprobe -v error -select_streams v:0 -show_entries frame=pts_time -of csv=p=0 " +
                               quote(file.string()) + " 2>/dev/null",
                           &st);
  if (st != 0) return {};
  const auto raw = shell("ffmpeg -v error -i " + quote(file.string()) +
                             " -map 0:v:0 -vf scale=1:1 -fps_mode passthrough -f rawvideo -pix_fmt rgb24 - 2>/dev/null",
                         &st);
  if (st != 0) return {};
  std::vector<FrameColour> out;
  std::istringstream in(times);
  std::string line;
  for (std::size_t i = 0; std::getline(in, line) && !line.empty(); ++i) {
    if (3 * i + 3 > raw.size()) return {};  // fewer pictures than timestamps
    FrameColour f;
    f.ms = std::llround(std::atof(line.c_str()) * 1000.0);
    for (int k = 0; k < 3; ++k) f.rgb.push_back(static_cast<unsigned char>(raw[3 * i + k]));
    out.push_back(std::move(f));
  }
  if (3 * out.size() != raw.size()) return {};
  return out;
}

}  // namespace

// A recording's start is the wall time of its first frame (media time 0),
// however long the capture takes to open (DXGI's probe takes over a second
// under Wine; here the agent's test hook adds 2 s): a start taken before
// would put every picture and event that much late on the recording's
// clock, and the player's wall clock that much early. Checked by a screen
// change at a known wall time: its first frame's start + media time is not
// before it.
TEST_F(AgentIT, RecordingStartsAtItsFirstFrameHoweverLongTheCaptureTakesToOpen) {
  auto blue = fill_screen("blue");
  set_policy({{"mode", "session"}, {"fps", 5}});
  start_agent({"--test-capture-open-delay-ms", "2000"});
  const auto connect_ms = now_ms();
  auto reply = session("connect", "dave");
  EXPECT_EQ(reply["will_record"], true) << reply.dump();
  ASSERT_TRUE(wait_until([&] { return !recordings().empty(); }, 30s))
      << "no recording started: " << tail_of(logs_->path() / "agent.log");
  std::this_thread::sleep_for(2s);  // some blue first
  const auto red_launched_ms = now_ms();
  auto red = fill_screen("red");
  std::this_thread::sleep_for(4s);
  session("disconnect");
  auto recs = wait_finished(1, 90s);
  ASSERT_EQ(recs.size(), 1u);
  const auto d = check_recording(recs[0]);
  const auto start = parse_rfc3339(d["start_time"].get<std::string>());
  ASSERT_TRUE(start) << d.dump();
  EXPECT_GE(*start, connect_ms + 2000) << "the start was taken before the capture opened";
  EXPECT_LE(*start, connect_ms + 2000 + 5000) << d.dump();

  const auto whole = download("/api/v1/recordings/" + recs[0]["id"].get<std::string>() + "/download", "clock.mp4");
  const auto frames = frame_colours(whole);
  ASSERT_FALSE(frames.empty()) << "no frames decoded";
  EXPECT_TRUE(is_blue(frames.front().rgb)) << "the recording does not open on the blue screen";
  const auto first_red = std::find_if(frames.begin(), frames.end(), [](const auto& f) { return is_red(f.rgb); });
  ASSERT_NE(first_red, frames.end()) << "the red screen was not recorded";
  const std::int64_t red_wall_ms = *start + first_red->ms;
  RecordProperty("red_after_launch_ms", std::to_string(red_wall_ms - red_launched_ms));
  std::cout << "the red screen's first frame is " << red_wall_ms - red_launched_ms
            << " ms after ffplay was started, on the recording's clock\n";
  // Not before it could have been on screen (ms rounding of the start and
  // of the media time), and within ffplay's start-up and a frame interval.
  EXPECT_GE(red_wall_ms, red_launched_ms - 5) << "the recording's clock is early";
  EXPECT_LE(red_wall_ms, red_launched_ms + 3000) << "the recording's clock is late";
}

// Event-triggered recording end to end: armed, the agent records and
// uploads nothing; a trigger program starts a recording that begins with
// the pre-event ring (the screen from before a marker drawn ahead of the
// trigger: frame check), carries a "trigger" event saying why, and ends
// post_event_minutes after the program exits (a "minute" is 1 s through
// the agent's test hook; the policy's 10..60 is validated as ever).
TEST_F(AgentIT, EventModeRecordsOnlyAroundATriggerWithThePreEventRing) {
  auto blue = fill_screen("blue");
  set_policy({{"mode", "events"},
              {"triggers", nlohmann::json::array({{{"process", "datrig*"}}})},
              {"pre_event_seconds", 20},
              {"post_event_minutes", 10}});
  start_agent({"--test-post-event-minute-ms", "1000"});
  auto reply = session("connect", current_user());
  // Armed, not recording: nothing is recorded until a trigger matches.
  EXPECT_EQ(reply["will_record"], "armed") << reply.dump();
  ASSERT_TRUE(wait_until([&] { return tail_of(logs_->path() / "agent.log").find("armed for event-triggered") !=
                                      std::string::npos; },
                         20s))
      << tail_of(logs_->path() / "agent.log");
  // 25 s armed on a blue screen (the scenario's time, not a wait for a
  // result): the ring fills; a heartbeat after it shows nothing recorded.
  std::this_thread::sleep_for(25s);
  auto hb = heartbeat_after(now_ms() + 1000);
  EXPECT_EQ(hb["session"]["username"], current_user()) << hb.dump();
  EXPECT_TRUE(hb["session"]["recording_id"].is_null()) << hb.dump();
  auto status = session("status", "");
  EXPECT_EQ(status["will_record"], "armed") << status.dump();
  EXPECT_EQ(status["recording"], false) << status.dump();
  EXPECT_TRUE(recordings().empty()) << "recorded while no trigger ran";
  EXPECT_EQ(spool_recordings(), 0u) << "wrote to the spool while no trigger ran";

  // The marker: the screen turns red 6 s before the trigger.
  auto red = fill_screen("red");
  heartbeat_after(now_ms() + 6000);
  const fs::path program = logs_->path() / "datrigger";
  fs::copy_file("/bin/sleep", program);
  const std::int64_t trigger_ms = now_ms();
  auto trigger = std::make_unique<Child>(std::vector<std::string>{program.string(), "3600"},
                                         logs_->path() / "datrigger.log");
  ASSERT_TRUE(wait_until([&] { return !recordings().empty(); }, 30s))
      << "no recording started: " << tail_of(logs_->path() / "agent.log");
  heartbeat_after(now_ms() + 3000);
  // Recording now: as any recording session.
  status = session("status", "");
  EXPECT_EQ(status["will_record"], true) << status.dump();
  EXPECT_EQ(status["recording"], true) << status.dump();
  const std::int64_t exit_ms = now_ms();
  trigger.reset();  // SIGKILL: the trigger ends

  auto recs = wait_finished(1, 90s);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["status"], "complete");
  const auto d = check_recording(recs[0]);
  const auto start = parse_rfc3339(d["start_time"].get<std::string>());
  const auto end = parse_rfc3339(d["end_time"].get<std::string>());
  ASSERT_TRUE(start && end) << d.dump();
  // Begins at most pre_event_seconds before the trigger (seen at most a few
  // seconds after the program started), and before the marker.
  EXPECT_GE(*start, trigger_ms - 20'000 - 1000) << "began more than pre_event_seconds before the trigger";
  EXPECT_LT(*start, trigger_ms - 6000) << "the pre-event ring did not reach back to the marker";
  // Ends post_event_minutes (10 test "minutes" of 1 s) after the trigger ended.
  EXPECT_GE(*end, exit_ms - 1500 + 10'000) << "ended before post_event_minutes had passed";

  // Frame check: the recording opens on the blue screen from before the
  // marker, and shows the red marker just before the trigger.
  const auto whole = download("/api/v1/recordings/" + recs[0]["id"].get<std::string>() + "/download", "events.mp4");
  EXPECT_TRUE(is_blue(frame_colour(whole, 0.0)));
  const double before_trigger_s = static_cast<double>(trigger_ms - *start) / 1000.0 - 1.0;
  EXPECT_TRUE(is_red(frame_colour(whole, before_trigger_s))) << "at " << before_trigger_s << " s";

  // Why it started: a "trigger" event naming the trigger.
  auto ev = admin_->get("/api/v1/recordings/" + recs[0]["id"].get<std::string>() + "/events?type=trigger");
  ASSERT_EQ(ev.status, 200) << ev.body;
  ASSERT_EQ(ev.json["items"].size(), 1u) << ev.body;
  EXPECT_EQ(ev.json["items"][0]["title"], "process \"datrigger\" matches \"datrig*\"") << ev.body;

  // Armed again, with nothing running: no second recording.
  hb = heartbeat_after(now_ms() + 3000);
  EXPECT_TRUE(hb["session"]["recording_id"].is_null()) << hb.dump();
  EXPECT_EQ(recordings().size(), 1u);
}
