#include "agent/control_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

using namespace deskaudit;
using namespace deskaudit::agent;
using nlohmann::json;
namespace fs = std::filesystem;

class ControlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskaudit-ctl-" + std::to_string(::getpid()));
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
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    std::string reply;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return reply;
  }

  fs::path dir_, path_;
  std::atomic<int> calls_{0};
};

TEST_F(ControlSocketTest, ConnectRoundTripAndSocketIs0600) {
  auto server = start_echo();
  ASSERT_TRUE(server);
  struct stat st{};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
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
  EXPECT_FALSE(fs::exists(path_));  // removed on stop
  // A socket file left behind by a killed agent (nobody listening).
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  ASSERT_TRUE(fs::exists(path_));
  auto server = start_echo();
  ASSERT_TRUE(server);
  EXPECT_TRUE(control_request(path_, {{"op", "status"}}));
}

TEST_F(ControlSocketTest, SilentClientTimesOutWithoutBlockingOthers) {
  auto server = start_echo();
  ASSERT_TRUE(server);
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path_.c_str());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  // Sends nothing: the server gives up after kIoTimeout and serves the next.
  auto reply = control_request(path_, {{"op", "status"}}, kIoTimeout * 3);
  ::close(fd);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_TRUE((*reply)["ok"].get<bool>());
}

TEST(ControlRequest, ParsesAndChecks) {
  EXPECT_TRUE(parse_control_request(R"({"op":"disconnect"})"));
  EXPECT_TRUE(parse_control_request(R"({"op":"connect","user":"bob.smith@corp"})"));
  EXPECT_FALSE(parse_control_request(R"({"op":"connect","user":7})"));
  EXPECT_FALSE(parse_control_request(R"([1,2])"));
  EXPECT_FALSE(parse_control_request(""));
}
