// Ready-made sinks for Watch: JSON lines, an annotated video per source, the best crop of each
// track, a callback per annotated frame (previews), and who was present when (attendance).
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "clipface/video_writer.hpp"
#include "clipface/watch.hpp"

namespace clipface {

// Events (and, when asked, one line per frame) as JSON lines, each flushed as it is written.
// A write that fails (disk full, closed pipe) throws InputError naming the output and the
// system's reason; the file is cut back to its last whole line, so every line in it parses.
class JsonLinesSink final : public WatchSink {
 public:
  // Writes to `out` (e.g. stdout), called `name` in messages; the sink does not close it.
  JsonLinesSink(std::FILE* out, std::string name, bool frames);
  // Creates (truncates) `path`; InputError when it cannot.
  static std::shared_ptr<JsonLinesSink> open(const std::filesystem::path& path, bool frames);
  ~JsonLinesSink() override;

  void event(const WatchEvent& event) override;
  void frame(const WatchFrame& frame, const cv::Mat& image, const cv::Mat& annotated) override;

 private:
  void write_line(const std::string& line);
  std::FILE* out_;
  std::string name_;
  bool frames_;
  bool owned_ = false;
  bool failed_ = false;
  std::mutex mutex_;
};

// The annotated frames of one source as a video file (H.264, fragmented MP4 / MOV, or MKV).
class AnnotatedVideoSink final : public WatchSink {
 public:
  explicit AnnotatedVideoSink(std::filesystem::path path, VideoWriterOptions options = {});
  void begin(int source, const SourceInfo& info) override;
  void frame(const WatchFrame& frame, const cv::Mat& image, const cv::Mat& annotated) override;
  void end(int source, const SourceReport& report) override;
  bool wants_annotated() const override { return true; }
  std::int64_t frames() const;

 private:
  std::filesystem::path path_;
  VideoWriterOptions options_;
  std::unique_ptr<VideoWriter> writer_;
};

// The best face of each track (highest TrackFaceQuality, with a margin around the box) as
// DIR/<source>-track<N>-<label>.jpg, written when the track ends.
class SnapshotSink final : public WatchSink {
 public:
  // Creates `dir`; InputError when it cannot.
  explicit SnapshotSink(std::filesystem::path dir);
  void begin(int source, const SourceInfo& info) override;
  void event(const WatchEvent& event) override;
  void frame(const WatchFrame& frame, const cv::Mat& image, const cv::Mat& annotated) override;
  std::vector<std::filesystem::path> written() const;

 private:
  struct Best {
    float quality = -1;
    cv::Mat crop;
  };
  std::filesystem::path dir_;
  mutable std::mutex mutex_;
  std::map<int, std::string> stems_;  // per source, unique
  std::map<std::pair<int, std::int64_t>, Best> best_;
  std::vector<std::filesystem::path> written_;
};

// Calls `hook` with every annotated frame (e.g. to serve an MJPEG preview).
class FrameHookSink final : public WatchSink {
 public:
  using Hook = std::function<void(const WatchFrame& frame, const cv::Mat& annotated)>;
  explicit FrameHookSink(Hook hook) : hook_(std::move(hook)) {}
  void frame(const WatchFrame& frame, const cv::Mat&, const cv::Mat& annotated) override {
    hook_(frame, annotated);
  }
  bool wants_annotated() const override { return true; }

 private:
  Hook hook_;
};

// When each person was present, per source, from the tracks that ended: the attendance and
// check-in summary. Tracks still pending at their end are counted, not listed.
struct PresenceInterval {
  double start = 0, end = 0;  // seconds into the source
};
struct Presence {
  std::string person;  // a gallery name, or unknown-N
  bool known = false;
  std::string source;
  double first_seen = 0, last_seen = 0;
  double seconds = 0;                       // total length of the intervals
  std::vector<PresenceInterval> intervals;  // tracks closer than merge_seconds are one visit
  int tracks = 0;
  float best_score = 0;
  std::string first_seen_utc, last_seen_utc;  // live sources: wall-clock times (ISO 8601)
};

class PresenceLog final : public WatchSink {
 public:
  explicit PresenceLog(double merge_seconds = 10) : merge_seconds_(merge_seconds) {}
  void begin(int source, const SourceInfo& info) override;
  void event(const WatchEvent& event) override;

  // Sorted by person, then source.
  std::vector<Presence> people() const;
  int undecided_tracks() const;
  // CSV: person,known,source,first_seen,last_seen,seconds,visits,tracks,best_score[,utc...].
  // JSON: {"people": [...], "undecided_tracks": n}. Written atomically; InputError on failure.
  void write_csv(const std::filesystem::path& path) const;
  void write_json(const std::filesystem::path& path) const;

 private:
  struct Source {
    std::string name;
    bool live = false;
    std::chrono::system_clock::time_point started;
  };
  double merge_seconds_;
  mutable std::mutex mutex_;
  std::map<int, Source> sources_;
  std::vector<WatchEvent> ended_;
  int undecided_ = 0;
};

}  // namespace clipface
