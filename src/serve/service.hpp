// What the routes of the service share: the gallery (writes, through its transactions), the
// snapshot searches use (replaced after every committed write, before the write is answered),
// the face pipeline with its micro-batching embedder, keys, audit log, metrics and live events.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "clipface/api_keys.hpp"
#include "clipface/audit_log.hpp"
#include "clipface/gallery.hpp"
#include "clipface/recognizer.hpp"
#include "clipface/serve.hpp"
#include "serve/event_hub.hpp"
#include "serve/metrics.hpp"
#include "serve/micro_batcher.hpp"

namespace clipface::serve_detail {

class Service {
 public:
  explicit Service(const ServeOptions& options);
  ~Service();

  const ServeOptions& options() const { return options_; }
  Gallery& gallery() { return gallery_; }
  const FacePipeline& pipeline() const { return *pipeline_; }
  KeyStore& keys() { return keys_; }
  AuditLog& audit() { return audit_; }
  Metrics& metrics() { return metrics_; }
  EventHub& events() { return events_; }

  // The state searches run on: lock-free to read, the newest committed state once a write
  // has been answered.
  std::shared_ptr<const GallerySnapshot> snapshot() const { return snapshot_.load(); }
  // After a committed write: makes it visible to every later search.
  void publish();

  // The gallery's vote rule (its calibration for the current model when it has one, else the
  // embedding space's defaults; Gallery::vote_rule), read at start; requests may override it.
  const KnnVote& default_vote() const { return default_vote_; }
  // Detection below this score is never seen (the detector's own threshold); requests filter
  // above it with det_prob_threshold, by default at the configured --score.
  float default_min_score() const { return options_.pipeline.detector.score_threshold; }

  bool auth_required() const;

  // Stops the watcher and flushes the gallery's index (graceful shutdown).
  void shutdown();

 private:
  void watch_other_processes();

  // Declared (so constructed) in this order: the pipeline's batcher reports to metrics_.
  ServeOptions options_;
  Metrics metrics_;
  const MicroBatchingEmbedder* batcher_ = nullptr;
  Gallery gallery_;
  std::unique_ptr<FacePipeline> pipeline_;
  KeyStore keys_;
  AuditLog audit_;
  EventHub events_;
  KnnVote default_vote_;
  std::atomic<std::shared_ptr<const GallerySnapshot>> snapshot_;
  std::mutex publish_mutex_;
  // Changes committed by other processes (the CLI writing to the same gallery) reach the
  // snapshot within a second.
  std::thread watcher_;
  std::mutex watcher_mutex_;
  std::condition_variable watcher_wake_;
  bool stopping_ = false;
};

}  // namespace clipface::serve_detail
