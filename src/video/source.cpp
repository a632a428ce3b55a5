// SOURCE arguments to frame sources.
#include <algorithm>
#include <cctype>
#include <filesystem>

#include "clipface/errors.hpp"
#include "video/sources.hpp"

namespace clipface {

std::string to_string(SourceKind kind) {
  switch (kind) {
    case SourceKind::file:
      return "file";
    case SourceKind::camera:
      return "camera";
    case SourceKind::stream:
      return "stream";
    case SourceKind::images:
      return "images";
  }
  return "?";
}

SourceKind classify_source(const std::string& spec) {
  for (const char* scheme :
       {"rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://", "srt://"}) {
    if (spec.rfind(scheme, 0) == 0) return SourceKind::stream;
  }
  const bool digits = !spec.empty() && std::all_of(spec.begin(), spec.end(),
                                                   [](unsigned char c) { return std::isdigit(c); });
  if (digits || spec.rfind("/dev/video", 0) == 0) return SourceKind::camera;
  std::error_code ec;
  if (std::filesystem::is_directory(spec, ec)) return SourceKind::images;
  if (spec.find_first_of("*?[") != std::string::npos && !std::filesystem::exists(spec, ec)) {
    return SourceKind::images;
  }
  return SourceKind::file;
}

std::unique_ptr<FrameSource> open_source(const std::string& spec, const SourceOptions& options) {
  if (spec.empty()) throw InputError("empty source");
  const SourceKind kind = classify_source(spec);
  switch (kind) {
    case SourceKind::camera:
      return detail::open_camera_source(spec, options);
    case SourceKind::images:
      return detail::open_image_sequence(spec, options);
    case SourceKind::file:
    case SourceKind::stream:
      break;
  }
  return detail::open_libav_source(spec, kind, options);
}

}  // namespace clipface
