#include "server_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "common/crypto.hpp"

namespace deskaudit::testing {

TempDir::TempDir(const std::string& tag) {
  path_ = std::filesystem::temp_directory_path() / ("deskaudit-" + tag + "-" + random_id(""));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ServerProcess::ServerProcess(ServerOptions options) : options_(std::move(options)) {
  port_ = options_.port;
  launch();
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) stop(SIGTERM);
}

void ServerProcess::launch() {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> args = {DESKAUDIT_SERVER_BIN, "--listen", "127.0.0.1:" + std::to_string(port_),
                                   "--data-dir", options_.data_dir.string(), "--log-level", "warn"};
  args.insert(args.end(), options_.args.begin(), options_.args.end());
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::setenv("DESKAUDIT_ADMIN_PASSWORD", kAdminPassword, 1);
    for (const auto& [k, v] : options_.env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::perror("execv deskaudit-server");
    ::_exit(127);
  }
  ::close(out[1]);
  // Read stdout until the console line names the port (or the process dies).
  std::string text;
  char buf[512];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (text.find("deskaudit console: ") == std::string::npos || text.find('\n', text.find("deskaudit console: ")) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::close(out[0]);
      throw std::runtime_error("deskaudit-server did not start within 60 s");
    }
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) {
      ::close(out[0]);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      throw std::runtime_error("deskaudit-server exited during start: " + text);
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  // Keep draining stdout in the background so the server never blocks on it.
  const int fd = out[0];
  std::thread([fd] {
    char b[512];
    while (::read(fd, b, sizeof b) > 0) {
    }
    ::close(fd);
  }).detach();
  output_ = text;
  const auto at = text.find("deskaudit console: ") + std::strlen("deskaudit console: ");
  const auto line = text.substr(at, text.find('\n', at) - at);  // http://127.0.0.1:PORT/
  url_ = line.substr(0, line.size() - 1);
  port_ = std::stoi(url_.substr(url_.rfind(':') + 1));
}

int ServerProcess::stop(int sig) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

void ServerProcess::restart() {
  if (pid_ > 0) stop(SIGTERM);
  // The port may linger briefly in TIME_WAIT; the server sets SO_REUSEADDR.
  for (int attempt = 0;; ++attempt) {
    try {
      launch();
      return;
    } catch (const std::exception&) {
      if (attempt >= 20) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }
}

Api::Api(std::string base_url, std::string token) : base_(std::move(base_url)), token_(std::move(token)) {}

Reply Api::raw(const std::string& method, const std::string& path, const std::string& body,
               std::vector<std::pair<std::string, std::string>> headers) {
  client::HttpRequest req;
  req.method = method;
  req.url = base_ + path;
  req.body = body;
  req.headers = std::move(headers);
  req.timeout_ms = 120000;
  if (!token_.empty()) req.headers.emplace_back("Authorization", "Bearer " + token_);
  auto res = http_.send(req);
  if (!res) throw std::runtime_error(method + " " + path + ": " + res.error().message);
  Reply r;
  r.status = res->status;
  r.body = res->body;
  r.headers = res->headers;
  r.json = Json::parse(res->body, nullptr, false);
  return r;
}

Reply Api::get(const std::string& path) { return raw("GET", path, ""); }
Reply Api::del(const std::string& path) { return raw("DELETE", path, ""); }
Reply Api::post(const std::string& path, const Json& body) {
  return raw("POST", path, body.dump(), {{"Content-Type", "application/json"}});
}
Reply Api::patch(const std::string& path, const Json& body) {
  return raw("PATCH", path, body.dump(), {{"Content-Type", "application/json"}});
}
Reply Api::put(const std::string& path, const Json& body) {
  return raw("PUT", path, body.dump(), {{"Content-Type", "application/json"}});
}

CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), ::pclose);
  if (!pipe) return r;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe.get())) > 0) r.out.append(buf, n);
  const int status = ::pclose(pipe.release());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string admin_token(const std::string& base_url) {
  Api api(base_url);
  auto r = api.post("/api/v1/auth/login", {{"username", "admin"}, {"password", kAdminPassword}});
  if (r.status != 200) throw std::runtime_error("admin login failed: " + r.body);
  return r.json["token"].get<std::string>();
}

EnrolledAgent enroll_agent(Api& admin, const std::string& hostname, const std::string& pool_id) {
  Json body = Json::object();
  if (!pool_id.empty()) body["pool_id"] = pool_id;
  auto tok = admin.post("/api/v1/enrollment-tokens", body);
  if (tok.status != 201) throw std::runtime_error("enrollment token: " + tok.body);
  Api anon(admin.base());
  auto e = anon.post("/api/v1/agent/enroll", {{"enrollment_token", tok.json["token"]},
                                              {"hostname", hostname},
                                              {"os", "Debian GNU/Linux 12 (Linux)"},
                                              {"agent_version", "0.1.0"}});
  if (e.status != 201) throw std::runtime_error("enroll: " + e.body);
  return {e.json["computer_id"].get<std::string>(), e.json["agent_token"].get<std::string>()};
}

}  // namespace deskaudit::testing
