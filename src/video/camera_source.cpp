// Cameras through OpenCV's V4L2 capture: /dev/videoN or an index N (= /dev/videoN).
#include <opencv2/videoio.hpp>

#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>

#include "clipface/errors.hpp"
#include "video/sources.hpp"

namespace clipface::detail {
namespace {

using Clock = std::chrono::steady_clock;

int camera_index(const std::string& spec) {
  const std::string prefix = "/dev/video";
  const std::string digits = spec.rfind(prefix, 0) == 0 ? spec.substr(prefix.size()) : spec;
  if (digits.empty() || digits.size() > 4 ||
      !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); })) {
    throw InputError("not a camera: " + spec + " (expected /dev/videoN or an index)");
  }
  return std::stoi(digits);
}

class CameraSource final : public FrameSource {
 public:
  CameraSource(const std::string& spec, const SourceOptions& options) : options_(options) {
    const int index = camera_index(spec);
    const std::string device = "/dev/video" + std::to_string(index);
    std::error_code ec;
    if (!std::filesystem::exists(device, ec)) {
      throw ImageError("cannot open camera " + spec + ": " + device + " does not exist");
    }
    if (!capture_.open(index, cv::CAP_V4L2) || !capture_.isOpened()) {
      throw ImageError("cannot open camera " + spec + ": " + device +
                       " is busy, not a capture device, or not readable");
    }
    info_.name = spec;
    info_.kind = SourceKind::camera;
    info_.live = true;
    info_.fps = capture_.get(cv::CAP_PROP_FPS);
    info_.size = cv::Size(static_cast<int>(capture_.get(cv::CAP_PROP_FRAME_WIDTH)),
                          static_cast<int>(capture_.get(cv::CAP_PROP_FRAME_HEIGHT)));
  }

  const SourceInfo& info() const override { return info_; }
  SourceStats stats() const override { return stats_.get(); }
  void interrupt() override { interrupted_ = true; }

  std::optional<VideoFrame> next() override {
    int failures = 0;
    while (!interrupted_) {
      VideoFrame frame;
      if (capture_.read(frame.image) && !frame.image.empty()) {
        frame.decoded = Clock::now();
        frame.index = next_index_++;
        frame.time = std::chrono::duration<double>(frame.decoded - opened_at_).count();
        stats_.update([](SourceStats& s) { ++s.frames; });
        return frame;
      }
      // A camera that stops answering (unplugged): a few tries, then it is gone.
      if (++failures >= kMaxFailures) {
        stats_.end(SourceEnd::lost, "the camera stopped delivering frames (unplugged?)");
        return std::nullopt;
      }
    }
    stats_.end(SourceEnd::stopped);
    return std::nullopt;
  }

 private:
  static constexpr int kMaxFailures = 10;
  SourceOptions options_;
  SourceInfo info_;
  StatsKeeper stats_;
  cv::VideoCapture capture_;
  std::int64_t next_index_ = 0;
  Clock::time_point opened_at_ = Clock::now();
  std::atomic<bool> interrupted_{false};
};

}  // namespace

std::unique_ptr<FrameSource> open_camera_source(const std::string& spec,
                                                const SourceOptions& options) {
  return std::make_unique<CameraSource>(spec, options);
}

}  // namespace clipface::detail
