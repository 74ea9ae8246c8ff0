// Ingest benchmark: N simulated agents upload M real fMP4 segments each,
// concurrently (one thread and one HttpClient per agent), to
//   - one replica on the embedded defaults (SQLite + local directory),
//   - two replicas on PostgreSQL + S3 (s3rver), agents alternating,
// and, for comparison, the object store alone with the same bytes and the
// same concurrency (direct PUTs to the bucket / writes to a local
// directory). Prints a table; asserts nothing. See README.md.
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "client/http.hpp"
#include "common/crypto.hpp"
#include "s3_test_target.hpp"
#include "sample_media.hpp"
#include "scratch_schema.hpp"
#include "server_process.hpp"
#include "storage/encrypted_store.hpp"
#include "storage/object_store.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;
using Clock = std::chrono::steady_clock;

namespace {

struct ProcStats {
  double cpu_seconds = 0;
  long peak_rss_kib = 0;
};

ProcStats proc_stats(pid_t pid) {
  ProcStats out;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  // Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
  const auto close = text.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(text.substr(close + 2));
    std::string field;
    long long utime = 0, stime = 0;
    for (int i = 1; i <= 13 && rest >> field; ++i) {
      if (i == 12) utime = std::stoll(field);
      if (i == 13) stime = std::stoll(field);
    }
    out.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmHWM:")) out.peak_rss_kib = std::stol(line.substr(6));
  }
  return out;
}

struct Figures {
  std::string setup;
  int agents = 0;
  int per_agent = 0;
  std::int64_t requests = 0;
  std::int64_t errors = 0;
  double bytes = 0;
  double seconds = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double cpu_seconds = -1;  // server(s), or the writing threads of the local store alone; -1 = not measured
  long peak_rss_kib = -1;
  double client_cpu_seconds = -1;  // the bench's sending threads during a server run; -1 = not measured
  std::string first_error;
};

// Runs `agents` threads that each call op(agent, i) per_agent times after a
// common start signal; op returns an error text or "" and adds its bytes.
template <class Op>
Figures drive(int agents, int per_agent, const Op& op) {
  Figures f;
  f.agents = agents;
  f.per_agent = per_agent;
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(agents));
  std::atomic<std::int64_t> errors{0};
  std::atomic<double> bytes{0};
  std::mutex error_mu;
  std::atomic<bool> go{false};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(agents));
  for (int a = 0; a < agents; ++a) {
    threads.emplace_back([&, a] {
      auto state = op.prepare(a);
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      auto& lat = latencies[static_cast<std::size_t>(a)];
      for (int i = 0; i < per_agent; ++i) {
        const auto t0 = Clock::now();
        std::size_t sent = 0;
        const std::string err = op.run(state, a, i, sent);
        lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (err.empty()) {
          bytes.fetch_add(static_cast<double>(sent));
        } else {
          errors.fetch_add(1);
          std::lock_guard lock(error_mu);
          if (f.first_error.empty()) f.first_error = err;
        }
      }
    });
  }
  while (ready.load() < agents) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto t0 = Clock::now();
  go.store(true);
  for (auto& t : threads) t.join();
  f.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  f.requests = static_cast<std::int64_t>(all.size());
  f.errors = errors.load();
  f.bytes = bytes.load();
  if (!all.empty()) {
    f.p50_ms = all[all.size() / 2];
    f.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  return f;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// CPU seconds per GiB of segment body: on a shared machine the figure that
// says what the server itself costs (wall-clock MB/s mostly measures how
// busy the other processes keep the cores).
double per_gib(double cpu_seconds, double bytes) { return bytes > 0 ? cpu_seconds / (bytes / 1073741824.0) : 0; }
double cpu_per_gib(const Figures& f) { return per_gib(f.cpu_seconds, f.bytes); }

// Every server/store ratio of MB/s, per pair of setups, over the rounds.
std::map<std::string, std::vector<double>> g_ratios;

// The server against the store alone with the same bytes and concurrency.
void compare(const Figures& server, const Figures& store) {
  if (server.seconds <= 0 || store.seconds <= 0 || server.bytes <= 0 || store.bytes <= 0) return;
  const double ratio = (server.bytes / server.seconds) / (store.bytes / store.seconds);
  g_ratios[server.setup + " vs " + store.setup].push_back(ratio);
  std::printf("  %s vs %s: %.0f %% of its MB/s", server.setup.c_str(), store.setup.c_str(), 100 * ratio);
  if (server.cpu_seconds >= 0 && store.cpu_seconds >= 0) {
    std::printf("; CPU s/GiB %.2f vs %.2f", cpu_per_gib(server), cpu_per_gib(store));
  }
  if (server.client_cpu_seconds >= 0) {
    std::printf("; the sending client's CPU s/GiB %.2f", per_gib(server.client_cpu_seconds, server.bytes));
  }
  std::printf("; load average %s\n", load_average().c_str());
  std::fflush(stdout);
}

// After several rounds: each pair's ratios, their median, least and most.
void summarise_ratios() {
  for (auto& [pair, ratios] : g_ratios) {
    if (ratios.size() < 2) continue;
    std::vector<double> sorted = ratios;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t n = sorted.size();
    const double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    std::printf("%s over %zu rounds: median %.0f %% of its MB/s (least %.0f %%, most %.0f %%; in order:", pair.c_str(),
                n, 100 * median, 100 * sorted.front(), 100 * sorted.back());
    for (double r : ratios) std::printf(" %.0f", 100 * r);
    std::printf(")\n");
  }
  std::fflush(stdout);
}

// Encryption at rest against the same server without it (issue 14's
// target: under 10 % more server CPU per GiB).
void compare_encrypted(const Figures& plain, const Figures& encrypted) {
  if (plain.seconds <= 0 || encrypted.seconds <= 0 || plain.bytes <= 0 || encrypted.bytes <= 0) return;
  std::printf("  encryption at rest: %.1f vs %.1f MB/s (%.0f %%); server CPU s/GiB %.2f plain vs %.2f encrypted: "
              "%+.1f %% CPU; load average %s\n",
              plain.bytes / 1e6 / plain.seconds, encrypted.bytes / 1e6 / encrypted.seconds,
              100 * (encrypted.bytes / encrypted.seconds) / (plain.bytes / plain.seconds), cpu_per_gib(plain),
              cpu_per_gib(encrypted), 100 * (cpu_per_gib(encrypted) / cpu_per_gib(plain) - 1), load_average().c_str());
  std::fflush(stdout);
}

void print_header() {
  std::printf("%-26s %6s %4s %7s %6s %9s %8s %9s %9s %9s %9s %9s  %s\n", "setup", "agents", "M", "PUTs", "errors",
              "MB/s", "req/s", "p50 ms", "p99 ms", "CPU s", "CPU s/GiB", "peak RSS", "load avg after");
}

void print(const Figures& f) {
  const double mb = f.bytes / 1e6;
  std::printf("%-26s %6d %4d %7lld %6lld %9.1f %8.1f %9.1f %9.1f ", f.setup.c_str(), f.agents, f.per_agent,
              static_cast<long long>(f.requests), static_cast<long long>(f.errors), mb / f.seconds,
              static_cast<double>(f.requests) / f.seconds, f.p50_ms, f.p99_ms);
  if (f.cpu_seconds >= 0) {
    std::printf("%9.1f %9.2f ", f.cpu_seconds, cpu_per_gib(f));
  } else {
    std::printf("%9s %9s ", "-", "-");
  }
  if (f.peak_rss_kib >= 0) {
    std::printf("%5ld MiB", f.peak_rss_kib / 1024);
  } else {
    std::printf("%9s", "-");
  }
  std::printf("  %s\n", load_average().c_str());
  if (!f.first_error.empty()) std::printf("    first error: %s\n", f.first_error.c_str());
  std::fflush(stdout);
}

struct Agent {
  std::string base;
  std::string token;
  std::string recording;
  std::unique_ptr<client::HttpClient> http;
};

// Enrolls `agents` agents (one enrollment token with max_uses) and opens a
// recording for each, spread over `bases` round robin. Not timed.
std::vector<Agent> enroll_all(const std::vector<std::string>& bases, int agents) {
  Api admin(bases[0], admin_token(bases[0]));
  auto pol =
      admin.post("/api/v1/policies", {{"name", "bench"}, {"recording", {{"mode", "session"}, {"retention_days", 30}}}});
  auto pool = admin.post("/api/v1/pools", {{"name", "bench"}});
  if (pol.status != 201 || pool.status != 201) throw std::runtime_error("bench setup: " + pol.body + pool.body);
  const auto pool_id = pool.json["id"].get<std::string>();
  admin.put("/api/v1/policies/" + pol.json["id"].get<std::string>() + "/assignments/pools/" + pool_id);
  auto tok = admin.post("/api/v1/enrollment-tokens", {{"pool_id", pool_id}, {"max_uses", agents}});
  if (tok.status != 201) throw std::runtime_error("enrollment token: " + tok.body);
  const auto enrollment = tok.json["token"].get<std::string>();
  std::vector<Agent> out(static_cast<std::size_t>(agents));
  std::atomic<int> next{0};
  std::vector<std::thread> workers;
  std::mutex mu;
  std::string failure;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&] {
      for (int i = next++; i < agents; i = next++) {
        auto& a = out[static_cast<std::size_t>(i)];
        a.base = bases[static_cast<std::size_t>(i) % bases.size()];
        Api anon(a.base);
        auto e = anon.post("/api/v1/agent/enroll", {{"enrollment_token", enrollment},
                                                    {"hostname", "bench-" + std::to_string(i)},
                                                    {"os", "Debian GNU/Linux 12 (Linux)"},
                                                    {"agent_version", "0.1.0"}});
        if (e.status != 201) {
          std::lock_guard lock(mu);
          failure = "enroll: " + e.body;
          return;
        }
        a.token = e.json["agent_token"].get<std::string>();
        Api agent(a.base, a.token);
        auto rec = agent.post("/api/v1/agent/recordings",
                              {{"username", "u" + std::to_string(i)}, {"start_time", "2026-11-27T09:00:00Z"}});
        if (rec.status != 201) {
          std::lock_guard lock(mu);
          failure = "recording: " + rec.body;
          return;
        }
        a.recording = rec.json["id"].get<std::string>();
      }
    });
  }
  for (auto& w : workers) w.join();
  if (!failure.empty()) throw std::runtime_error(failure);
  return out;
}

// One PUT of a segment, streamed from its file as the agent streams it from
// its spool (client::FileBody): the client pays no copy of the body.
struct UploadOp {
  std::vector<Agent>* agents;
  const std::vector<std::filesystem::path>* files;
  const std::vector<std::string>* shas;
  client::HttpClient* prepare(int a) const {
    auto& ag = (*agents)[static_cast<std::size_t>(a)];
    ag.http = std::make_unique<client::HttpClient>();
    return ag.http.get();
  }
  std::string run(client::HttpClient* http, int a, int i, std::size_t& sent) const {
    const auto& ag = (*agents)[static_cast<std::size_t>(a)];
    const auto k = static_cast<std::size_t>(i) % files->size();
    const auto size = std::filesystem::file_size((*files)[k]);
    client::HttpRequest req;
    req.method = "PUT";
    req.url = ag.base + "/api/v1/agent/recordings/" + ag.recording + "/segments/" + std::to_string(i);
    req.headers = {
        {"Authorization", "Bearer " + ag.token}, {"Content-Type", "video/mp4"}, {"X-Content-SHA256", (*shas)[k]}};
    req.file = client::FileBody{(*files)[k], 0, size};
    req.timeout_ms = 300000;
    req.connect_timeout_ms = 60000;
    auto r = http->send(req);
    if (!r) return r.error().message;
    if (r->status != 201) return "HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 200);
    sent = static_cast<std::size_t>(size);
    return {};
  }
};

struct StoreOp {
  storage::ObjectStore* store;
  std::string run_id;
  const std::vector<std::string>* segs;
  int prepare(int) const { return 0; }
  std::string run(int, int a, int i, std::size_t& sent) const {
    const auto& body = (*segs)[static_cast<std::size_t>(i) % segs->size()];
    auto st = store->put_bytes("bench/" + run_id + "/" + std::to_string(a) + "/" + std::to_string(i) + ".mp4",
                               std::as_bytes(std::span(body.data(), body.size())));
    if (!st) return st.error().message;
    sent = body.size();
    return {};
  }
};

Figures server_run(const std::string& name, const std::vector<ServerProcess*>& servers, int agents, int per_agent,
                   const std::vector<std::filesystem::path>& files, const std::vector<std::string>& shas) {
  std::vector<std::string> bases;
  for (auto* s : servers) bases.push_back(s->url());
  auto enrolled = enroll_all(bases, agents);
  std::vector<ProcStats> before;
  for (auto* s : servers) before.push_back(proc_stats(s->pid()));
  const auto client_before = proc_stats(::getpid());
  Figures f = drive(agents, per_agent, UploadOp{&enrolled, &files, &shas});
  f.client_cpu_seconds = proc_stats(::getpid()).cpu_seconds - client_before.cpu_seconds;
  f.setup = name;
  f.cpu_seconds = 0;
  f.peak_rss_kib = 0;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const auto after = proc_stats(servers[i]->pid());
    f.cpu_seconds += after.cpu_seconds - before[i].cpu_seconds;
    f.peak_rss_kib = std::max(f.peak_rss_kib, after.peak_rss_kib);
  }
  return f;
}

// An S3 test server (s3_test_target.hpp) as this bench names it: its setups
// are KEY-server and KEY-alone, its label is in the printed setup names.
std::string setup_key(S3Server s) { return s == S3Server::rgw ? "rgw" : "s3"; }
std::string label(S3Server s) { return s == S3Server::rgw ? "Ceph RGW" : "s3rver"; }

storage::S3Options s3_options(const S3TestTarget& t) {
  storage::S3Options opt;
  opt.endpoint = t.endpoint;
  opt.access_key_id = t.access_key;
  opt.secret_access_key = t.secret_key;
  return opt;
}

// Deletes what a run wrote under s3://bucket/prefix: Ceph RGW keeps objects
// in RAM (scripts/rgw-test-server: a 2 GiB store), so rounds
// must not pile up. Failures are printed, not fatal.
void remove_all(const S3TestTarget& t, const std::string& prefix) {
  auto store = storage::make_object_store("s3://" + t.bucket + "/" + prefix, s3_options(t));
  if (!store) {
    std::printf("    cleanup of %s: %s\n", prefix.c_str(), store.error().message.c_str());
    return;
  }
  auto objects = (*store)->list("");
  if (!objects) {
    std::printf("    cleanup of %s: %s\n", prefix.c_str(), objects.error().message.c_str());
    return;
  }
  for (const auto& o : *objects) {
    if (auto st = (*store)->remove(o.key); !st) {
      std::printf("    cleanup of %s: %s\n", o.key.c_str(), st.error().message.c_str());
      return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> agent_counts = {50, 200, 1000};
  std::vector<int> per_agent = {4, 1, 1};
  int seg_count = 4;
  std::string size = "1280x720";
  int seconds = 5;
  double segment_mib = 0;
  int s3_replicas = 2;
  int rounds = 1;
  std::vector<std::string> only;
  CLI::App app{"ingest_bench: concurrent segment uploads to deskaudit-server (see bench/ingest/README.md)"};
  app.add_option("--agents", agent_counts, "agent counts, e.g. 50 200 1000");
  app.add_option("--segments-per-agent", per_agent, "M for each agent count (same length as --agents)");
  app.add_option("--video-size", size, "test video size for the sample segments")->capture_default_str();
  app.add_option("--video-seconds", seconds, "seconds of video cut into 4 segments")->capture_default_str();
  app.add_option("--segment-mib", segment_mib,
                 "grow each segment to this many MiB with 'free' boxes between fragments (0: as encoded)")
      ->check(CLI::Range(0.0, 39.0));
  app.add_option("--s3-replicas", s3_replicas, "server replicas on PostgreSQL + S3 (agents alternate)")
      ->check(CLI::Range(1, 2))
      ->capture_default_str();
  app.add_option("--rounds", rounds,
                 "run the setups this many times, alternating, then print each server/store ratio's median")
      ->check(CLI::Range(1, 20))
      ->capture_default_str();
  app.add_option("--only", only,
                 "run only these setups: embedded embedded-encrypted local s3-server s3-alone rgw-server rgw-alone "
                 "(default: all whose services are configured, but the rgw ones only when named: the test RGW keeps "
                 "objects in RAM)")
      ->check(CLI::IsMember(
          {"embedded", "embedded-encrypted", "local", "s3-server", "s3-alone", "rgw-server", "rgw-alone"}));
  CLI11_PARSE(app, argc, argv);
  if (per_agent.size() != agent_counts.size()) {
    std::fprintf(stderr, "ingest_bench: --segments-per-agent needs one value per --agents value\n");
    return 2;
  }
  auto named = [&](const std::string& setup) { return std::ranges::find(only, setup) != only.end(); };
  auto wanted = [&](const std::string& setup) { return only.empty() || named(setup); };
  // Ceph RGW (scripts/rgw-test-server) keeps objects in RAM, in a 2 GiB
  // store: its setups run only when named (README.md: sizes).
  auto wanted_on = [&](S3Server server, const char* what) {
    const std::string setup = setup_key(server) + what;
    return server == S3Server::rgw ? named(setup) : wanted(setup);
  };
  const char* pg = std::getenv("DESKAUDIT_TEST_POSTGRES_URL");
  const bool have_pg = pg != nullptr && *pg != '\0';
  std::vector<S3TestTarget> targets;
  for (S3Server server : {S3Server::s3rver, S3Server::rgw}) {
    if (auto t = s3_test_target(server)) {
      targets.push_back(*t);
    } else if (!only.empty() && (wanted_on(server, "-server") || wanted_on(server, "-alone"))) {
      std::fprintf(stderr, "ingest_bench: --only %s-... needs %s (run: %s)\n", setup_key(server).c_str(),
                   s3_endpoint_variable(server), s3_start_command(server));
      return 2;
    }
  }
  if (!have_pg) std::printf("DESKAUDIT_TEST_POSTGRES_URL unset: no server-on-S3 runs\n");
  if (targets.empty()) std::printf("DESKAUDIT_TEST_S3_ENDPOINT / DESKAUDIT_TEST_RGW_ENDPOINT unset: no S3 runs\n");

  auto segs = make_segments(seg_count, seconds, 25, size);
  if (segment_mib > 0) {
    for (std::size_t k = 0; k < segs.size(); ++k)
      segs[k] = pad_segment(segs[k], static_cast<std::uint64_t>(segment_mib * 1048576.0), 0x9e3779b97f4a7c15ull + k);
  }
  // The agents upload from files (in the page cache after this, as an agent's
  // just-written segment is); the stores alone write from memory.
  TempDir seg_dir("bench-segments");
  std::vector<std::filesystem::path> files;
  std::vector<std::string> shas;
  double avg = 0;
  for (std::size_t k = 0; k < segs.size(); ++k) {
    files.push_back(seg_dir.path() / ("segment-" + std::to_string(k) + ".mp4"));
    std::ofstream out(files.back(), std::ios::binary);
    out.write(segs[k].data(), static_cast<std::streamsize>(segs[k].size()));
    if (!out.flush()) throw std::runtime_error("cannot write " + files.back().string());
    shas.push_back(sha256_of(segs[k]));
    avg += static_cast<double>(segs[k].size()) / static_cast<double>(segs.size());
  }
  std::printf("segments: %zu real fMP4 files of %s%s, average %.2f MiB; %u cores; load average %s\n", segs.size(),
              size.c_str(), segment_mib > 0 ? " grown with 'free' boxes" : "", avg / 1048576.0,
              std::thread::hardware_concurrency(), load_average().c_str());
  print_header();
  for (int round = 1; round <= rounds; ++round) {
    if (rounds > 1) std::printf("round %d of %d\n", round, rounds);
    for (std::size_t r = 0; r < agent_counts.size(); ++r) {
      const int n = agent_counts[r];
      const int m = per_agent[r];
      std::optional<Figures> embedded;
      if (wanted("embedded")) {
        TempDir dir("bench-embedded");
        ServerProcess one(ServerOptions(dir.path() / "data"));
        embedded = server_run("server, embedded (1)", {&one}, n, m, files, shas);
        print(*embedded);
      }
      if (wanted("embedded-encrypted")) {
        // The same with encryption at rest (docs/encryption.md): compare CPU s/GiB.
        TempDir dir("bench-encrypted");
        ServerOptions o(dir.path() / "data");
        o.env["DESKAUDIT_ENCRYPTION_KEY"] = storage::LocalMasterKeys::generate_line();
        ServerProcess one(std::move(o));
        const auto encrypted = server_run("server, embedded, encrypted", {&one}, n, m, files, shas);
        print(encrypted);
        if (embedded) compare_encrypted(*embedded, encrypted);
      }
      if (wanted("local")) {
        TempDir dir("bench-local");
        auto store = storage::make_object_store("file://" + (dir.path() / "objects").string());
        if (!store) throw std::runtime_error(store.error().message);
        // This process's CPU is the writing threads' (the segments are made already).
        const auto before = proc_stats(::getpid());
        auto f = drive(n, m, StoreOp{store->get(), "local", &segs});
        f.cpu_seconds = proc_stats(::getpid()).cpu_seconds - before.cpu_seconds;
        f.setup = "local dir alone";
        print(f);
        if (embedded) compare(*embedded, f);
      }
      for (const auto& target : targets) {
        std::optional<Figures> on_s3;
        if (have_pg && wanted_on(target.server, "-server")) {
          TempDir dir("bench-scale");
          // A schema of its own per run: the catalog starts empty.
          const std::string prefix = unique_name("bench-" + std::to_string(n));
          ScratchSchema schema(pg, "ingest_bench");
          std::map<std::string, std::string> env = {{"DESKAUDIT_S3_ENDPOINT", target.endpoint},
                                                    {"DESKAUDIT_S3_PATH_STYLE", "true"},
                                                    {"AWS_ACCESS_KEY_ID", target.access_key},
                                                    {"AWS_SECRET_ACCESS_KEY", target.secret_key}};
          std::vector<std::unique_ptr<ServerProcess>> replicas;
          std::vector<ServerProcess*> raw;
          for (int i = 0; i < s3_replicas; ++i) {
            ServerOptions o(dir.path() / ("r" + std::to_string(i)));
            o.args = {"--catalog", schema.url(), "--store", "s3://" + target.bucket + "/" + prefix};
            o.env = env;
            replicas.push_back(std::make_unique<ServerProcess>(std::move(o)));
            raw.push_back(replicas.back().get());
          }
          on_s3 = server_run("server, PG + " + label(target.server) + " (" + std::to_string(s3_replicas) + ")", raw, n,
                             m, files, shas);
          print(*on_s3);
          replicas.clear();
          remove_all(target, prefix);
        }
        if (wanted_on(target.server, "-alone")) {
          const std::string prefix = unique_name("bench-" + std::to_string(n)) + "-alone";
          auto store = storage::make_object_store("s3://" + target.bucket + "/" + prefix, s3_options(target));
          if (!store) throw std::runtime_error(store.error().message);
          auto f = drive(n, m, StoreOp{store->get(), setup_key(target.server), &segs});
          f.setup = label(target.server) + " alone";
          print(f);
          if (on_s3) compare(*on_s3, f);
          remove_all(target, prefix);
        }
      }
    }
  }
  summarise_ratios();
  return 0;
}
