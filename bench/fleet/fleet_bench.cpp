// fleet_bench: a simulated fleet against one embedded deskaudit-server on
// loopback, or two replicas on PostgreSQL + S3 (--replicas 2). Agents behave like the real one on the wire (one keep-alive
// connection each, enroll, heartbeat every --heartbeat seconds, one segment
// upload every --upload-interval seconds, finish); auditors list, open and
// play recordings; slow clients dribble request headers; a burst uploads N
// segments at once. Prints per request type: count, errors, latency
// percentiles and MB/s, plus the server's CPU seconds and peak RSS.
#include <sys/resource.h>
#include <unistd.h>

// Asio 1.74 needs <utility> first.
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "sample_media.hpp"
#include "scratch_schema.hpp"
#include "server_process.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace deskaudit::testing;

namespace {

struct Stats {
  std::vector<double> ms;
  std::vector<std::pair<double, double>> slowest;  // (ms, seconds into the run when sent), the worst few
  std::uint64_t errors = 0;
  std::uint64_t bytes = 0;
};

constexpr std::size_t kSlowestKept = 5;

struct Run {
  std::map<std::string, Stats> stats;
  Clock::time_point start = Clock::now();
  int slow_connected = 0;  // slow clients whose first connection is up
  std::map<std::string, std::uint64_t> error_kinds;
  Clock::time_point end;
  bool over() const { return Clock::now() >= end; }
};

// One keep-alive connection; reconnects after an error (counted).
class Conn {
 public:
  Conn(asio::io_context& ioc, tcp::endpoint ep) : stream_(ioc), ep_(ep) {}

  // Sends a request and reads the answer; status 0 on a transport error.
  awaitable<std::pair<unsigned, std::string>> send(http::verb method, const std::string& target, std::string body,
                                                   const std::vector<std::pair<std::string, std::string>>& headers,
                                                   std::string* error) {
    beast::error_code ec;
    if (!open_) {
      stream_.expires_after(std::chrono::seconds(30));
      co_await stream_.async_connect(ep_, redirect_error(use_awaitable, ec));
      if (ec) {
        *error = "connect: " + ec.message();
        stream_.close();
        co_return std::pair<unsigned, std::string>{0, {}};
      }
      stream_.socket().set_option(tcp::no_delay(true), ec);
      open_ = true;
    }
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == http::verb::post || method == http::verb::put) {
      req.body() = std::move(body);
      req.prepare_payload();
    }
    stream_.expires_after(std::chrono::seconds(60));
    co_await http::async_write(stream_, req, redirect_error(use_awaitable, ec));
    http::response<http::string_body> res;
    if (!ec) co_await http::async_read(stream_, buf_, res, redirect_error(use_awaitable, ec));
    if (ec) {
      *error = ec == beast::error::timeout ? "timeout" : ec.message();
      stream_.close();
      buf_.clear();
      open_ = false;
      co_return std::pair<unsigned, std::string>{0, {}};
    }
    if (!res.keep_alive()) {
      stream_.close();
      open_ = false;
    }
    co_return std::pair<unsigned, std::string>{res.result_int(), std::move(res.body())};
  }

 private:
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  tcp::endpoint ep_;
  bool open_ = false;
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Sends one request and records its latency under `kind`.
awaitable<std::pair<unsigned, std::string>> timed(Run& run, Conn& conn, const std::string& kind, http::verb method,
                                                  const std::string& target, std::string body, HeaderList headers,
                                                  unsigned expect_lo = 200, unsigned expect_hi = 299) {
  const auto size = body.size();
  std::string error;
  const auto t0 = Clock::now();
  auto r = co_await conn.send(method, target, std::move(body), headers, &error);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  auto& s = run.stats[kind];
  s.ms.push_back(ms);
  s.slowest.emplace_back(ms, std::chrono::duration<double>(t0 - run.start).count());
  std::sort(s.slowest.begin(), s.slowest.end(), std::greater<>());
  if (s.slowest.size() > kSlowestKept) s.slowest.pop_back();
  s.bytes += size + r.second.size();
  if (r.first < expect_lo || r.first > expect_hi) {
    ++s.errors;
    ++run.error_kinds[kind + ": " +
                      (r.first ? "HTTP " + std::to_string(r.first) + " " + r.second.substr(0, 120) : error)];
  }
  co_return r;
}

// Plain functions build the header lists and bodies: GCC 12 fails on braced
// initializer lists inside coroutines ("array used as initializer").
HeaderList json_headers(const std::string& token = {}) {
  HeaderList h{{"Content-Type", "application/json"}};
  if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
  return h;
}
HeaderList bearer(const std::string& token) { return HeaderList{{"Authorization", "Bearer " + token}}; }
HeaderList segment_headers(const std::string& sha, const std::string& token) {
  return HeaderList{{"Content-Type", "video/mp4"}, {"X-Content-SHA256", sha}, {"Authorization", "Bearer " + token}};
}
std::string now_text() { return deskaudit::format_rfc3339(deskaudit::SystemClock().now_ms()); }
std::string enroll_body(const std::string& token, int i) {
  return Json{{"enrollment_token", token},
              {"hostname", "fleet-" + std::to_string(i)},
              {"os", "Debian GNU/Linux 12 (Linux)"},
              {"agent_version", "0.1.0"}}
      .dump();
}
std::string recording_body(int i) {
  return Json{{"username", "user" + std::to_string(i)}, {"start_time", now_text()}}.dump();
}
std::string finish_body() { return Json{{"end_time", now_text()}, {"status", "complete"}}.dump(); }
std::vector<std::string> item_ids(const std::string& body) {
  std::vector<std::string> ids;
  for (const auto& item : Json::parse(body, nullptr, false).value("items", Json::array())) {
    if (item.contains("id")) ids.push_back(item["id"].get<std::string>());
  }
  return ids;
}
std::string field(const std::string& body, const char* name) {
  auto j = Json::parse(body, nullptr, false);
  return j.is_object() && j.contains(name) && j[name].is_string() ? j[name].get<std::string>() : std::string();
}

awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  beast::error_code ec;
  co_await t.async_wait(redirect_error(use_awaitable, ec));
}

struct Shared {
  std::vector<tcp::endpoint> eps;  // one per replica; client i uses eps[i % size]
  const tcp::endpoint& ep(int i) const { return eps[static_cast<std::size_t>(i) % eps.size()]; }
  std::string enroll_token;
  std::string admin_token;
  const std::string* segment = nullptr;
  std::string segment_sha;
  std::chrono::milliseconds heartbeat{15'000};
  std::chrono::milliseconds upload_interval{60'000};
  int uploads_per_agent = -1;  // burst: exactly this many, at once
};

const std::string kHeartbeat = Json{
    {"agent_version", "0.1.0"},
    {"capture", {{"backend", "xcb-shm+damage"}, {"width", 1920}, {"height", 1080}, {"ok", true}}},
    {"spool_bytes", 0},
    {"last_error", ""},
    {"session", nullptr}}.dump();

struct Agent {
  std::string token;
  std::string recording;
};

// Enrolls and opens a recording over the agent's own connection.
awaitable<bool> enroll(Run& run, Conn& conn, Shared& sh, int i, Agent& a) {
  auto e = co_await timed(run, conn, "enroll", http::verb::post, "/api/v1/agent/enroll",
                          enroll_body(sh.enroll_token, i), json_headers());
  if (e.first != 201) co_return false;
  a.token = field(e.second, "agent_token");
  auto r = co_await timed(run, conn, "recording.create", http::verb::post, "/api/v1/agent/recordings",
                          recording_body(i), json_headers(a.token));
  if (r.first != 201) co_return false;
  a.recording = field(r.second, "id");
  co_return !a.recording.empty();
}

awaitable<void> upload(Run& run, Conn& conn, Shared& sh, Agent& a, int seq, const std::string& kind) {
  co_await timed(run, conn, kind, http::verb::put,
                 "/api/v1/agent/recordings/" + a.recording + "/segments/" + std::to_string(seq), *sh.segment,
                 segment_headers(sh.segment_sha, a.token));
}

awaitable<void> agent_loop(Run& run, Shared& sh, int i, std::uint32_t seed) {
  Conn conn(static_cast<asio::io_context&>((co_await asio::this_coro::executor).context()), sh.ep(i));
  std::mt19937 rng(seed);
  // Agents start spread over one heartbeat interval, as a fleet does.
  co_await sleep_for(std::chrono::milliseconds(rng() % std::max<long>(1, sh.heartbeat.count())));
  Agent a;
  if (!co_await enroll(run, conn, sh, i, a)) co_return;
  auto next_upload = Clock::now() + std::chrono::milliseconds(rng() % std::max<long>(1, sh.upload_interval.count()));
  int seq = 0;
  while (!run.over()) {
    co_await timed(run, conn, "heartbeat", http::verb::post, "/api/v1/agent/heartbeat", kHeartbeat,
                   json_headers(a.token));
    if (Clock::now() >= next_upload && !run.over()) {
      co_await upload(run, conn, sh, a, seq++, "segment.upload");
      next_upload += sh.upload_interval;
    }
    co_await sleep_for(sh.heartbeat);
  }
  co_await timed(run, conn, "recording.finish", http::verb::post, "/api/v1/agent/recordings/" + a.recording + "/finish",
                 finish_body(), json_headers(a.token));
}

awaitable<void> auditor_loop(Run& run, Shared& sh, int i, std::uint32_t seed) {
  Conn conn(static_cast<asio::io_context&>((co_await asio::this_coro::executor).context()), sh.ep(i));
  std::mt19937 rng(seed);
  const HeaderList auth = bearer(sh.admin_token);
  while (!run.over()) {
    auto list =
        co_await timed(run, conn, "auditor.list", http::verb::get, "/api/v1/recordings?limit=50", std::string(), auth);
    const auto ids = list.first == 200 ? item_ids(list.second) : std::vector<std::string>{};
    if (!ids.empty()) {
      const auto& id = ids[rng() % ids.size()];
      co_await timed(run, conn, "auditor.detail", http::verb::get, "/api/v1/recordings/" + id, std::string(), auth);
      // A recording without segments yet answers 404 or 422: only 5xx/transport errors count.
      co_await timed(run, conn, "auditor.playlist", http::verb::get, "/api/v1/recordings/" + id + "/playlist.m3u8", {},
                     auth, 200, 499);
    }
    co_await sleep_for(std::chrono::milliseconds(500 + rng() % 1000));
  }
}

// Holds a connection open by sending a header byte every few seconds.
awaitable<void> slow_client(Run& run, tcp::endpoint ep, int id) {
  auto ex = co_await asio::this_coro::executor;
  const std::string request =
      "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-Client: " + std::string(4096, 'z') + "\r\n\r\n";
  std::size_t at = 0;
  bool first = true;
  while (!run.over()) {
    tcp::socket s(ex);
    beast::error_code ec;
    const auto t0 = Clock::now();
    co_await s.async_connect(ep, redirect_error(use_awaitable, ec));
    auto& st = run.stats[first ? "slow.connect" : "slow.reconnect"];
    if (ec) {
      ++st.errors;
      ++run.error_kinds["slow.connection: " + ec.message()];
      co_await sleep_for(std::chrono::seconds(1));
      continue;
    }
    st.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    at = static_cast<std::size_t>(id) % 7;
    while (!run.over() && !ec) {
      co_await asio::async_write(s, asio::buffer(request.data() + at, 1), redirect_error(use_awaitable, ec));
      if (first && !ec) ++run.slow_connected;
      first = false;
      at = (at + 1) % (request.size() - 4);
      co_await sleep_for(std::chrono::seconds(2));
    }
    // The server closes a dribbling connection at its header timeout: open another.
  }
}

struct ProcUsage {
  double cpu_s = 0;
  long rss_peak_kb = 0;
};

ProcUsage usage_of(pid_t pid) {
  ProcUsage u;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  const auto close = text.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(text.substr(close + 2));
    std::vector<std::string> f((std::istream_iterator<std::string>(rest)), {});
    if (f.size() > 13) u.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) u.rss_peak_kb = std::stol(line.substr(6));
  }
  return u;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// CPU seconds since `before` and peak RSS of each replica, one line each.
void print_usage(const std::vector<std::unique_ptr<ServerProcess>>& servers, const std::vector<ProcUsage>& before,
                 double seconds) {
  for (std::size_t r = 0; r < servers.size(); ++r) {
    const auto now = usage_of(servers[r]->pid());
    std::printf("  replica %zu (pid %d): CPU %.1f s (%.0f%% of one core), peak RSS %.1f MB\n", r,
                static_cast<int>(servers[r]->pid()), now.cpu_s - before[r].cpu_s,
                100 * (now.cpu_s - before[r].cpu_s) / std::max(seconds, 0.001), now.rss_peak_kb / 1024.0);
  }
}

std::vector<ProcUsage> usage_of(const std::vector<std::unique_ptr<ServerProcess>>& servers) {
  std::vector<ProcUsage> out;
  for (const auto& s : servers) out.push_back(usage_of(s->pid()));
  return out;
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(
      std::min<double>(static_cast<double>(v.size() - 1), p * static_cast<double>(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

void report(Run& run, double seconds, bool slowest) {
  std::printf("%-18s %8s %7s %9s %9s %9s %9s %8s\n", "request", "count", "errors", "p50 ms", "p95 ms", "p99 ms",
              "max ms", "MB/s");
  for (auto& [kind, s] : run.stats) {
    auto& v = s.ms;
    const double mx = v.empty() ? 0 : *std::max_element(v.begin(), v.end());
    std::printf("%-18s %8zu %7llu %9.1f %9.1f %9.1f %9.1f %8.2f\n", kind.c_str(), v.size(),
                static_cast<unsigned long long>(s.errors), pct(v, 0.50), pct(v, 0.95), pct(v, 0.99), mx,
                static_cast<double>(s.bytes) / 1e6 / std::max(seconds, 0.001));
  }
  for (const auto& [kind, n] : run.error_kinds)
    std::printf("  error x%llu: %s\n", static_cast<unsigned long long>(n), kind.c_str());
  if (slowest) {
    // When the worst requests were sent shows whether they cluster (e.g. at
    // the slow clients' header timeouts) or are spread out.
    for (const auto& [kind, s] : run.stats) {
      if (s.slowest.empty() || kind.rfind("slow.", 0) == 0) continue;
      std::printf("  slowest %-16s", kind.c_str());
      for (const auto& [ms, at] : s.slowest) std::printf(" %.1f ms @%.2fs", ms, at);
      std::printf("\n");
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"fleet_bench: simulated agents, auditors, slow clients and upload bursts against deskaudit-server"};
  int agents = 200, auditors = 5, slow = 0, burst = 0, duration_s = 60, heartbeat_s = 15, upload_s = 60,
      http_threads = 32, replicas = 1;
  cli.add_option("--agents", agents, "keep-alive agents (enroll, heartbeat, upload, finish)")
      ->check(CLI::Range(0, 20000));
  cli.add_option("--auditors", auditors, "auditors listing, opening and playing recordings")->check(CLI::Range(0, 100));
  cli.add_option("--slow", slow, "slow clients that dribble request headers")->check(CLI::Range(0, 20000));
  cli.add_option("--burst", burst, "then N agents upload one segment each at the same moment")
      ->check(CLI::Range(0, 5000));
  cli.add_option("--duration", duration_s, "seconds of steady load")->check(CLI::Range(1, 3600));
  cli.add_option("--heartbeat", heartbeat_s, "seconds between an agent's heartbeats (the agent's is 15)")
      ->check(CLI::Range(1, 600));
  cli.add_option("--upload-interval", upload_s, "seconds between an agent's segment uploads (the agent's is 60)")
      ->check(CLI::Range(1, 3600));
  cli.add_option("--http-threads", http_threads, "the server's http_threads (worker pool)")->check(CLI::Range(2, 4096));
  cli.add_option("--replicas", replicas,
                 "1: one server on the embedded defaults (SQLite + local directory); 2: two replicas on one "
                 "PostgreSQL catalog and one S3 bucket (needs DESKAUDIT_TEST_POSTGRES_URL and "
                 "DESKAUDIT_TEST_S3_ENDPOINT), clients spread over both")
      ->check(CLI::Range(1, 2));
  std::string segment_file, segment_size = "320x240";
  int segment_seconds = 9;
  cli.add_option("--segment", segment_file, "upload this recorded segment file instead of a generated one");
  cli.add_option("--segment-size", segment_size, "generated segment: WxH of the test pattern");
  cli.add_option("--segment-seconds", segment_seconds, "generated segment: seconds of video (9 at 320x240 is ~300 KB)")
      ->check(CLI::Range(1, 600));
  bool show_slowest = false;
  cli.add_flag("--slowest", show_slowest, "also print the 5 slowest requests of each type and when they were sent");
  CLI11_PARSE(cli, argc, argv);

  if (rlimit lim{}; ::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < static_cast<rlim_t>(agents + slow + burst + auditors + 256)) {
      std::fprintf(stderr, "fleet_bench: the open-files limit (%llu) is too low; run it through run.sh\n",
                   static_cast<unsigned long long>(lim.rlim_cur));
      return 2;
    }
  }
  TempDir dir("fleet");
  std::unique_ptr<ScratchSchema> schema;
  std::vector<std::unique_ptr<ServerProcess>> servers;
  std::string catalog_desc = "SQLite + local directory";
  if (replicas == 1) {
    std::ofstream(dir.path() / "server.toml") << "http_threads = " << http_threads << "\n";
    ServerOptions opt(dir.path() / "data");
    opt.args = {"--config", (dir.path() / "server.toml").string()};
    servers.push_back(std::make_unique<ServerProcess>(opt));
  } else {
    const auto pg = service_env("DESKAUDIT_TEST_POSTGRES_URL");
    const auto s3 = service_env("DESKAUDIT_TEST_S3_ENDPOINT");
    if (!pg || !s3) {
      std::fprintf(stderr,
                   "fleet_bench: --replicas 2 needs DESKAUDIT_TEST_POSTGRES_URL and DESKAUDIT_TEST_S3_ENDPOINT "
                   "(scripts/pg-test-server start, scripts/s3-test-server start)\n");
      return 2;
    }
    // A schema and a bucket prefix of this run's own, as the two-replica test does.
    schema = std::make_unique<ScratchSchema>(*pg, "fleet_bench");
    const std::string prefix = unique_name("fleet");
    catalog_desc = "PostgreSQL " + *pg + " + s3://deskaudit-test/" + prefix + " at " + *s3;
    for (int r = 0; r < replicas; ++r) {
      const std::string name = "replica-" + std::to_string(r);
      const auto config = dir.path() / (name + ".toml");
      std::ofstream(config) << "replica_id = \"" << name << "\"\nhttp_threads = " << http_threads << "\n";
      ServerOptions o(dir.path() / name);
      o.args = {"--config", config.string(), "--catalog", schema->url(), "--store", "s3://deskaudit-test/" + prefix};
      o.env = {{"DESKAUDIT_S3_ENDPOINT", *s3},
               {"DESKAUDIT_S3_PATH_STYLE", "true"},
               {"AWS_ACCESS_KEY_ID", "S3RVER"},
               {"AWS_SECRET_ACCESS_KEY", "S3RVER"}};
      servers.push_back(std::make_unique<ServerProcess>(std::move(o)));
    }
  }
  const std::string token = admin_token(servers[0]->url());
  Api admin(servers[0]->url(), token);
  auto tok = admin.post("/api/v1/enrollment-tokens", Json::object());
  if (tok.status != 201) {
    std::fprintf(stderr, "enrollment token: %s\n", tok.body.c_str());
    return 1;
  }
  // A real agent segment (fragmented MP4, one fragment per second): recorded,
  // or made from ffmpeg's test pattern, which compresses worse than a
  // desktop, hence fewer seconds for the same ~300 KB.
  std::string segment;
  if (!segment_file.empty()) {
    std::ifstream in(segment_file, std::ios::binary);
    segment.assign(std::istreambuf_iterator<char>(in), {});
    if (segment.empty()) {
      std::fprintf(stderr, "cannot read %s\n", segment_file.c_str());
      return 2;
    }
  } else {
    segment = make_segments(1, segment_seconds, 5, segment_size).front();
  }
  Shared sh;
  for (const auto& s : servers)
    sh.eps.emplace_back(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(s->port()));
  sh.enroll_token = tok.json["token"].get<std::string>();
  sh.admin_token = token;
  sh.segment = &segment;
  sh.segment_sha = sha256_of(segment);
  sh.heartbeat = std::chrono::seconds(heartbeat_s);
  sh.upload_interval = std::chrono::seconds(upload_s);
  std::printf(
      "%d replica(s) on %s, http_threads %d; segment %zu bytes; %d agents, %d auditors, %d slow clients, %d s, "
      "heartbeat %d s, upload every %d s; load average %s\n",
      replicas, catalog_desc.c_str(), http_threads, segment.size(), agents, auditors, slow, duration_s, heartbeat_s,
      upload_s, load_average().c_str());
  std::fflush(stdout);

  asio::io_context ioc(1);
  const auto before = usage_of(servers);
  Run run;
  run.end = Clock::now() + std::chrono::hours(1);  // set when the steady phase starts
  std::vector<ProcUsage> steady_before = before;
  ProcUsage client_before = usage_of(::getpid());
  // Slow clients hold their connections open first; agents and auditors
  // start, and the clock with them, once all are connected (or after 60 s).
  const auto ramp0 = Clock::now();
  for (int i = 0; i < slow; ++i) asio::co_spawn(ioc, slow_client(run, sh.ep(i), i), asio::detached);
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<void> {
        while (run.slow_connected < slow && Clock::now() - ramp0 < std::chrono::seconds(60))
          co_await sleep_for(std::chrono::milliseconds(10));
        if (slow > 0) {
          std::printf("%d of %d slow clients connected after %.2f s; load average %s\n", run.slow_connected, slow,
                      std::chrono::duration<double>(Clock::now() - ramp0).count(), load_average().c_str());
          std::fflush(stdout);
        }
        steady_before = usage_of(servers);
        client_before = usage_of(::getpid());
        run.start = Clock::now();
        run.end = run.start + std::chrono::seconds(duration_s);
        std::mt19937 seeds(42);
        for (int i = 0; i < agents; ++i) asio::co_spawn(ioc, agent_loop(run, sh, i, seeds()), asio::detached);
        for (int i = 0; i < auditors; ++i) asio::co_spawn(ioc, auditor_loop(run, sh, i, seeds()), asio::detached);
      },
      asio::detached);
  if (agents + auditors + slow > 0) ioc.run();
  const double steady_s = std::chrono::duration<double>(Clock::now() - run.start).count();
  if (agents + auditors + slow > 0) {
    std::printf("\nsteady load: %.1f s; load average after %s\n", steady_s, load_average().c_str());
    print_usage(servers, steady_before, steady_s);
    // The client shares the cores: its own CPU shows how much it took from the servers.
    const auto client = usage_of(::getpid());
    std::printf("  fleet_bench client: CPU %.1f s (%.0f%% of one core)\n", client.cpu_s - client_before.cpu_s,
                100 * (client.cpu_s - client_before.cpu_s) / std::max(steady_s, 0.001));
    report(run, steady_s, show_slowest);
  }

  if (burst > 0) {
    // Prepared first (enrolled, recording open, connection up), then all at once.
    Run b;
    b.end = Clock::now() + std::chrono::hours(1);
    std::vector<Agent> fleet(static_cast<std::size_t>(burst));
    std::vector<std::unique_ptr<Conn>> conns;
    for (int i = 0; i < burst; ++i) conns.push_back(std::make_unique<Conn>(ioc, sh.ep(i)));
    ioc.restart();
    for (int i = 0; i < burst; ++i) {
      asio::co_spawn(
          ioc,
          [&, i]() -> awaitable<void> {
            co_await enroll(b, *conns[static_cast<std::size_t>(i)], sh, 100000 + i, fleet[static_cast<std::size_t>(i)]);
          },
          asio::detached);
    }
    ioc.run();
    ioc.restart();
    const auto cpu0 = usage_of(servers);
    const auto start = Clock::now();
    double last_ms = 0;
    for (int i = 0; i < burst; ++i) {
      asio::co_spawn(
          ioc,
          [&, i]() -> awaitable<void> {
            auto& a = fleet[static_cast<std::size_t>(i)];
            if (a.recording.empty()) co_return;
            co_await upload(b, *conns[static_cast<std::size_t>(i)], sh, a, 0, "burst.upload");
            last_ms = std::max(last_ms, std::chrono::duration<double, std::milli>(Clock::now() - start).count());
          },
          asio::detached);
    }
    ioc.run();
    const double burst_s = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("\nburst: %d simultaneous uploads of %zu bytes; the last completed after %.2f s; load average %s\n",
                burst, segment.size(), last_ms / 1000, load_average().c_str());
    print_usage(servers, cpu0, burst_s);
    b.stats.erase("enroll");
    b.stats.erase("recording.create");
    report(b, burst_s, show_slowest);
  }
  return 0;
}
