#pragma once
// The composition root: builds catalog and object store from the config,
// creates the first administrator, serves the route table and the console
// through the Router on the event-driven HTTP transport, and runs the
// retention sweeper.
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "server/config.hpp"
#include "server/router.hpp"
#include "server/services.hpp"
#include "server/transport/http_server.hpp"

namespace deskaudit::server {

class App {
 public:
  // Connects, migrates, seeds built-in roles and (on a new catalog) the
  // administrator "admin" with admin_password, or a generated one written to
  // first_admin_password_file() (0600) that must be changed at first sign-in.
  static Result<std::unique_ptr<App>> create(ServerConfig config, std::shared_ptr<const Clock> clock,
                                             std::string admin_password);
  ~App();

  // Binds and serves until stop(); on_listening gets the bound port.
  Status run(const std::function<void(int port)>& on_listening);
  // Stops accepting, lets requests in flight finish, stops the sweeper. Thread-safe.
  void stop();

  // Empty unless this start created the administrator with a generated password.
  const std::filesystem::path& first_admin_password_file() const { return first_password_file_; }
  Services& services() { return *services_; }
  const std::vector<Route>& routes() const { return routes_; }
  // One retention pass (also run by the sweeper thread): deletes expired
  // recordings not under legal hold (service::RecordingService::sweep_expired).
  Result<int> sweep_once();

 private:
  App() = default;
  void sweeper_loop();

  std::unique_ptr<Services> services_;
  std::vector<Route> routes_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Router> router_;
  std::mutex http_mu_;
  std::unique_ptr<transport::HttpServer> http_;
  std::unique_ptr<transport::HttpServer> metrics_http_;  // metrics_listen, when set
  std::thread metrics_thread_;
  std::filesystem::path first_password_file_;
  std::atomic<bool> stopping_{false};
  std::thread sweeper_;
  std::mutex sweeper_mu_;
  std::condition_variable sweeper_cv_;
};

}  // namespace deskaudit::server
