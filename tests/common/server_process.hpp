#pragma once
// Test helpers that run the real deskaudit-server binary on a free port with
// a temp data directory, and talk HTTP to it.
#include <sys/types.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/http.hpp"

namespace deskaudit::testing {

using Json = nlohmann::json;

inline constexpr const char* kAdminPassword = "test-secret-password-1";

// A unique empty directory under /tmp, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct ServerOptions {
  ServerOptions(std::filesystem::path dir) : data_dir(std::move(dir)) {}  // NOLINT: implicit on purpose
  std::filesystem::path data_dir;                 // required
  std::vector<std::string> args;                  // extra flags
  std::map<std::string, std::string> env;         // extra environment
  int port = 0;                                   // 0 = any free port
};

class ServerProcess {
 public:
  explicit ServerProcess(ServerOptions options);  // starts and waits for health; throws on failure
  ~ServerProcess();                               // SIGTERM and wait
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  const std::string& url() const { return url_; }  // http://127.0.0.1:PORT
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // Sends sig and waits; returns the exit status (as from waitpid).
  int stop(int sig = 15);
  // Starts again on the same port and data dir.
  void restart();
  const std::string& output() const { return output_; }  // stdout lines read at start

 private:
  void launch();
  ServerOptions options_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string url_;
  std::string output_;
};

struct Reply {
  long status = 0;
  Json json;
  std::string body;
  std::map<std::string, std::string> headers;
};

// A small HTTP client of the API for tests: JSON in, status + JSON out.
class Api {
 public:
  Api(std::string base_url, std::string token = {});
  Reply get(const std::string& path);
  Reply del(const std::string& path);
  Reply post(const std::string& path, const Json& body);
  Reply patch(const std::string& path, const Json& body);
  Reply put(const std::string& path, const Json& body = Json::object());
  // Raw request: any method, body and headers.
  Reply raw(const std::string& method, const std::string& path, const std::string& body,
            std::vector<std::pair<std::string, std::string>> headers = {});
  void set_token(std::string token) { token_ = std::move(token); }
  const std::string& token() const { return token_; }
  const std::string& base() const { return base_; }

 private:
  std::string base_;
  std::string token_;
  client::HttpClient http_;
};

// Signs in as admin (kAdminPassword) and returns the token.
// Runs cmd with /bin/sh and returns its exit code (-1 when it did not exit
// normally) and its standard output; add "2>&1" to cmd to capture errors too.
struct CommandResult {
  int exit_code = -1;
  std::string out;
};
CommandResult run_command(const std::string& cmd);

std::string admin_token(const std::string& base_url);

// Everything an agent needs for upload tests: a pool, a computer enrolled
// through an enrollment token, and a policy recording it.
struct EnrolledAgent {
  std::string computer_id;
  std::string agent_token;
};
EnrolledAgent enroll_agent(Api& admin, const std::string& hostname, const std::string& pool_id = {});

}  // namespace deskaudit::testing
