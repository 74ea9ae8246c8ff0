#include "server/transport/http_server.hpp"

// Asio 1.74 needs <utility> first (std::exchange in its coroutine support).
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "common/text.hpp"

namespace deskaudit::server::transport {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using asio::redirect_error;

// Every I/O object carries the concrete executor type, a strand of the one
// io_context that all io threads run (a connection's handlers never run
// concurrently, yet any free io thread serves any connection): copying it, as
// every asynchronous operation does, costs a reference count, where
// any_io_executor added a type-erased copy and dispatch per operation.
using Executor = asio::strand<asio::io_context::executor_type>;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;
using Timer =
    asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, Executor>;
using TcpStream = beast::basic_stream<tcp, Executor>;
template <class T>
using Task = asio::awaitable<T, Executor>;
constexpr asio::use_awaitable_t<Executor> use_task;

constexpr std::size_t kPiece = 64 * 1024;  // body bytes per read or write between worker and connection
// Large request bodies (32 MiB segments) move in larger pieces: a sixteenth of
// the hand-offs between connection and worker thread. Small ones keep kPiece so
// a burst of uploads holds little memory.
constexpr std::size_t kLargeBodyPiece = 1024 * 1024;
constexpr std::uint64_t kLargeBody = 4 * 1024 * 1024;

// Bounded pool of threads that run blocking handlers.
class WorkerPool {
 public:
  WorkerPool(int threads, std::size_t queue_limit) : limit_(queue_limit) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~WorkerPool() { shutdown(); }
  // False when the queue is full.
  bool try_submit(std::function<void()> job) {
    {
      std::lock_guard lock(mu_);
      if (jobs_.size() >= limit_ || done_) return false;
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
  }
  std::size_t queued() const {
    std::lock_guard lock(mu_);
    return jobs_.size();
  }
  // Runs what is queued, then joins.
  void shutdown() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return done_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  const std::size_t limit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  bool done_ = false;
};

// What a worker running a request asks of its connection, one step at a
// time: read the next piece of the body, write bytes, or be done. The worker
// blocks on the condition variable; the connection's coroutine wakes on the
// timer (cancelled through `wake`), does the I/O with its own timeouts, and
// answers. Either side may give up: `aborted` makes every later step fail.
struct Exchange {
  enum class Op { none, read, write, done };
  std::mutex mu;
  std::condition_variable cv;
  Op op = Op::none;
  bool complete = false;
  bool ok = false;
  bool aborted = false;
  bool body_done = false;  // read: the request body has ended
  bool close = false;      // done: close the connection after the response
  std::string data;        // read: bytes received; write: bytes to send
  std::function<void()> wake;

  // Worker side. For write, data is sent; for read, data is replaced by the bytes read.
  bool call(Op what, std::string& io, std::chrono::milliseconds backstop) {
    std::unique_lock lock(mu);
    if (aborted) return false;
    op = what;
    complete = false;
    if (what == Op::write) data = std::move(io);
    lock.unlock();
    wake();
    lock.lock();
    if (!cv.wait_for(lock, backstop, [this] { return complete || aborted; })) aborted = true;
    if (aborted) return false;
    if (what == Op::read) io.swap(data);
    data.clear();
    return ok;
  }
  void finish(bool close_after) {
    {
      std::lock_guard lock(mu);
      op = Op::done;
      close = close_after;
    }
    wake();
  }
};

class ExchangeBody final : public BodyReader {
 public:
  ExchangeBody(Exchange& x, std::chrono::milliseconds backstop) : x_(x), backstop_(backstop) {}
  bool read(const BodyReceiver& receiver) override {
    std::string piece;
    while (!ended_) {
      if (!x_.call(Exchange::Op::read, piece, backstop_)) return false;
      {
        std::lock_guard lock(x_.mu);
        ended_ = x_.body_done;
      }
      if (!piece.empty() && !receiver(piece.data(), piece.size())) return false;
    }
    return true;
  }

 private:
  Exchange& x_;
  std::chrono::milliseconds backstop_;
  bool ended_ = false;
};

// Collects provider output and hands it to the connection in pieces.
class ExchangeSink final : public Sink {
 public:
  ExchangeSink(Exchange& x, std::chrono::milliseconds backstop, std::string head)
      : x_(x), backstop_(backstop), pending_(std::move(head)) {}
  bool write(const char* data, std::size_t size) override {
    if (failed_) return false;
    pending_.append(data, size);
    return pending_.size() < kPiece || flush();
  }
  bool flush() {
    if (failed_) return false;
    if (pending_.empty()) return true;
    failed_ = !x_.call(Exchange::Op::write, pending_, backstop_);
    pending_.clear();
    return !failed_;
  }
  std::uint64_t written = 0;

 private:
  Exchange& x_;
  std::chrono::milliseconds backstop_;
  std::string pending_;
  bool failed_ = false;
};

std::chrono::milliseconds backstop(const Options& opt) {
  return std::max(opt.body_timeout, opt.write_timeout) + std::chrono::seconds(5);
}

// Runs on a worker: the handler, then the response through the exchange.
// Returns whether the connection may stay open.
bool respond(const HttpServer::RequestHandler& handler, Request& req, Exchange& x, const Options& opt, bool keep_alive,
             bool http10, const std::atomic<bool>& stopping) {
  ExchangeBody body(x, backstop(opt));
  if (req.has_body()) req.body = &body;
  Response res;
  handler(req, res);
  req.body = nullptr;
  if (ascii_iequals(res.get_header_value("Connection"), "close") || stopping.load()) keep_alive = false;
  res.headers.erase("Connection");
  const bool head = req.method == "HEAD";
  if (!res.provider) {
    std::string out = serialize_head(res, res.body.size(), keep_alive, http10);
    if (!head) out += res.body;
    if (!x.call(Exchange::Op::write, out, backstop(opt))) return false;
    spdlog::debug("http {} {} {} {}", req.method, req.path, res.status, res.body.size());
    return keep_alive;
  }
  // A provider body: Range requests get a part of it (206) or 416.
  std::uint64_t first = 0;
  std::uint64_t length = res.content_length;
  res.set_header("Accept-Ranges", "bytes");
  if (res.status == 200 && (req.method == "GET" || head) && req.has_header("Range")) {
    auto range = parse_range(req.get_header_value("Range"), res.content_length);
    if (!range) {
      const auto size = res.content_length;
      res.provider = nullptr;
      write_error(res, range.error());
      res.status = 416;
      res.set_header("Content-Range", "bytes */" + std::to_string(size));
      std::string out = serialize_head(res, res.body.size(), keep_alive, http10);
      if (!head) out += res.body;
      return x.call(Exchange::Op::write, out, backstop(opt)) && keep_alive;
    }
    if (*range) {
      first = (*range)->first;
      length = (*range)->length;
      res.status = 206;
      res.set_header("Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(first + length - 1) +
                                          "/" + std::to_string(res.content_length));
    }
  }
  ExchangeSink sink(x, backstop(opt), serialize_head(res, length, keep_alive, http10));
  if (!head && length > 0) {
    // Counts what the provider writes, so a short body is caught.
    struct Counting final : Sink {
      ExchangeSink& inner;
      std::uint64_t left;
      Counting(ExchangeSink& i, std::uint64_t n) : inner(i), left(n) {}
      bool write(const char* data, std::size_t size) override {
        if (size > left) return false;
        left -= size;
        return inner.write(data, size);
      }
    } counting(sink, length);
    bool ok = false;
    try {
      ok = res.provider(static_cast<std::size_t>(first), static_cast<std::size_t>(length), counting);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: content provider failed: {}", req.method, req.path, e.what());
    }
    // Headers are out with a Content-Length the body did not meet: only
    // closing the connection tells the client.
    if (!ok || counting.left != 0) {
      (void)sink.flush();
      return false;
    }
  }
  spdlog::debug("http {} {} {} {}", req.method, req.path, res.status, length);
  return sink.flush() && keep_alive;
}

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection unless a request is in flight (on its strand).
  virtual void stop_if_idle() = 0;
};

}  // namespace

std::string serialize_head(const Response& res, std::uint64_t body_size, bool keep_alive, bool http10) {
  std::string out;
  out.reserve(512);
  out += http10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(res.status);
  out += ' ';
  out += std::string_view(http::obsolete_reason(http::int_to_status(static_cast<unsigned>(res.status))));
  out += "\r\n";
  for (const auto& [name, value] : res.headers) {
    if (ascii_iequals(name, "Content-Length") || ascii_iequals(name, "Connection") ||
        ascii_iequals(name, "Transfer-Encoding"))
      continue;
    if (name.find_first_of("\r\n:") != std::string::npos || value.find_first_of("\r\n") != std::string::npos) {
      spdlog::warn("dropped response header {} with a line break", name.substr(0, 64));
      continue;
    }
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (res.status >= 200 && res.status != 204 && res.status != 304) {
    out += "Content-Length: ";
    out += std::to_string(body_size);
    out += "\r\n";
  }
  if (!keep_alive)
    out += "Connection: close\r\n";
  else if (http10)
    out += "Connection: keep-alive\r\n";
  out += "\r\n";
  return out;
}

struct HttpServer::Impl {
  Options opt;
  RequestHandler handler;
  asio::io_context ioc;
  // The accept loop and stop() use the acceptor on this strand only: with
  // several io threads it must not be closed while another thread accepts.
  Executor accept_strand{asio::make_strand(ioc)};
  Acceptor acceptor{accept_strand};
  std::optional<ssl::context> tls;
  std::unique_ptr<WorkerPool> pool;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> connections{0};
  std::mutex sessions_mu;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;

  Impl(Options o, RequestHandler h) : opt(std::move(o)), handler(std::move(h)), ioc(std::max(1, opt.io_threads)) {}

  Task<void> accept_loop();
  template <class Stream>
  void start_session(Stream stream);
};

namespace {

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpServer::Impl& srv, Stream stream)
      : srv_(srv), stream_(std::move(stream)), wake_(stream_.get_executor()) {}

  Task<void> run() {
    auto self = this->shared_from_this();
    try {
      co_await serve();
    } catch (const std::exception& e) {
      spdlog::debug("connection ended: {}", e.what());
    }
    co_await close();
  }

  void stop_if_idle() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->idle_) self->lowest().socket().cancel();
    });
  }
  auto executor() { return stream_.get_executor(); }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, TcpStream>;
  using Parser = http::request_parser<http::buffer_body>;

  auto& lowest() { return beast::get_lowest_layer(stream_); }

  Task<void> serve() {
    beast::error_code ec;
    if constexpr (kTls) {
      lowest().expires_after(srv_.opt.header_timeout);
      co_await stream_.async_handshake(ssl::stream_base::server, redirect_error(use_task, ec));
      if (ec) co_return;
    }
    for (;;) {
      // Idle: wait for the first byte of the next request.
      if (buf_.size() == 0) {
        if (srv_.stopping.load()) co_return;
        idle_ = true;
        buf_.shrink_to_fit();
        lowest().expires_after(srv_.opt.idle_timeout);
        const auto n = co_await stream_.async_read_some(buf_.prepare(1024), redirect_error(use_task, ec));
        idle_ = false;
        if (ec) co_return;
        buf_.commit(n);
      }
      Parser parser;
      parser.header_limit(static_cast<std::uint32_t>(srv_.opt.max_header_bytes));
      // The router and handlers apply limits per route. (Not boost::none:
      // Beast 1.74 compares the length against an empty optional and fails.)
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      idle_ = true;  // until the headers are in, a stop may close the connection
      lowest().expires_after(srv_.opt.header_timeout);
      co_await http::async_read_header(stream_, buf_, parser, redirect_error(use_task, ec));
      idle_ = false;
      if (ec) {
        if (ec == http::error::header_limit)
          co_await refuse(431, Errc::too_large, "the request headers are too large");
        else if (ec != beast::error::timeout && ec != http::error::end_of_stream && ec != asio::error::eof &&
                 ec != asio::error::operation_aborted && ec != asio::error::connection_reset) {
          co_await refuse(400, Errc::invalid_argument, "malformed HTTP request: " + ec.message());
        }
        co_return;
      }
      const auto& msg = parser.get();
      Request req;
      req.method = std::string(msg.method_string());
      req.target = std::string(msg.target());
      for (const auto& f : msg) req.headers.emplace(std::string(f.name_string()), std::string(f.value()));
      if (auto cl = parser.content_length()) req.content_length = *cl;
      req.chunked = parser.chunked();
      req.tls = kTls;
      beast::error_code ep_ec;
      const auto ep = lowest().socket().remote_endpoint(ep_ec);
      if (!ep_ec) req.remote_addr = ep.address().to_string();
      const bool http10 = msg.version() < 11;
      bool keep_alive = msg.keep_alive();
      expect_continue_ = ascii_iequals(req.get_header_value("Expect"), "100-continue");
      continue_sent_ = false;
      // A body of known length is read past the parser, straight from the
      // socket into the worker's buffer; a chunked one goes through it.
      raw_ = !parser.chunked() && parser.content_length().has_value();
      raw_left_ = raw_ ? *parser.content_length() : 0;
      if (auto st = parse_target(req); !st) {
        co_await refuse(400, st.error().code, st.error().message);
        co_return;
      }

      auto x = std::make_shared<Exchange>();
      std::weak_ptr<Session> weak = this->shared_from_this();
      x->wake = [weak, ex = stream_.get_executor()] {
        asio::post(ex, [weak] {
          if (auto s = weak.lock()) s->wake_.cancel();
        });
      };
      auto job = [&srv = srv_, x, req = std::move(req), keep_alive, http10]() mutable {
        bool keep = false;
        try {
          keep = respond(srv.handler, req, *x, srv.opt, keep_alive, http10, srv.stopping);
        } catch (const std::exception& e) {
          spdlog::error("{} {}: {}", req.method, req.path, e.what());
        }
        x->finish(!keep);
      };
      if (!srv_.pool->try_submit(std::move(job))) {
        spdlog::warn("all {} workers busy and {} requests queued: answering 503", srv_.opt.workers,
                     srv_.opt.queue_limit);
        co_await refuse(503, Errc::unavailable, "the server is busy; retry shortly", !body_done(parser));
        if (!body_done(parser)) co_return;
        continue;
      }
      const bool close = co_await serve_exchange(*x, parser);
      if (close) co_return;
      if (!body_done(parser) && !co_await drain(parser)) co_return;
      if (srv_.stopping.load()) co_return;
    }
  }

  // Carries out what the worker asks until it is done; true: close after.
  Task<bool> serve_exchange(Exchange& x, Parser& parser) {
    beast::error_code ec;
    for (;;) {
      Exchange::Op op;
      std::string out;
      std::string got;
      {
        std::lock_guard lock(x.mu);
        if (x.op == Exchange::Op::done) co_return x.close;
        op = x.complete ? Exchange::Op::none : x.op;
        if (op == Exchange::Op::write) out = std::move(x.data);
        // The worker's previous piece (emptied, its capacity kept): two
        // buffers alternate for a whole body, none is allocated per piece.
        if (op == Exchange::Op::read) got.swap(x.data);
      }
      if (op == Exchange::Op::none) {
        wake_.expires_at(Timer::time_point::max());
        co_await wake_.async_wait(redirect_error(use_task, ec));
        continue;
      }
      bool ok = true;
      bool ended = body_done(parser);
      if (op == Exchange::Op::read && !ended) {
        if (expect_continue_ && !continue_sent_) {
          continue_sent_ = true;
          static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          lowest().expires_after(srv_.opt.write_timeout);
          co_await asio::async_write(stream_, asio::buffer(kContinue), redirect_error(use_task, ec));
          ok = !ec;
        }
        if (ok && raw_) {
          got.resize_and_overwrite(piece_size(parser), [](char*, std::size_t n) { return n; });
          std::size_t filled = 0;
          ok = co_await read_raw(got.data(), got.size(), filled, ec);
          got.resize(filled);
          ended = raw_left_ == 0;
        } else if (ok) {
          // Read into the string handed to the worker, kPiece at a time: the
          // body timeout applies to each kPiece.
          // (resize_and_overwrite: no zero-filling of bytes about to be read over)
          got.resize_and_overwrite(piece_size(parser), [](char*, std::size_t n) { return n; });
          std::size_t filled = 0;
          while (ok && filled < got.size() && !parser.is_done()) {
            auto& body = parser.get().body();
            const std::size_t want = std::min(kPiece, got.size() - filled);
            body.data = got.data() + filled;
            body.size = want;
            lowest().expires_after(srv_.opt.body_timeout);
            co_await http::async_read(stream_, buf_, parser, redirect_error(use_task, ec));
            if (ec == http::error::need_buffer) ec = {};
            ok = !ec;
            filled += want - body.size;
          }
          got.resize(filled);
          ended = parser.is_done();
        }
      } else if (op == Exchange::Op::write) {
        lowest().expires_after(srv_.opt.write_timeout);
        co_await asio::async_write(stream_, asio::buffer(out), redirect_error(use_task, ec));
        ok = !ec;
      }
      {
        std::lock_guard lock(x.mu);
        x.ok = ok;
        x.complete = true;
        x.body_done = ended;
        if (op == Exchange::Op::read) x.data = std::move(got);
        if (!ok) x.aborted = true;
      }
      x.cv.notify_all();
      if (!ok) {
        // The worker sees aborted at its next step; wait for it to finish so
        // the exchange outlives every use.
        co_await wait_done(x);
        co_return true;
      }
    }
  }

  Task<void> wait_done(Exchange& x) {
    beast::error_code ec;
    for (;;) {
      {
        std::lock_guard lock(x.mu);
        if (x.op == Exchange::Op::done) co_return;
        if (!x.complete) {  // a step asked after the abort: fail it at once
          x.complete = true;
          x.ok = false;
          x.cv.notify_all();
        }
      }
      wake_.expires_at(Timer::time_point::max());
      co_await wake_.async_wait(redirect_error(use_task, ec));
    }
  }

  bool body_done(const Parser& parser) const { return raw_ ? raw_left_ == 0 : parser.is_done(); }

  // Body bytes per hand-off to the worker (never more than the body has left).
  std::size_t piece_size(const Parser& parser) const {
    const auto length = parser.content_length();
    const std::size_t piece = length && *length >= kLargeBody ? kLargeBodyPiece : kPiece;
    return raw_ ? static_cast<std::size_t>(std::min<std::uint64_t>(piece, raw_left_)) : piece;
  }

  // Reads min(size, raw_left_) bytes of a body of known length into dst:
  // first what arrived with the headers, then straight from the stream (no
  // copy through buf_ and the parser). Each read may return whatever the
  // socket holds; the body timeout restarts with the call and then after
  // every kPiece received, so a client must still send kPiece per timeout.
  // filled counts the bytes stored; false with ec set when the stream failed
  // or ended early.
  Task<bool> read_raw(char* dst, std::size_t size, std::size_t& filled, beast::error_code& ec) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size, raw_left_));
    filled = std::min(want, buf_.size());
    if (filled > 0) {
      std::memcpy(dst, buf_.data().data(), filled);
      buf_.consume(filled);
    }
    std::size_t since_deadline = kPiece;
    while (filled < want) {
      if (since_deadline >= kPiece) {
        lowest().expires_after(srv_.opt.body_timeout);
        since_deadline = 0;
      }
      const auto n =
          co_await stream_.async_read_some(asio::buffer(dst + filled, want - filled), redirect_error(use_task, ec));
      filled += n;
      since_deadline += n;
      if (ec) break;
    }
    raw_left_ -= filled;
    co_return filled == want;
  }

  // Skips a body the handler left unread, if small; false: close instead.
  Task<bool> drain(Parser& parser) {
    beast::error_code ec;
    std::vector<char> scratch(kPiece);
    if (raw_) {
      // The length is known: a body beyond the limit is not read at all.
      if (raw_left_ > srv_.opt.max_drain_bytes) co_return false;
      while (raw_left_ > 0) {
        std::size_t n = 0;
        if (!co_await read_raw(scratch.data(), scratch.size(), n, ec)) co_return false;
      }
      co_return true;
    }
    std::uint64_t skipped = 0;
    while (!parser.is_done()) {
      if (skipped > srv_.opt.max_drain_bytes) co_return false;
      auto& body = parser.get().body();
      body.data = scratch.data();
      body.size = scratch.size();
      lowest().expires_after(srv_.opt.body_timeout);
      co_await http::async_read(stream_, buf_, parser, redirect_error(use_task, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return false;
      skipped += scratch.size() - body.size;
    }
    co_return true;
  }

  // Answers without a worker (parse errors, a full queue).
  Task<void> refuse(int status, Errc code, std::string message, bool close = true) {
    Response res;
    write_error(res, Error{code, std::move(message)});
    res.status = status;
    add_default_headers(res);
    const std::string out = serialize_head(res, res.body.size(), !close, false) + res.body;
    beast::error_code ec;
    lowest().expires_after(srv_.opt.write_timeout);
    co_await asio::async_write(stream_, asio::buffer(out), redirect_error(use_task, ec));
  }

  static void add_default_headers(Response& res) {
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-store");
  }

  // Graceful close: TLS close_notify or a TCP FIN, then a short read so
  // unread request bytes do not turn the close into a reset that could
  // destroy the response before the client reads it.
  Task<void> close() {
    beast::error_code ec;
    if constexpr (kTls) {
      lowest().expires_after(std::chrono::seconds(2));
      co_await stream_.async_shutdown(redirect_error(use_task, ec));
    } else {
      lowest().socket().shutdown(Socket::shutdown_send, ec);
      if (!ec) {
        std::vector<char> scratch(4096);
        std::size_t total = 0;
        lowest().expires_after(std::chrono::seconds(2));
        while (total < (1u << 20)) {
          const auto n = co_await lowest().async_read_some(asio::buffer(scratch), redirect_error(use_task, ec));
          if (ec) break;
          total += n;
        }
      }
    }
    lowest().close();
  }

  HttpServer::Impl& srv_;
  Stream stream_;
  Timer wake_;
  beast::flat_buffer buf_;
  bool idle_ = false;
  bool expect_continue_ = false;
  bool continue_sent_ = false;
  bool raw_ = false;            // this request's body is read past the parser
  std::uint64_t raw_left_ = 0;  // ... and has this many bytes still to come
};

}  // namespace

template <class Stream>
void HttpServer::Impl::start_session(Stream stream) {
  auto session = std::make_shared<Session<Stream>>(*this, std::move(stream));
  SessionBase* key = session.get();
  {
    std::lock_guard lock(sessions_mu);
    sessions.emplace(key, session);
  }
  ++connections;
  asio::co_spawn(
      session->executor(),
      [this, session, key]() -> Task<void> {
        co_await session->run();
        {
          std::lock_guard lock(sessions_mu);
          sessions.erase(key);
        }
        --connections;
      },
      asio::detached);
}

Task<void> HttpServer::Impl::accept_loop() {
  beast::error_code ec;
  for (;;) {
    Socket socket(asio::make_strand(ioc));
    co_await acceptor.async_accept(socket, redirect_error(use_task, ec));
    if (ec) {
      if (!acceptor.is_open() || stopping.load()) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      if (ec == asio::error::no_descriptors) {
        // Out of file descriptors: pause briefly instead of spinning.
        Timer pause(accept_strand, std::chrono::milliseconds(100));
        co_await pause.async_wait(redirect_error(use_task, ec));
      }
      continue;
    }
    // Accepted before stop() closed the acceptor: no new session.
    if (stopping.load()) {
      socket.close(ec);
      co_return;
    }
    if (connections.load() >= opt.max_connections) {
      spdlog::debug("{} connections open: closing a new one", opt.max_connections);
      socket.close(ec);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    if (tls) {
      start_session(beast::ssl_stream<TcpStream>(TcpStream(std::move(socket)), *tls));
    } else {
      start_session(TcpStream(std::move(socket)));
    }
  }
}

HttpServer::HttpServer(Options options, RequestHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() {
  stop();
  if (impl_->pool) impl_->pool->shutdown();
}

bool HttpServer::tls() const { return impl_->tls.has_value(); }
std::size_t HttpServer::open_connections() const { return impl_->connections.load(); }
std::size_t HttpServer::queued_requests() const { return impl_->pool ? impl_->pool->queued() : 0; }

Result<int> HttpServer::listen() {
  auto& d = *impl_;
  const auto& opt = d.opt;
  if (opt.tls_cert.empty() != opt.tls_key.empty()) {
    return fail(Errc::invalid_argument, "tls_cert and tls_key go together: give both or neither");
  }
  if (!opt.tls_cert.empty()) {
    try {
      ssl::context ctx(ssl::context::tls_server);
      ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
      ctx.use_certificate_chain_file(opt.tls_cert.string());
      ctx.use_private_key_file(opt.tls_key.string(), ssl::context::pem);
      d.tls.emplace(std::move(ctx));
    } catch (const boost::system::system_error& e) {
      return fail(Errc::invalid_argument, "cannot load the TLS certificate " + opt.tls_cert.string() + " and key " +
                                              opt.tls_key.string() + ": " + e.what());
    }
  }
  beast::error_code ec;
  tcp::resolver resolver(d.ioc);
  auto endpoints = resolver.resolve(opt.host, std::to_string(opt.port), tcp::resolver::passive, ec);
  if (ec || endpoints.empty())
    return fail(Errc::invalid_argument, "cannot resolve listen host '" + opt.host + "': " + ec.message());
  const tcp::endpoint ep = endpoints.begin()->endpoint();
  d.acceptor.open(ep.protocol(), ec);
  if (!ec) d.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) d.acceptor.bind(ep, ec);
  if (!ec) d.acceptor.listen(1024, ec);
  if (ec)
    return fail(Errc::unavailable,
                "cannot listen on " + opt.host + ":" + std::to_string(opt.port) + ": " + ec.message());
  return static_cast<int>(d.acceptor.local_endpoint().port());
}

void HttpServer::run() {
  auto& d = *impl_;
  d.pool = std::make_unique<WorkerPool>(d.opt.workers, d.opt.queue_limit);
  if (!d.stopping.load()) asio::co_spawn(d.accept_strand, d.accept_loop(), asio::detached);
  std::vector<std::thread> extra;
  for (int i = 1; i < d.opt.io_threads; ++i) extra.emplace_back([&d] { d.ioc.run(); });
  d.ioc.run();
  for (auto& t : extra) t.join();
  d.pool->shutdown();
}

void HttpServer::stop() {
  auto& d = *impl_;
  if (d.stopping.exchange(true)) return;
  asio::post(d.accept_strand, [&d] {
    beast::error_code ec;
    d.acceptor.close(ec);
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard lock(d.sessions_mu);
      for (auto& [key, weak] : d.sessions) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) s->stop_if_idle();
  });
}

}  // namespace deskaudit::server::transport
