// The service's LiveEventSink: keeps the last events (numbered, so a client that reconnects with
// Last-Event-ID misses nothing still held) and the last JPEG frame per source, and wakes the
// streams waiting for them. close() ends every stream (graceful shutdown).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "clipface/live_events.hpp"

namespace clipface::serve_detail {

class EventHub final : public LiveEventSink {
 public:
  explicit EventHub(std::size_t keep = 256) : keep_(keep) {}

  void publish(const LiveEvent& event) override;
  bool wants_frames(const std::string& source) const override;
  void publish_frame(const std::string& source, const cv::Mat& frame) override;

  struct Numbered {
    std::int64_t id;
    LiveEvent event;
  };
  // Events numbered above `after` (all held ones for -1), waiting up to `timeout` for one.
  // Empty on timeout; once closed, at once (what was published before close() is still given).
  std::vector<Numbered> wait_events(std::int64_t after, std::chrono::milliseconds timeout);
  std::int64_t last_id() const;

  // The frame of `source` newer than `after` (JPEG bytes and its number), waiting up to `timeout`.
  std::optional<std::pair<std::int64_t, std::string>> wait_frame(const std::string& source,
                                                                 std::int64_t after,
                                                                 std::chrono::milliseconds timeout);

  // A preview viewer of `source` comes and goes (for wants_frames).
  void watch(const std::string& source, int delta);
  void add_subscriber(int delta);
  int subscribers() const;

  void close();
  bool closed() const;

 private:
  const std::size_t keep_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Numbered> events_;
  std::int64_t next_id_ = 1;
  struct Frame {
    std::int64_t id = 0;
    std::string jpeg;
  };
  std::map<std::string, Frame> frames_;
  std::map<std::string, int> viewers_;
  int subscribers_ = 0;
  bool closed_ = false;
};

}  // namespace clipface::serve_detail
