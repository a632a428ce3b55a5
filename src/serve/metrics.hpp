// Prometheus metrics of the service (text exposition format 0.0.4): requests by route, method and
// status, latency histograms by route, requests in flight; the gauges (gallery size, queue depth)
// are read when /metrics is asked.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace clipface::serve_detail {

class Metrics {
 public:
  // Latency bucket bounds in seconds.
  static constexpr std::array<double, 12> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1,  0.25,
                                                      0.5,   1.0,  2.5,   5.0,  10.0, 30.0};

  void observe(const std::string& route, const std::string& method, int status, double seconds);
  void in_flight(int delta);

  // A value read when the metrics are asked for: a gauge, or a counter kept elsewhere.
  struct Gauge {
    std::string name;
    std::string help;
    std::function<double()> value;
    const char* type = "gauge";
  };
  void add_gauge(Gauge gauge);

  // Same as observe, but for a histogram of batch sizes of the embedder.
  void observe_batch(std::size_t crops);

  std::string render() const;

 private:
  struct Histogram {
    std::array<std::int64_t, kBuckets.size()> counts{};
    double sum = 0;
    std::int64_t count = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, std::int64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::map<std::size_t, std::int64_t> batch_sizes_;
  std::int64_t in_flight_ = 0;
  std::vector<Gauge> gauges_;
};

}  // namespace clipface::serve_detail
