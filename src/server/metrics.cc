// ApiMetrics: counters, histograms and the Prometheus text rendering.
#include "server/metrics.h"

#include <cstdio>

namespace devshare::server {

void ApiMetrics::Observe(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  requests_[{route, status}]++;
  Histogram& h = latency_[route];
  for (size_t i = 0; i < kBucketsSeconds.size(); ++i) {
    if (seconds <= kBucketsSeconds[i]) h.buckets[i]++;
  }
  h.count++;
  h.sum_seconds += seconds;
}

std::string ApiMetrics::Render(const ControlPlaneStats& s) const {
  std::string out;
  char line[256];
  auto add = [&](const char* fmt, auto... args) {
    std::snprintf(line, sizeof line, fmt, args...);
    out += line;
  };
  std::lock_guard<std::mutex> lock(mu_);
  out += "# HELP devshare_http_requests_total HTTP requests by route and status.\n";
  out += "# TYPE devshare_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    add("devshare_http_requests_total{route=\"%s\",code=\"%d\"} %lld\n", key.first.c_str(),
        key.second, static_cast<long long>(n));
  }
  out += "# HELP devshare_http_request_duration_seconds Time from request to response.\n";
  out += "# TYPE devshare_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    for (size_t i = 0; i < kBucketsSeconds.size(); ++i) {
      add("devshare_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %lld\n",
          route.c_str(), kBucketsSeconds[i], static_cast<long long>(h.buckets[i]));
    }
    add("devshare_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %lld\n",
        route.c_str(), static_cast<long long>(h.count));
    add("devshare_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", route.c_str(),
        h.sum_seconds);
    add("devshare_http_request_duration_seconds_count{route=\"%s\"} %lld\n", route.c_str(),
        static_cast<long long>(h.count));
  }
  auto counter = [&](const char* name, const char* help, int64_t v) {
    add("# HELP %s %s\n# TYPE %s counter\n%s %lld\n", name, help, name, name,
        static_cast<long long>(v));
  };
  auto gauge = [&](const char* name, const char* help, int64_t v) {
    add("# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name,
        static_cast<long long>(v));
  };
  counter("devshare_store_commits_total", "Group commits (one fsync each).", s.commits);
  counter("devshare_store_committed_operations_total", "Operations answered after a commit.",
          s.committed_ops);
  counter("devshare_store_failed_commits_total", "Commits that failed (batch answered 503).",
          s.failed_commits);
  counter("devshare_store_cas_retries_total", "Operations retried after a stale host generation.",
          s.cas_retries);
  counter("devshare_store_catchups_applied_total",
          "Other control planes' commits applied to the ledger row by row.", s.catchups_applied);
  counter("devshare_store_catchups_reloaded_total",
          "Other control planes' commits that needed a reload of the ledger.", s.catchups_reloaded);
  gauge("devshare_store_max_batch_operations", "Largest group commit so far.", s.max_batch_seen);
  counter("devshare_audit_unaudited_refusals_total",
          "Unauthenticated requests refused beyond the audit rate (no record of their own).",
          s.unaudited_refusals);
  gauge("devshare_tenants", "Tenants.", s.tenants);
  gauge("devshare_hosts", "Registered hosts.", s.hosts);
  gauge("devshare_vms", "Allocated VMs.", s.vms);
  // One gauge family with a sample per resource (and tier, for disks).
  auto per_resource = [&](const char* name, const char* help, bool used) {
    add("# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    for (const ResourceTotal& t : s.resources) {
      const long long v = static_cast<long long>(used ? t.used : t.capacity);
      if (t.tier.empty()) {
        add("%s{resource=\"%s\"} %lld\n", name, t.resource.c_str(), v);
      } else {
        add("%s{resource=\"%s\",tier=\"%s\"} %lld\n", name, t.resource.c_str(), t.tier.c_str(), v);
      }
    }
  };
  per_resource("devshare_resource_used", "Allocated (guaranteed) amount per resource.", true);
  per_resource("devshare_resource_capacity", "Allocatable amount per resource.", false);
  return out;
}

}  // namespace devshare::server
