#include "server/metrics.hpp"

#include <fmt/format.h>

namespace deskaudit::server {
namespace {

// A label value: backslash, quote and newline escaped.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

Metrics::Metrics(std::vector<std::string> route_names) : names_(std::move(route_names)) {
  names_.emplace_back("other");
  latency_.resize(names_.size());
}

void Metrics::observe(std::size_t route, int status, double seconds) {
  if (route >= names_.size() - 1) route = names_.size() - 1;
  std::lock_guard lock(mu_);
  ++requests_[{route, status}];
  auto& h = latency_[route];
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++h.buckets[i];
  }
  ++h.count;
  h.sum += seconds;
}

void Metrics::agent_seen(const std::string& computer_id, EpochMs now) {
  std::lock_guard lock(mu_);
  agents_[computer_id] = now;
}

std::string Metrics::render(std::size_t open_connections, std::size_t queued_requests, EpochMs now,
                            std::int64_t online_window_ms) const {
  std::string out;
  out += "# HELP deskaudit_http_open_connections Client connections open now.\n";
  out += "# TYPE deskaudit_http_open_connections gauge\n";
  out += fmt::format("deskaudit_http_open_connections {}\n", open_connections);
  out += "# HELP deskaudit_http_queued_requests Requests waiting for a worker thread.\n";
  out += "# TYPE deskaudit_http_queued_requests gauge\n";
  out += fmt::format("deskaudit_http_queued_requests {}\n", queued_requests);
  out += "# HELP deskaudit_upload_bytes_total Segment upload body bytes received.\n";
  out += "# TYPE deskaudit_upload_bytes_total counter\n";
  out += fmt::format("deskaudit_upload_bytes_total {}\n", upload_bytes_.load());
  out += "# HELP deskaudit_sweeper_runs_total Retention sweeper passes by result.\n";
  out += "# TYPE deskaudit_sweeper_runs_total counter\n";
  out += fmt::format("deskaudit_sweeper_runs_total{{result=\"ok\"}} {}\n", sweeper_runs_.load());
  out += fmt::format("deskaudit_sweeper_runs_total{{result=\"failed\"}} {}\n", sweeper_failures_.load());
  std::lock_guard lock(mu_);
  std::size_t online = 0;
  for (const auto& [id, seen] : agents_) {
    if (now - seen <= online_window_ms) ++online;
  }
  out += "# HELP deskaudit_agents_online Agents that called this replica within the offline window.\n";
  out += "# TYPE deskaudit_agents_online gauge\n";
  out += fmt::format("deskaudit_agents_online {}\n", online);
  out += "# HELP deskaudit_http_requests_total Requests answered, by route and status.\n";
  out += "# TYPE deskaudit_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += fmt::format("deskaudit_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", label(names_[key.first]),
                       key.second, n);
  }
  out += "# HELP deskaudit_http_request_duration_seconds Time from the request's headers to the end of its handler.\n";
  out += "# TYPE deskaudit_http_request_duration_seconds histogram\n";
  for (std::size_t r = 0; r < latency_.size(); ++r) {
    const auto& h = latency_[r];
    if (h.count == 0) continue;
    const auto name = label(names_[r]);
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      out += fmt::format("deskaudit_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n", name,
                         kBuckets[i], h.buckets[i]);
    }
    out +=
        fmt::format("deskaudit_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n", name, h.count);
    out += fmt::format("deskaudit_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n", name, h.sum);
    out += fmt::format("deskaudit_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", name, h.count);
  }
  return out;
}

}  // namespace deskaudit::server
