#include "serve/metrics.hpp"

#include <cstdio>
#include <sstream>

namespace clipface::serve_detail {
namespace {

// Label values escaped as the exposition format asks (backslash, quote, newline).
std::string label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

void Metrics::observe(const std::string& route, const std::string& method, int status,
                      double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[{route, method, status}];
  Histogram& h = latency_[route];
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++h.counts[i];
  }
  h.sum += seconds;
  ++h.count;
}

void Metrics::in_flight(int delta) {
  std::lock_guard lock(mutex_);
  in_flight_ += delta;
}

void Metrics::add_gauge(Gauge gauge) {
  std::lock_guard lock(mutex_);
  gauges_.push_back(std::move(gauge));
}

void Metrics::observe_batch(std::size_t crops) {
  std::lock_guard lock(mutex_);
  ++batch_sizes_[crops];
}

std::string Metrics::render() const {
  std::vector<Gauge> gauges;
  {
    std::lock_guard lock(mutex_);
    gauges = gauges_;
  }
  std::ostringstream out;
  // Gauges first, read without holding the lock (they look at the gallery and the batcher).
  for (const auto& g : gauges) {
    out << "# HELP " << g.name << ' ' << g.help << "\n# TYPE " << g.name << ' ' << g.type << '\n'
        << g.name << ' ' << number(g.value()) << '\n';
  }
  std::lock_guard lock(mutex_);
  out << "# HELP clipface_http_requests_in_flight Requests being served now.\n"
         "# TYPE clipface_http_requests_in_flight gauge\n"
      << "clipface_http_requests_in_flight " << in_flight_ << '\n';
  out << "# HELP clipface_http_requests_total Requests served, by route, method and status.\n"
         "# TYPE clipface_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [route, method, status] = key;
    out << "clipface_http_requests_total{route=\"" << label(route) << "\",method=\"" << method
        << "\",status=\"" << status << "\"} " << n << '\n';
  }
  out << "# HELP clipface_http_request_duration_seconds Time to serve a request, by route.\n"
         "# TYPE clipface_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    const std::string r = label(route);
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      out << "clipface_http_request_duration_seconds_bucket{route=\"" << r << "\",le=\""
          << number(kBuckets[i]) << "\"} " << h.counts[i] << '\n';
    }
    out << "clipface_http_request_duration_seconds_bucket{route=\"" << r << "\",le=\"+Inf\"} "
        << h.count << '\n'
        << "clipface_http_request_duration_seconds_sum{route=\"" << r << "\"} " << number(h.sum)
        << '\n'
        << "clipface_http_request_duration_seconds_count{route=\"" << r << "\"} " << h.count
        << '\n';
  }
  out << "# HELP clipface_embed_batch_size Crops per batch run by the embedder.\n"
         "# TYPE clipface_embed_batch_size histogram\n";
  std::int64_t total = 0;
  double sum = 0;
  for (const double bound : {1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0}) {
    std::int64_t below = 0;
    for (const auto& [size, n] : batch_sizes_) {
      if (static_cast<double>(size) <= bound) below += n;
    }
    out << "clipface_embed_batch_size_bucket{le=\"" << number(bound) << "\"} " << below << '\n';
  }
  for (const auto& [size, n] : batch_sizes_) {
    total += n;
    sum += static_cast<double>(size) * static_cast<double>(n);
  }
  out << "clipface_embed_batch_size_bucket{le=\"+Inf\"} " << total << '\n'
      << "clipface_embed_batch_size_sum " << number(sum) << '\n'
      << "clipface_embed_batch_size_count " << total << '\n';
  return out.str();
}

}  // namespace clipface::serve_detail
