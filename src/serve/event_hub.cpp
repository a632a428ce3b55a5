#include "serve/event_hub.hpp"

#include <opencv2/imgcodecs.hpp>

namespace clipface::serve_detail {

void EventHub::publish(const LiveEvent& event) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    events_.push_back({next_id_++, event});
    while (events_.size() > keep_) events_.pop_front();
  }
  changed_.notify_all();
}

bool EventHub::wants_frames(const std::string& source) const {
  std::lock_guard lock(mutex_);
  const auto it = viewers_.find(source);
  return it != viewers_.end() && it->second > 0;
}

void EventHub::publish_frame(const std::string& source, const cv::Mat& frame) {
  std::vector<unsigned char> jpeg;
  cv::imencode(".jpg", frame, jpeg, {cv::IMWRITE_JPEG_QUALITY, 80});
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    Frame& f = frames_[source];
    f.id = next_id_++;
    f.jpeg.assign(jpeg.begin(), jpeg.end());
  }
  changed_.notify_all();
}

std::vector<EventHub::Numbered> EventHub::wait_events(std::int64_t after,
                                                      std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  auto newer = [&] { return !events_.empty() && events_.back().id > after; };
  changed_.wait_for(lock, timeout, [&] { return closed_ || newer(); });
  std::vector<Numbered> out;
  for (const auto& e : events_) {
    if (e.id > after) out.push_back(e);
  }
  return out;
}

std::int64_t EventHub::last_id() const {
  std::lock_guard lock(mutex_);
  return events_.empty() ? 0 : events_.back().id;
}

std::optional<std::pair<std::int64_t, std::string>> EventHub::wait_frame(
    const std::string& source, std::int64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  auto newer = [&] {
    const auto it = frames_.find(source);
    return it != frames_.end() && it->second.id > after;
  };
  changed_.wait_for(lock, timeout, [&] { return closed_ || newer(); });
  if (closed_ || !newer()) return std::nullopt;
  const Frame& f = frames_.at(source);
  return std::make_pair(f.id, f.jpeg);
}

void EventHub::watch(const std::string& source, int delta) {
  std::lock_guard lock(mutex_);
  viewers_[source] += delta;
}

void EventHub::add_subscriber(int delta) {
  std::lock_guard lock(mutex_);
  subscribers_ += delta;
}

int EventHub::subscribers() const {
  std::lock_guard lock(mutex_);
  return subscribers_;
}

void EventHub::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
}

bool EventHub::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

}  // namespace clipface::serve_detail
