#pragma once
// Moves the spool to the server, oldest recording first: creates the server
// recording (keeping the local start_time, so a recording made offline is
// created later with its true start), PUTs each closed segment in seq order
// (its activity events document first, when it has one, then the segment
// naming the document's hash in X-Deskaudit-Events-SHA256)
// and deletes it only after a 2xx, finishes the recording once the recorder
// is done with it, then removes its directory. Failures are retried with
// exponential backoff and jitter, without limit: network loss and server
// restarts only delay the upload; a 429 or 503 with Retry-After waits at
// least that long. A recording the server refuses for good (a permanent 4xx,
// see permanent_rejection(): deleted on the server, refused as invalid) is
// set aside with its files (Spool::set_aside) and the others go on. A 409 on
// a segment (the server holds other bytes under that seq) keeps that file as
// .conflict, uploads the rest, finishes the recording, then sets it aside.
// An events document in the spool that cannot be read or is not one (disk
// damage, an edit) is kept as .unreadable and reported; its segment (the
// video) is uploaded without it, the rest goes on, and once finished the
// recording is set aside with the kept document for an operator: the loss is
// never silent and never blocks the recordings after it.
//
// Thread safety: start()/stop()/wake()/drain() may be called from any
// thread; the upload itself runs on the uploader's own thread.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/api.hpp"
#include "agent/backoff.hpp"
#include "agent/spool.hpp"
#include "keys/key_service.hpp"

namespace deskaudit::agent {

struct UploaderOptions {
  std::string server_url;
  std::string agent_token;  // secret
  client::HttpClientOptions http{};
  BackoffOptions backoff{};
  std::chrono::milliseconds idle_poll{5000};  // rescan even without wake()
  // Signs every segment upload (docs/evidence.md) when set; the key is
  // registered with the server (POST /agent/keys, idempotent) before the
  // first upload of each uploader. Not owned; outlives the uploader.
  const keys::KeyService* signing_key = nullptr;
  std::string computer_id = {};  // signed with each segment
};

// What one pass over the spool achieved.
struct UploadPass {
  int segments_uploaded = 0;
  int recordings_created = 0;
  int recordings_finished = 0;
  int recordings_set_aside = 0;
  bool blocked = false;      // stopped on a retryable error
  bool pending = false;      // something is left (e.g. a recording still open)
  std::optional<std::chrono::seconds> retry_after;  // the server asked to wait (blocked)
};

// The longest Retry-After the uploader honours: a misconfigured server must
// not park the spool for days.
inline constexpr std::chrono::seconds kMaxRetryAfter{3600};

class Uploader {
 public:
  // report_error receives every error worth the heartbeat's last_error.
  Uploader(Spool& spool, UploaderOptions options, std::function<void(const Error&)> report_error);
  ~Uploader();  // stops
  Uploader(const Uploader&) = delete;
  Uploader& operator=(const Uploader&) = delete;

  void start();
  void stop();
  void wake();  // a segment closed or a recording finished: look now
  // Blocks until the spool holds nothing left to upload (true) or the
  // deadline passes (false). Wakes the uploader and skips backoff waits.
  bool drain(std::chrono::steady_clock::time_point deadline);

  // One pass over the spool on the caller's thread (the thread calls this).
  UploadPass pass(AgentApi& api);

 private:
  void run();
  // Returns false when blocked on a retryable error.
  bool upload_recording(AgentApi& api, const std::filesystem::path& dir, UploadPass& out);
  // The bytes to upload of the segment's events document at `path`, its
  // recording_id set to the server's (written back, so a retry sends the same
  // bytes); empty when the segment has none. corrupt when the file cannot be
  // read or is not an events document; io when it cannot be written back.
  Result<std::string> events_body(const std::filesystem::path& path, const std::string& recording_id);
  // X-Deskaudit-Signature of the segment (docs/evidence.md), or empty
  // without a signing key or when the file does not parse (the server then
  // refuses it as unsigned or as not a fragmented MP4).
  std::string segment_signature(const std::string& recording_id, const SegmentFile& segment,
                                const std::string& sha256_hex, std::uint64_t size_bytes,
                                const std::string& events_sha256_hex) const;
  // After a failed call: sets the recording aside when the server refused it
  // for good (returns true: go on with the next), else reports and blocks.
  bool refused(AgentApi& api, const std::filesystem::path& dir, const Error& error, UploadPass& out);
  // Moves a recording marked set-aside to the set-aside area once the
  // recorder is done with it. False when blocked on a local error.
  bool set_aside_if_finished(const std::filesystem::path& dir, UploadPass& out);

  Spool& spool_;
  UploaderOptions options_;
  std::function<void(const Error&)> report_error_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool woken_ = false;
  bool draining_ = false;
  bool drain_kick_ = false;  // drain() cuts the current backoff wait short, once
  bool idle_ = false;  // last pass left nothing to do
  bool key_registered_ = false;  // uploader thread only
  std::thread thread_;
};

}  // namespace deskaudit::agent
