// The concrete frame sources behind open_source(), one file each.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "clipface/video.hpp"

namespace clipface::detail {

// Files (kind file) and network streams (kind stream) through libavformat/libavcodec.
std::unique_ptr<FrameSource> open_libav_source(const std::string& spec, SourceKind kind,
                                               const SourceOptions& options);
// /dev/videoN or a camera index through OpenCV's V4L2 capture.
std::unique_ptr<FrameSource> open_camera_source(const std::string& spec,
                                                const SourceOptions& options);
// A folder of images or a glob pattern, in path order.
std::unique_ptr<FrameSource> open_image_sequence(const std::string& spec,
                                                 const SourceOptions& options);

// Keeps the counters every source reports, guarded for readers on other threads.
class StatsKeeper {
 public:
  SourceStats get() const {
    std::lock_guard lock(mutex_);
    return stats_;
  }
  template <typename F>
  void update(F&& f) {
    std::lock_guard lock(mutex_);
    f(stats_);
  }
  // Records the end once; later calls keep the first reason.
  void end(SourceEnd end, std::string message = {}) {
    std::lock_guard lock(mutex_);
    if (stats_.end != SourceEnd::running) return;
    stats_.end = end;
    stats_.message = std::move(message);
  }

 private:
  mutable std::mutex mutex_;
  SourceStats stats_;
};

}  // namespace clipface::detail
