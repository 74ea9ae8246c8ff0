#pragma once
// An event-driven HTTP/1.1 server (Boost.Beast on Boost.Asio, C++20
// coroutines): an idle keep-alive connection costs a socket and a small
// buffer, never a thread. A few io threads run every connection; each
// request is handed to a bounded pool of worker threads where the handler
// may block (catalog, object store, files). A request body is pulled by the
// handler chunk by chunk from the connection, a response body from a content
// provider is pushed the same way: neither is ever held whole in memory.
// When the worker queue is full the request gets 503 with Retry-After;
// accepting never stalls. Optional TLS (OpenSSL through asio::ssl).
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "common/error.hpp"
#include "server/http.hpp"

namespace deskaudit::server::transport {

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;                         // 0 picks a free port
  int workers = 32;                     // threads that run handlers
  std::size_t queue_limit = 2048;       // requests waiting for a worker; beyond: 503
  int io_threads = 1;                   // threads that run the connections
  std::size_t max_connections = 10000;  // beyond: accepted and closed at once
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds header_timeout{10'000};  // first byte to end of headers
  std::chrono::milliseconds body_timeout{30'000};    // each piece of a request body
  std::chrono::milliseconds write_timeout{60'000};   // each piece of a response
  std::chrono::milliseconds idle_timeout{75'000};    // keep-alive wait for the next request
  std::uint64_t max_drain_bytes = 1 << 20;  // an unread body up to this is skipped, beyond the connection closes
  std::filesystem::path tls_cert;           // PEM chain; with tls_key: HTTPS
  std::filesystem::path tls_key;            // PEM private key
};

class HttpServer {
 public:
  // Called on a worker thread for each request; fills the response. Must not
  // throw (the Router never does).
  using RequestHandler = std::function<void(Request& req, Response& res)>;

  HttpServer(Options options, RequestHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Loads the TLS certificate (if any) and binds; returns the bound port.
  // unavailable when the address is in use, invalid_argument for bad TLS files.
  Result<int> listen();
  // Serves until stop(), then returns once every request in flight is
  // answered. Call once, after listen().
  void run();
  // Stops accepting and closes idle connections; requests in flight finish.
  // Thread-safe, also before run().
  void stop();
  bool tls() const;

  // Connections open right now, requests waiting for a worker.
  std::size_t open_connections() const;
  std::size_t queued_requests() const;

  struct Impl;  // public only for the connection code in the .cpp

 private:
  std::unique_ptr<Impl> impl_;
};

// Writes the status line and header fields of res (Content-Length from
// body_size, Connection from keep_alive); headers with CR/LF are dropped.
std::string serialize_head(const Response& res, std::uint64_t body_size, bool keep_alive, bool http10);

}  // namespace deskaudit::server::transport
