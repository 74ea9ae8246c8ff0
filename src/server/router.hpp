#pragma once
// The dispatcher: matches a request against the route table, authenticates,
// checks access and CSRF, reads a JSON body within max_json_bytes (413 from
// Content-Length before reading), runs the handler, and turns every Error
// into the JSON error shape. It also serves the built web console. It knows
// nothing of sockets: tests build a Request in memory and call handle().
#include <filesystem>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "server/http.hpp"
#include "server/metrics.hpp"
#include "server/services.hpp"

namespace deskaudit::server {

// Cookie names: over HTTPS they carry the __Host- prefix (and Secure), which
// browsers only accept from a secure origin for the whole host.
std::string session_cookie_name(bool tls);
std::string csrf_cookie_name(bool tls);
// The value of a cookie of the request, empty when absent.
std::string cookie_value(const Request& req, std::string_view name);

// The Content-Security-Policy of every response: scripts and styles only
// from the server itself; hls.js needs blob: for its worker and for the
// MediaSource URL of the <video> element.
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
    "worker-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

class Router {
 public:
  // routes and s must outlive the router. web_root: the built console, or
  // empty when there is none.
  Router(Services& s, const std::vector<Route>& routes, std::filesystem::path web_root);

  // Handles one request completely and never throws: res is ready to send
  // (for HEAD, the transport leaves out the body). A body the handler did
  // not read is the transport's to drain or discard.
  void handle(Request& req, Response& res) const;

  // Counts requests, latencies, upload bytes and agents into m (optional;
  // set before serving).
  void set_metrics(Metrics* m) { metrics_ = m; }
  // "METHOD pattern" of each route, in table order (the metrics' labels).
  std::vector<std::string> route_names() const;

 private:
  struct Compiled {
    const Route* route;
    std::regex pattern;
  };
  const Compiled* match(Request& req) const;
  // Returns the index of the route that served the request, or Metrics::kNoRoute.
  std::size_t dispatch(Request& req, Response& res) const;
  void run_route(const Route& route, Request& req, Response& res) const;
  void serve_console(const Request& req, Response& res) const;
  void add_default_headers(const Request& req, Response& res) const;

  Services& s_;
  std::vector<Compiled> routes_;
  std::filesystem::path web_root_;
  Metrics* metrics_ = nullptr;
};

}  // namespace deskaudit::server
