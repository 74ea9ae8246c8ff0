#pragma once
// Prometheus text exposition of the server's counters: requests by route and
// status, latency histograms by route, upload bytes, agents seen by this
// replica, sweeper runs, and the transport's gauges (open connections,
// requests waiting for a worker). Served on its own listen address
// (metrics_listen), never on the API port. Thread-safe.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/time.hpp"

namespace deskaudit::server {

class Metrics {
 public:
  static constexpr std::size_t kNoRoute = static_cast<std::size_t>(-1);
  // route_names[i] labels route i (e.g. "GET /api/v1/computers").
  explicit Metrics(std::vector<std::string> route_names);

  void observe(std::size_t route, int status, double seconds);
  void add_upload_bytes(std::uint64_t n) { upload_bytes_ += n; }
  void agent_seen(const std::string& computer_id, EpochMs now);
  void sweeper_run(bool ok) { (ok ? sweeper_runs_ : sweeper_failures_)++; }

  // Agents seen within online_window_ms of now count as online.
  std::string render(std::size_t open_connections, std::size_t queued_requests, EpochMs now,
                     std::int64_t online_window_ms) const;

 private:
  static constexpr std::array<double, 11> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  std::vector<std::string> names_;  // routes, then "other"
  mutable std::mutex mu_;
  std::map<std::pair<std::size_t, int>, std::uint64_t> requests_;
  std::vector<Histogram> latency_;
  std::unordered_map<std::string, EpochMs> agents_;
  std::atomic<std::uint64_t> upload_bytes_{0};
  std::atomic<std::uint64_t> sweeper_runs_{0};
  std::atomic<std::uint64_t> sweeper_failures_{0};
};

}  // namespace deskaudit::server
