// Every face of video files, cameras and streams named and tracked: the pipeline behind
// `clipface watch`, shared with the server.
//
// Each source runs six stages, each in its own thread, linked by bounded queues:
//   decode  frames from the source, sampled by `every` / `max_fps`. A live source (camera,
//           stream, file read at its real rate) never lags: when the pipeline falls behind, the
//           oldest waiting frame is dropped and counted. A file never drops a frame.
//   detect  faces at a reduced size (detect_side), inside the region of interest
//   track   ByteTrack over the detections (track.hpp), and each face's quality
//   embed   not every face of every frame: a new track's faces until one is good enough to
//           give it an identity (re-identification, track_identity.hpp), an identity's faces
//           until their gallery votes agree, then every embed_every frames or when the face is
//           clearly better. Each embedded face is searched in the gallery and voted on (k1/k2).
//           One embedder serves every source (calls are serialised).
//   decide  one label per identity from all of its faces' votes (LabelVote), and the events
//   write   annotated frames and the sinks (JSON lines, video, snapshots, presence, previews)
// stop() (safe in a signal handler) ends the sources; what is queued drains, sinks finish.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "clipface/classify.hpp"
#include "clipface/detect.hpp"
#include "clipface/embedder.hpp"
#include "clipface/gallery.hpp"
#include "clipface/track.hpp"
#include "clipface/track_identity.hpp"
#include "clipface/video.hpp"

namespace clipface {

struct WatchOptions {
  // The detector's score_threshold is the confident-detection score; weaker detections down to
  // tracker.low_score extend tracks (ByteTrack), so the detector runs at that lower score.
  DetectorOptions detector;
  int detect_side = 480;  // frames are scaled so their longer side is at most this for detection
  // Region of interest: only faces found inside it count. In pixels, or as fractions of the
  // frame when x, y, width and height are all <= 1.
  std::optional<cv::Rect2f> roi;
  int every = 1;       // process every Nth frame
  double max_fps = 0;  // process at most this many frames per second of source time (0 = all)
  KnnVote vote;        // the rule for the gallery (Gallery::vote_rule(), plus overrides)
  TrackerOptions tracker;
  double lost_seconds = 1;  // a lost track waits this long (tracker.lost_frames follows the fps)
  IdentityOptions identity;
  int embed_every = 10;          // frames between embeddings of a track's face
  float better_face = 1.3f;      // ... or sooner, when the face's quality grew by this factor
  std::size_t queue_frames = 2;  // capacity of each queue between stages
  SourceOptions source;
};

enum class WatchEventKind { track_started, identified, track_ended };
std::string to_string(WatchEventKind kind);

// A track (an identity: re-identification may join several tracker tracks) started, got or
// changed its label, or ended.
struct WatchEvent {
  WatchEventKind kind = WatchEventKind::track_started;
  int source = 0;  // index of the source in the run
  std::string source_name;
  std::int64_t track = 0;  // unique per source, from 1
  std::int64_t frame = 0;  // where it happened
  double time = 0;         // seconds into the source
  std::string label;       // kPending, a person, unknown-N (or Unknown)
  bool known = false;      // label is a gallery person
  float score = 0;         // the label's score (LabelVote::score); 0 while pending
  std::string previous;    // identified: the label before
  int faces = 0;           // embedded faces so far
  // track_ended: the whole track.
  std::int64_t first_frame = 0, last_frame = 0;
  double first_time = 0, last_time = 0;
  int frames_seen = 0;
  float best_score = 0;
};

// A face of a processed frame: a confirmed track seen in it.
struct WatchFace {
  std::int64_t track = 0;
  cv::Rect2f box;      // clipped to the frame
  cv::Rect2f box_raw;  // as detected (may reach outside the frame)
  Face face;           // the detection (landmarks, detector score)
  std::string label;
  bool known = false;
  float score = 0;
  float quality = 0;  // TrackFaceQuality::score of this detection
};

struct WatchFrame {
  int source = 0;
  std::string source_name;
  std::int64_t frame = 0;
  double time = 0;
  cv::Size size;
  int detected = 0;  // confident detections (tracked or not yet: a new face is tentative first)
  std::vector<WatchFace> faces;
};

struct StageMilliseconds {
  double decode = 0, detect = 0, track = 0, embed = 0, decide = 0, write = 0;
};

struct SourceReport {
  int source = 0;
  SourceInfo info;
  SourceStats stats;             // corrupt frames skipped, reconnects, how it ended
  std::int64_t decoded = 0;      // frames delivered by the source
  std::int64_t processed = 0;    // frames that went through every stage
  std::int64_t dropped = 0;      // live frames dropped because the pipeline was behind
  std::int64_t sampled_out = 0;  // frames skipped by every / max_fps
  std::int64_t faces = 0;        // faces reported (confirmed tracks seen), summed over frames
  std::int64_t detections = 0;   // detector outputs, summed over frames
  std::int64_t embeddings = 0;   // faces embedded
  int tracks = 0;                // identities (track ids) started
  double seconds = 0;            // wall time from the first frame to the last
  double fps = 0;                // processed / seconds
  StageMilliseconds mean_ms;     // per processed frame, each stage
  double latency_p50_ms = 0, latency_p95_ms = 0;  // from decoded to decided
};

struct WatchReport {
  std::vector<SourceReport> sources;
  int strangers = 0;     // distinct unknown-N names given
  bool stopped = false;  // stop() was called
};

// Receives what the pipeline produces. Called from the write stage of each source it serves:
// a sink given to add_sink() sees every source's calls from several threads and must be
// thread-safe. An exception from a sink stops the run (run() rethrows it after finishing the
// other sinks).
class WatchSink {
 public:
  virtual ~WatchSink() = default;
  virtual void begin(int source, const SourceInfo& info) {}
  virtual void event(const WatchEvent& event) {}
  // Each processed frame, with the decoded image and, when wants_annotated(), the annotated
  // copy (else empty).
  virtual void frame(const WatchFrame& frame, const cv::Mat& image, const cv::Mat& annotated) {}
  virtual void end(int source, const SourceReport& report) {}
  virtual bool wants_annotated() const { return false; }
};

class Watch {
 public:
  // The embedder must be the gallery's embedding space (GalleryError otherwise); both must
  // outlive the Watch. InputError for an invalid vote rule or option.
  Watch(const Gallery& gallery, const Embedder& embedder, WatchOptions options);
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  // Opens a source now (open_source() errors), with sinks of its own. Returns its index.
  int add_source(const std::string& spec, std::vector<std::shared_ptr<WatchSink>> sinks = {});
  // A sink for every source.
  void add_sink(std::shared_ptr<WatchSink> sink);
  int sources() const;
  const SourceInfo& source_info(int index) const;

  // Runs every source to its end or until stop(); blocks. Rethrows the first error of a stage or
  // sink after stopping the rest and finishing every sink.
  WatchReport run();
  // Ends the run soon: sources stop reading, queued frames drain, sinks finish. Only sets a flag,
  // so a signal handler may call it.
  void stop() noexcept { stop_requested_.store(true); }

  const WatchOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stop_requested_{false};
};

// Boxes, labels, scores and track ids drawn on a copy of `image` (green: a gallery person, red:
// a stranger, amber: pending), and the region of interest when given (pixels).
cv::Mat annotate_frame(const cv::Mat& image, const WatchFrame& frame,
                       const std::optional<cv::Rect>& roi = std::nullopt);

// One JSON object on one line (no newline): the CLI's output and the server's event stream.
// Events: event, source, track, frame, time, label, known, score (when decided), ... Frames:
// source, frame, time, faces [{track, box, box_raw, label, known, score}].
std::string to_json(const WatchEvent& event);
std::string to_json(const WatchFrame& frame);

// A file-name-safe short name for a source ("obama" for clips/obama.mp4, "camera0",
// "127.0.0.1_8554_live" for rtsp://127.0.0.1:8554/live).
std::string source_stem(const std::string& spec);

}  // namespace clipface
