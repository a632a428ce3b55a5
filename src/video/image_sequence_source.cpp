// A folder of images (in path order) or a glob pattern, taken as the frames of a video at
// images_fps. Unreadable images are skipped and counted, like corrupt frames of a file.
#include <glob.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>

#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "video/sources.hpp"

namespace clipface::detail {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> glob_images(const std::string& pattern) {
  glob_t found{};
  const int r = ::glob(pattern.c_str(), 0, nullptr, &found);
  std::vector<fs::path> files;
  if (r == 0) {
    for (std::size_t i = 0; i < found.gl_pathc; ++i) {
      const fs::path path = found.gl_pathv[i];
      std::error_code ec;
      if (fs::is_regular_file(path, ec) && has_image_extension(path)) files.push_back(path);
    }
  }
  globfree(&found);
  std::sort(files.begin(), files.end());
  return files;
}

class ImageSequence final : public FrameSource {
 public:
  ImageSequence(const std::string& spec, const SourceOptions& options) : options_(options) {
    std::error_code ec;
    if (fs::is_directory(spec, ec)) {
      files_ = list_images(spec, /*recursive=*/false);
      if (files_.empty()) throw ImageError("no images in folder " + spec);
    } else {
      files_ = glob_images(spec);
      if (files_.empty()) throw InputError("no images match " + spec);
    }
    if (options_.images_fps <= 0) throw InputError("the frame rate of images must be positive");
    info_.name = spec;
    info_.kind = SourceKind::images;
    info_.fps = options_.images_fps;
    info_.frame_count = static_cast<std::int64_t>(files_.size());
  }

  const SourceInfo& info() const override { return info_; }
  SourceStats stats() const override { return stats_.get(); }
  void interrupt() override { interrupted_ = true; }

  std::optional<VideoFrame> next() override {
    while (position_ < files_.size()) {
      if (interrupted_) {
        stats_.end(SourceEnd::stopped);
        return std::nullopt;
      }
      const std::size_t i = position_++;
      VideoFrame frame;
      try {
        frame.image = load_image(files_[i]);
      } catch (const ImageError& e) {
        stats_.update([](SourceStats& s) { ++s.corrupt; });
        if (options_.on_skip) options_.on_skip(files_[i].string(), e.what());
        continue;
      }
      frame.index = static_cast<std::int64_t>(i);
      frame.time = static_cast<double>(i) / options_.images_fps;
      frame.decoded = std::chrono::steady_clock::now();
      if (info_.size.empty()) info_.size = frame.image.size();
      stats_.update([](SourceStats& s) { ++s.frames; });
      return frame;
    }
    stats_.end(SourceEnd::finished);
    return std::nullopt;
  }

 private:
  SourceOptions options_;
  SourceInfo info_;
  StatsKeeper stats_;
  std::vector<fs::path> files_;
  std::size_t position_ = 0;
  std::atomic<bool> interrupted_{false};
};

}  // namespace

std::unique_ptr<FrameSource> open_image_sequence(const std::string& spec,
                                                 const SourceOptions& options) {
  return std::make_unique<ImageSequence>(spec, options);
}

}  // namespace clipface::detail
