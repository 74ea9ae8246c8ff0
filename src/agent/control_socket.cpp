#include "agent/control_socket.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

#include <thread>

#include <spdlog/spdlog.h>

#include "common/fs.hpp"

namespace deskaudit::agent {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

Result<sockaddr_un> socket_address(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string p = path.string();
  if (p.size() >= sizeof addr.sun_path) {
    return fail(Errc::invalid_argument, "socket path " + p + " is longer than " +
                                            std::to_string(sizeof addr.sun_path - 1) +
                                            " bytes: choose a shorter --state-dir");
  }
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  return addr;
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Reads up to the first '\n' (not included); errors on timeout or overflow.
Result<std::string> read_line(int fd, Clock::time_point deadline) {
  std::string line;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::io, errno_message("poll", errno));
    }
    if (n == 0) return fail(Errc::unavailable, "timed out waiting for a line");
    const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::io, errno_message("recv", errno));
    }
    if (r == 0) return line;  // EOF ends the line too
    const auto nl = std::memchr(buf, '\n', static_cast<std::size_t>(r));
    const auto take = nl ? static_cast<std::size_t>(static_cast<char*>(nl) - buf) : static_cast<std::size_t>(r);
    if (line.size() + take > kMaxRequestBytes) {
      return fail(Errc::too_large, "line longer than " + std::to_string(kMaxRequestBytes) + " bytes");
    }
    line.append(buf, take);
    if (nl) return line;
  }
}

Status send_all(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    pollfd p{fd, POLLOUT, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::io, errno_message("poll", errno));
    }
    if (n == 0) return fail(Errc::unavailable, "timed out sending");
    const ssize_t w = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::io, errno_message("send", errno));
    }
    data.remove_prefix(static_cast<std::size_t>(w));
  }
  return {};
}

Result<UniqueFd> connect_to(const std::filesystem::path& path) {
  auto addr = socket_address(path);
  if (!addr) return std::unexpected(addr.error());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail(Errc::io, errno_message("socket", errno));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ECONNREFUSED) {
      return fail(Errc::unavailable, "no deskaudit agent is running for this state directory (nothing listens on " +
                                         path.string() + "); start it with `deskaudit-agent run ...`");
    }
    return fail(Errc::io, errno_message("connect " + path.string(), e));
  }
  return fd;
}

}  // namespace

struct ControlServer::Impl {
  std::filesystem::path path;
  UniqueFd listen_fd;
  UniqueFd wake_read, wake_write;
  Handler handler;
  std::thread thread;

  void run();
  void serve_one(int fd);
};

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<ControlServer>> ControlServer::start(const std::filesystem::path& path, Handler handler) {
  auto addr = socket_address(path);
  if (!addr) return std::unexpected(addr.error());
  // A socket file left by a dead agent is replaced; a live one is not.
  if (auto probe = connect_to(path); probe) {
    return fail(Errc::conflict, "another deskaudit agent is already running on " + path.string());
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return fail(Errc::io, errno_message("unlink " + path.string(), errno));
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail(Errc::io, errno_message("socket", errno));
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    return fail(Errc::io, errno_message("bind " + path.string(), errno));
  }
  // The directory is 0700 already; the socket itself is 0600 as well.
  if (::chmod(path.c_str(), 0600) != 0) return fail(Errc::io, errno_message("chmod " + path.string(), errno));
  if (::listen(fd.get(), 16) != 0) return fail(Errc::io, errno_message("listen " + path.string(), errno));
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0) return fail(Errc::io, errno_message("pipe", errno));
  auto impl = std::make_unique<Impl>(
      Impl{path, std::move(fd), UniqueFd(pipefd[0]), UniqueFd(pipefd[1]), std::move(handler), {}});
  impl->thread = std::thread([p = impl.get()] { p->run(); });
  return std::unique_ptr<ControlServer>(new ControlServer(std::move(impl)));
}

ControlServer::~ControlServer() {
  const char c = 'x';
  [[maybe_unused]] const auto n = ::write(impl_->wake_write.get(), &c, 1);
  if (impl_->thread.joinable()) impl_->thread.join();
  ::unlink(impl_->path.c_str());
}

void ControlServer::Impl::run() {
  for (;;) {
    pollfd fds[2] = {{listen_fd.get(), POLLIN, 0}, {wake_read.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("control socket: {}", errno_message("poll", errno));
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    UniqueFd client(::accept4(listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) continue;
    serve_one(client.get());
  }
}

void ControlServer::Impl::serve_one(int fd) {
  const json reply = control_reply(read_line(fd, Clock::now() + kIoTimeout), handler);
  (void)send_all(fd, reply.dump() + "\n", Clock::now() + kIoTimeout);
}

Result<json> control_request(const std::filesystem::path& path, const json& request,
                             std::chrono::milliseconds timeout) {
  auto fd = connect_to(path);
  if (!fd) return std::unexpected(fd.error());
  const auto deadline = Clock::now() + timeout;
  if (auto st = send_all(fd->get(), request.dump() + "\n", deadline); !st) {
    return std::unexpected(with_context(st.error(), "sending to the agent"));
  }
  ::shutdown(fd->get(), SHUT_WR);
  return parse_control_reply(read_line(fd->get(), deadline));
}

}  // namespace deskaudit::agent
