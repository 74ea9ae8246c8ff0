// The control socket (src/agent/control_socket.hpp) over its transport: a
// unix socket on Linux (agent_test), the named pipe on Windows (in
// agent_windows_test.exe under Wine). The cases are the same; the raw client,
// the access check and a stale socket file are the platform's.
#include "agent/control_socket.hpp"

#ifdef _WIN32
#include <windows.h>
// After windows.h, which they need.
#include <aclapi.h>
#include <sddl.h>

#include <cwctype>

#include "agent/windows/win_util.hpp"
#else
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#endif

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

using namespace deskaudit;
using namespace deskaudit::agent;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A raw client of the agent's socket or pipe.
class RawClient {
 public:
#ifdef _WIN32
  explicit RawClient(const fs::path& path, DWORD access = GENERIC_READ | GENERIC_WRITE) {
    const auto pipe = control_pipe_name(path);
    for (int i = 0; i < 100 && !h_; ++i) {
      HANDLE h = CreateFileW(pipe.c_str(), access, 0, nullptr, OPEN_EXISTING, 0, nullptr);
      if (h != INVALID_HANDLE_VALUE) {
        h_.reset(h);
      } else if (GetLastError() != ERROR_PIPE_BUSY) {
        break;
      } else {
        WaitNamedPipeW(pipe.c_str(), 1000);  // serving another client
      }
    }
    EXPECT_TRUE(h_) << windows::win_error("CreateFileW " + windows::narrow(pipe));
  }
  HANDLE handle() const { return h_.get(); }
  void send(const std::string& bytes) {
    DWORD n = 0;
    EXPECT_TRUE(WriteFile(h_.get(), bytes.data(), static_cast<DWORD>(bytes.size()), &n, nullptr));
  }
  std::string reply_line() {
    std::string reply;
    char buf[4096];
    DWORD n = 0;
    while (reply.find('\n') == std::string::npos && ReadFile(h_.get(), buf, sizeof buf, &n, nullptr) && n > 0)
      reply.append(buf, n);
    return reply;
  }

 private:
  windows::HandlePtr h_;
#else
  explicit RawClient(const fs::path& path) : fd_(::socket(AF_UNIX, SOCK_STREAM, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~RawClient() { ::close(fd_); }
  void send(const std::string& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::shutdown(fd_, SHUT_WR);
  }
  std::string reply_line() {
    std::string reply;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd_, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<std::size_t>(n));
    return reply;
  }

 private:
  int fd_;
#endif
};

// Only the agent's own account (and on Windows Administrators) may talk to it.
void expect_owner_only(const fs::path& path) {
#ifdef _WIN32
  RawClient c(path, READ_CONTROL | GENERIC_READ | GENERIC_WRITE);
  PSECURITY_DESCRIPTOR sd = nullptr;
  ASSERT_EQ(
      GetSecurityInfo(c.handle(), SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, nullptr, nullptr, nullptr, nullptr, &sd),
      ERROR_SUCCESS);
  wchar_t* text = nullptr;
  ASSERT_TRUE(ConvertSecurityDescriptorToStringSecurityDescriptorW(sd, SDDL_REVISION_1, DACL_SECURITY_INFORMATION,
                                                                   &text, nullptr));
  const std::string dacl = windows::narrow(text);
  LocalFree(text);
  LocalFree(sd);
  std::printf("pipe DACL: %s\n", dacl.c_str());
  EXPECT_EQ(dacl, "D:P(A;;FA;;;SY)(A;;FA;;;BA)");
#else
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
#endif
}

std::string unique_name() {
#ifdef _WIN32
  return std::to_string(GetCurrentProcessId()) + "-" + std::to_string(GetTickCount64());
#else
  return std::to_string(::getpid());
#endif
}

}  // namespace

class ControlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskaudit-ctl-" + unique_name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::permissions(dir_, fs::perms::owner_all);
    path_ = dir_ / "agent.sock";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<ControlServer> start_echo() {
    auto server = ControlServer::start(path_, [this](const json& req) {
      ++calls_;
      return json{{"ok", true}, {"echo", req}};
    });
    EXPECT_TRUE(server) << server.error().message;
    return server ? std::move(*server) : nullptr;
  }

  // Sends raw bytes and returns the reply line.
  std::string raw_exchange(const std::string& bytes) {
    RawClient c(path_);
    c.send(bytes);
    return c.reply_line();
  }

  fs::path dir_, path_;
  std::atomic<int> calls_{0};
};

TEST_F(ControlSocketTest, ConnectRoundTripAndOnlyTheOwnerMayTalk) {
  auto server = start_echo();
  ASSERT_TRUE(server);
  expect_owner_only(path_);
  auto reply = control_request(path_, {{"op", "connect"}, {"user", "alice"}});
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_TRUE((*reply)["ok"].get<bool>());
  EXPECT_EQ((*reply)["echo"]["user"], "alice");
  auto status = control_request(path_, {{"op", "status"}});
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["echo"]["op"], "status");
  EXPECT_EQ(calls_, 2);
}

TEST_F(ControlSocketTest, BadRequestsGetAClearErrorAndNeverReachTheHandler) {
  auto server = start_echo();
  ASSERT_TRUE(server);
  for (const auto& [request, needle] : std::vector<std::pair<json, std::string>>{
           {json{{"op", "connect"}}, "user"},
           {json{{"op", "connect"}, {"user", ""}}, "empty"},
           {json{{"op", "connect"}, {"user", std::string("a\nb")}}, "control character"},
           {json{{"op", "reboot"}}, "unknown op"},
           {json{{"user", "x"}}, "op"},
       }) {
    auto reply = control_request(path_, request);
    ASSERT_TRUE(reply) << reply.error().message;
    EXPECT_FALSE((*reply)["ok"].get<bool>()) << request.dump();
    EXPECT_NE((*reply)["error"].get<std::string>().find(needle), std::string::npos) << (*reply)["error"];
  }
  auto garbage = json::parse(raw_exchange("not json\n"));
  EXPECT_FALSE(garbage["ok"].get<bool>());
  auto huge = json::parse(raw_exchange(std::string(kMaxRequestBytes + 10, 'x')));
  EXPECT_FALSE(huge["ok"].get<bool>());
  EXPECT_NE(huge["error"].get<std::string>().find("longer than"), std::string::npos);
  EXPECT_EQ(calls_, 0);
}

TEST_F(ControlSocketTest, NoAgentIsAClearError) {
  auto reply = control_request(path_, {{"op", "disconnect"}});
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code, Errc::unavailable);
  EXPECT_NE(reply.error().message.find("no deskaudit agent is running"), std::string::npos);
}

TEST_F(ControlSocketTest, SecondAgentIsRefusedStaleSocketReplaced) {
  {
    auto first = start_echo();
    ASSERT_TRUE(first);
    auto second = ControlServer::start(path_, [](const json&) { return json{{"ok", true}}; });
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, Errc::conflict);
    // The refused start must not have taken the socket away.
    EXPECT_TRUE(control_request(path_, {{"op", "status"}}));
  }
  EXPECT_FALSE(control_request(path_, {{"op", "status"}}));  // gone with its server
#ifndef _WIN32
  EXPECT_FALSE(fs::exists(path_));  // removed on stop
  // A socket file left behind by a killed agent (nobody listening). A pipe
  // goes with the last handle to it: nothing is left behind on Windows.
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  ASSERT_TRUE(fs::exists(path_));
#endif
  auto server = start_echo();
  ASSERT_TRUE(server);
  EXPECT_TRUE(control_request(path_, {{"op", "status"}}));
}

TEST_F(ControlSocketTest, SilentClientTimesOutWithoutBlockingOthers) {
  auto server = start_echo();
  ASSERT_TRUE(server);
  RawClient silent(path_);
  // Sends nothing: the server gives up after kIoTimeout and serves the next.
  auto reply = control_request(path_, {{"op", "status"}}, kIoTimeout * 3);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_TRUE((*reply)["ok"].get<bool>());
}

#ifdef _WIN32
TEST(ControlPipeName, OnePipePerStateDirectoryInAnyCase) {
  const fs::path path = L"C:\\ProgramData\\deskaudit\\agent.sock";
  const auto pipe = control_pipe_name(path);
  const std::wstring prefix = L"\\\\.\\pipe\\deskaudit-agent-";
  EXPECT_EQ(pipe.rfind(prefix, 0), 0u);
  EXPECT_EQ(pipe.size(), prefix.size() + 16);
  EXPECT_EQ(control_pipe_name(L"c:\\programdata\\DESKAUDIT\\agent.sock"), pipe);
  EXPECT_EQ(control_pipe_name(L"C:\\ProgramData\\deskaudit\\.\\agent.sock"), pipe);
  EXPECT_NE(control_pipe_name(L"C:\\ProgramData\\deskaudit2\\agent.sock"), pipe);
}
#endif

TEST(ControlRequest, ParsesAndChecks) {
  EXPECT_TRUE(parse_control_request(R"({"op":"disconnect"})"));
  EXPECT_TRUE(parse_control_request(R"({"op":"connect","user":"bob.smith@corp"})"));
  EXPECT_FALSE(parse_control_request(R"({"op":"connect","user":7})"));
  EXPECT_FALSE(parse_control_request(R"([1,2])"));
  EXPECT_FALSE(parse_control_request(""));
}
