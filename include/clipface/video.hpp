// Frames from video files, cameras, network streams and image folders behind one interface, so
// the watch pipeline (and the server) read them all the same way.
//
// Files and streams are decoded with FFmpeg's libraries, cameras through OpenCV's V4L2 capture,
// image folders and globs with load_image(). Every frame is 8-bit BGR with its time in seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>

namespace clipface {

enum class SourceKind { file, camera, stream, images };
std::string to_string(SourceKind kind);

// What a SOURCE argument names, from its spelling alone: "rtsp://", "http(s)://" (and rtmp, udp,
// tcp, srt) are streams; "/dev/videoN" and bare integers are cameras; a folder or a pattern with
// * ? [ is an image sequence; anything else is a video file.
SourceKind classify_source(const std::string& spec);

struct SourceInfo {
  std::string name;  // as given
  SourceKind kind = SourceKind::file;
  // Live sources (cameras, streams, files read at their real rate) produce frames at their own
  // pace: a pipeline that falls behind drops frames instead of lagging.
  bool live = false;
  double fps = 0;                 // nominal frame rate (0 = unknown)
  cv::Size size;                  // of the first frame
  std::int64_t frame_count = -1;  // files and image sequences; -1 = unknown
  double duration = 0;            // seconds (files; 0 = unknown)
};

struct VideoFrame {
  cv::Mat image;           // 8-bit BGR
  std::int64_t index = 0;  // position in the source; skipped corrupt frames keep their numbers
  double time = 0;         // seconds into the source (live: since the source was opened)
  std::chrono::steady_clock::time_point decoded;  // when it left the decoder (latency figures)
};

// How a source ended.
enum class SourceEnd {
  running,    // not ended yet
  finished,   // end of file or of the image list
  stopped,    // interrupt() was called
  truncated,  // the file ends before its own header says (or its last bytes are damaged)
  lost,       // a stream or camera stopped delivering and reconnecting failed
};

struct SourceStats {
  std::int64_t frames = 0;   // delivered
  std::int64_t corrupt = 0;  // frames (or images) that could not be decoded and were skipped
  int reconnects = 0;        // successful reconnections of a stream
  SourceEnd end = SourceEnd::running;
  std::string message;  // why it ended, when not `finished` or `stopped`
};

struct SourceOptions {
  // Image sequences have no clock: frame i is at i / images_fps seconds.
  double images_fps = 25;
  // Deliver a file at its own frame rate, as a camera would, and mark it live.
  bool realtime = false;
  // Streams: after a disconnect or stall, reconnect up to `reconnect_attempts` times waiting
  // reconnect_delay, 2x, 4x ... (at most reconnect_max_delay) between tries, then end as lost.
  int reconnect_attempts = 5;
  double reconnect_delay = 0.5;      // seconds
  double reconnect_max_delay = 4.0;  // seconds
  double open_timeout = 10;          // seconds to connect
  double read_timeout = 5;           // seconds without a packet before a stream counts as stalled
  // Called for each skipped frame or image with what was skipped and why (from the reading
  // thread). Unset: skips are only counted.
  std::function<void(const std::string& what, const std::string& reason)> on_skip;
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  virtual const SourceInfo& info() const = 0;
  // The next frame, or nullopt once the source has ended (stats().end says why). Corrupt frames
  // are skipped and counted, never returned. Call from one thread.
  virtual std::optional<VideoFrame> next() = 0;
  // A snapshot of the counters (any thread).
  virtual SourceStats stats() const = 0;
  // Makes a blocked or later next() return nullopt soon, ending as `stopped` (any thread).
  virtual void interrupt() = 0;
};

// Opens a source (see classify_source). Throws ImageError when a file, folder or camera cannot
// be opened or decoded (naming it and why), DownloadError when a stream cannot be reached (after
// the reconnect attempts), InputError for an empty spec or an image pattern matching nothing.
std::unique_ptr<FrameSource> open_source(const std::string& spec,
                                         const SourceOptions& options = {});

}  // namespace clipface
