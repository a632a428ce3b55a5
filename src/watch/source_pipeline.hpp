// One source's six stages and the queues between them (see watch.hpp).
#pragma once

#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "clipface/watch.hpp"
#include "watch/bounded_queue.hpp"

namespace clipface::detail {

// What the sources of one run share.
struct SharedRun {
  SharedRun(const Gallery& g, const Embedder& e, const WatchOptions& o)
      : gallery(g), embedder(e), options(o), strangers(o.identity.link_threshold) {}

  const Gallery& gallery;
  const Embedder& embedder;
  const WatchOptions& options;  // validated, with the detector and tracker settings resolved
  std::mutex embed_mutex;       // one embedding at a time: the embedder's threads use every core
  StrangerRegistry strangers;

  // The first error of any stage or sink; the run stops when there is one.
  void fail(std::exception_ptr error);
  std::exception_ptr error() const;
  bool failed() const { return failed_.load(); }

 private:
  mutable std::mutex error_mutex_;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
};

// A frame on its way through the stages, with what each stage added.
struct Work {
  bool final = false;  // after the last frame: identities still open end here
  VideoFrame frame;
  std::vector<Face> detections;
  std::vector<TrackedFace> tracks;
  std::vector<TrackFaceQuality> quality;  // per track, when matched and confirmed
  std::vector<std::int64_t> identity;     // per track: its identity, 0 when none
  struct Embedded {
    std::size_t track = 0;  // index into tracks (of the frame it is reported with)
    std::vector<float> embedding;
    TrackFaceQuality quality;
    bool good = false;  // frontal and whole: fit to re-identify and to name a stranger
    Decision decision;  // the gallery's vote for this face alone
  };
  std::vector<Embedded> embedded;
  std::vector<std::int64_t> ended;  // identities that ended with this frame
  std::vector<WatchEvent> events;
  WatchFrame result;
  StageMilliseconds ms;
};

class SourcePipeline {
 public:
  SourcePipeline(int index, std::unique_ptr<FrameSource> source, SharedRun& run,
                 std::vector<std::shared_ptr<WatchSink>> sinks);
  ~SourcePipeline();

  void add_sink(std::shared_ptr<WatchSink> sink) { sinks_.push_back(std::move(sink)); }
  void begin();  // sinks' begin()
  void start();  // the stage threads
  void interrupt() { source_->interrupt(); }
  void abort();  // after an error: every queue closed and emptied
  void join();
  bool done() const { return done_.load(); }
  const SourceInfo& info() const { return info_; }
  SourceReport report() const;
  void end(const SourceReport& report);  // sinks' end(); errors go to the run

 private:
  void guarded(void (SourcePipeline::*stage)());
  void decode_stage();
  void detect_stage();
  void track_stage();
  void embed_stage();
  void decide_stage();
  void write_stage();

  int index_;
  std::unique_ptr<FrameSource> source_;
  SharedRun& run_;
  std::vector<std::shared_ptr<WatchSink>> sinks_;
  SourceInfo info_;
  std::optional<cv::Rect> roi_;
  std::unique_ptr<Detector> detector_;

  BoundedQueue<Work> decoded_, detected_, tracked_, embedded_, decided_;
  std::vector<std::thread> threads_;
  std::atomic<int> running_stages_{0};
  std::atomic<bool> done_{false};

  // Counters, each written by one stage thread and read after join().
  std::int64_t decoded_count_ = 0, dropped_ = 0, sampled_out_ = 0;
  std::int64_t detections_ = 0, embeddings_ = 0, faces_ = 0, processed_ = 0;
  int tracks_started_ = 0;
  StageMilliseconds total_ms_;
  std::vector<double> latencies_ms_;
  std::chrono::steady_clock::time_point first_frame_, last_frame_;
  bool saw_frame_ = false;
};

}  // namespace clipface::detail
