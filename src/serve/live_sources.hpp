// The server's live sources: clipface watch's pipeline (the same Watch, not a second one) run on
// the server's gallery and embedder, with a WatchSink per source that turns its events into the
// service's live events and its annotated frames into the source's preview.
#pragma once

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "clipface/serve.hpp"
#include "clipface/watch.hpp"

namespace clipface::serve_detail {

// A WatchSink for one source: track events become live events typed as the watch's JSON lines
// (track_started, identified, track_ended) with `source` set to the source's name (never its
// spec, which may hold a stream's password); the source's start and end become source_started
// and source_ended. The annotated frames (watch's annotate_frame: boxes, names, track ids, the
// region of interest) go to the preview only while someone watches it: drawing is cheap next to
// detection, JPEG encoding (skipped otherwise) is not.
class LiveWatchSink final : public WatchSink {
 public:
  LiveWatchSink(std::string name, LiveEventSink& live,
                std::function<void(const std::string&, const SourceReport&)> on_end);
  void begin(int source, const SourceInfo& info) override;
  void event(const WatchEvent& event) override;
  void frame(const WatchFrame& frame, const cv::Mat& image, const cv::Mat& annotated) override;
  void end(int source, const SourceReport& report) override;
  bool wants_annotated() const override { return true; }

 private:
  const std::string name_;
  LiveEventSink& live_;
  const std::function<void(const std::string&, const SourceReport&)> on_end_;
};

class LiveSources {
 public:
  // Opens the sources; those that cannot be opened are skipped (skipped()). InputError for a
  // duplicate or unusable name, or invalid watch options.
  LiveSources(const Gallery& gallery, const Embedder& embedder, const ServeOptions& options,
              const KnnVote& vote, LiveEventSink& live);
  ~LiveSources();  // stop()

  const std::vector<SkippedSource>& skipped() const { return skipped_; }
  bool empty() const { return watch_->sources() == 0; }
  // Runs the pipelines on a thread of their own (files end on their own, the rest at stop()).
  void start();
  // Ends the sources; what is queued drains and each source's end is published. Waits. Any
  // thread may call it, also while another does.
  void stop();

 private:
  std::unique_ptr<Watch> watch_;
  std::vector<SkippedSource> skipped_;
  std::mutex mutex_;  // start() and stop() from different threads
  std::thread thread_;
};

}  // namespace clipface::serve_detail
