// Writing video (the annotated output of `clipface watch`): H.264 in MP4, MOV or Matroska.
//
// MP4 and MOV are written fragmented (a fragment per keyframe, one keyframe a second), so a file
// whose writer was killed, or whose disk filled up, still plays up to its last fragment; a
// write error is reported, never swallowed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <string>

namespace clipface {

struct VideoWriterOptions {
  double fps = 30;  // nominal rate (frames carry their own times)
  int crf = 23;     // x264 constant quality: lower is better and larger
  const char* preset = "veryfast";
  double keyframe_seconds = 1;  // keyframe (and fragment) interval
  std::string container;        // "mp4" | "mov" | "mkv"; "" = from the file's extension
};

class VideoWriter {
 public:
  // Opens `path` for frames of `size` (odd sides are cropped by one pixel for 4:2:0 chroma).
  // Throws InputError when the container is not mp4, mov or mkv, or the file cannot be
  // created (with the system's reason); ModelError when FFmpeg has no H.264 encoder.
  VideoWriter(const std::filesystem::path& path, cv::Size size,
              const VideoWriterOptions& options = {});
  ~VideoWriter();  // finishes the file if close() was not called; never throws
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // Appends a BGR frame shown at `time` seconds (times must grow; a repeated time is nudged).
  // Frames of another size are resized. Throws InputError naming the file and the system's
  // reason when writing fails (disk full); the frames written before stay playable.
  void write(const cv::Mat& bgr, double time);
  // Flushes the encoder and writes the trailer; throws like write(). Idempotent.
  void close();

  std::int64_t frames() const;
  const std::filesystem::path& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clipface
