#pragma once
// The server running in the test's process (the same code as the binary), on
// a free loopback port, so that a test can inject its clock and call
// App/Services functions directly. Stops in the destructor.
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "server/app.hpp"
#include "server_process.hpp"

namespace deskaudit::testing {

class InProcessServer {
 public:
  // config.listen and the admin password are set here; throws when the
  // server cannot start.
  InProcessServer(server::ServerConfig config, std::shared_ptr<const Clock> clock) {
    config.listen = "127.0.0.1:0";
    auto app = server::App::create(std::move(config), std::move(clock), kAdminPassword);
    if (!app) throw std::runtime_error("server start: " + app.error().message);
    app_ = std::move(*app);
    std::promise<int> port;
    auto bound = port.get_future();
    thread_ = std::thread([&] { (void)app_->run([&](int p) { port.set_value(p); }); });
    url_ = "http://127.0.0.1:" + std::to_string(bound.get());
  }
  ~InProcessServer() {
    app_->stop();
    thread_.join();
  }
  InProcessServer(const InProcessServer&) = delete;
  InProcessServer& operator=(const InProcessServer&) = delete;

  const std::string& url() const { return url_; }
  server::App& app() { return *app_; }

 private:
  std::unique_ptr<server::App> app_;
  std::thread thread_;
  std::string url_;
};

}  // namespace deskaudit::testing
