#include "serve/service.hpp"

#include <spdlog/spdlog.h>

#include "clipface/errors.hpp"
#include "serve/api_error.hpp"

namespace clipface::serve_detail {
namespace {

// Faces scored this low are still detected, so that a request's det_prob_threshold can go
// below the configured --score (CompreFace lets each request choose).
constexpr float kLowestDetectorScore = 0.3f;

std::unique_ptr<FacePipeline> make_pipeline(const ServeOptions& o, const Gallery& gallery,
                                            Metrics& metrics,
                                            const MicroBatchingEmbedder** batcher) {
  if (o.pipeline.embedder.empty()) {
    throw InputError("serve needs an embedder spec (the gallery's own: see embedder_spec_for)");
  }
  DetectorOptions detector = o.pipeline.detector;
  detector.score_threshold = std::min(detector.score_threshold, kLowestDetectorScore);
  auto embedder = make_embedder(o.pipeline.embedder, o.pipeline.embedder_options);
  gallery.require_model(embedder->info());
  if (o.micro_batching) {
    auto batching = std::make_unique<MicroBatchingEmbedder>(
        std::move(embedder), std::chrono::microseconds(o.batch_wait_us),
        static_cast<std::size_t>(std::max(1, o.max_batch)),
        [&metrics](std::size_t n) { metrics.observe_batch(n); });
    *batcher = batching.get();
    embedder = std::move(batching);
  }
  return std::make_unique<FacePipeline>(make_detector(detector), std::move(embedder));
}

}  // namespace

ApiError to_api_error(const std::exception& e) {
  if (const auto* a = dynamic_cast<const ApiError*>(&e)) return *a;
  if (const auto* f = dynamic_cast<const FaceCountError*>(&e)) {
    return f->faces() == 0 ? ApiError(400, code::no_faces, f->what())
                           : ApiError(400, code::too_many_faces, f->what());
  }
  if (dynamic_cast<const ImageError*>(&e)) return ApiError(400, code::unavailable_file, e.what());
  if (dynamic_cast<const InputError*>(&e)) return ApiError(400, code::validation, e.what());
  if (dynamic_cast<const GalleryError*>(&e)) {
    const std::string what = e.what();
    if (what.rfind("gallery busy", 0) == 0) return ApiError(503, code::busy, what);
    if (what.rfind("model mismatch", 0) == 0) return ApiError(400, code::model_mismatch, what);
    return ApiError(500, code::internal, what);
  }
  return ApiError(500, code::internal, e.what());
}

Service::Service(const ServeOptions& options)
    : options_(options),
      gallery_(Gallery::open(options.gallery, GalleryMode::write)),
      pipeline_(make_pipeline(options_, gallery_, metrics_, &batcher_)),
      keys_(KeyStore::open(options.gallery)),
      audit_(AuditLog::open(options.gallery)),
      default_vote_(gallery_.vote_rule()) {
  snapshot_.store(gallery_.snapshot());
  metrics_.add_gauge({"clipface_gallery_faces", "Faces in the gallery (the snapshot searched).",
                      [this] { return static_cast<double>(snapshot()->size()); }});
  metrics_.add_gauge({"clipface_gallery_people", "People (subjects) in the gallery.",
                      [this] { return static_cast<double>(snapshot()->people()); }});
  metrics_.add_gauge({"clipface_gallery_generation", "The gallery's change counter.",
                      [this] { return static_cast<double>(snapshot()->generation()); }});
  metrics_.add_gauge({"clipface_embed_queue_depth", "Face crops waiting for the embedder.", [this] {
                        return batcher_ ? static_cast<double>(batcher_->stats().queued) : 0.0;
                      }});
  metrics_.add_gauge(
      {"clipface_embed_batches_total", "Batches the micro-batcher ran.",
       [this] { return batcher_ ? static_cast<double>(batcher_->stats().batches) : 0.0; },
       "counter"});
  metrics_.add_gauge({"clipface_events_subscribers", "Clients streaming live events.",
                      [this] { return static_cast<double>(events_.subscribers()); }});
  watcher_ = std::thread([this] { watch_other_processes(); });
}

Service::~Service() {
  shutdown();
}

void Service::publish() {
  std::lock_guard lock(publish_mutex_);
  // Made while holding the lock, so the last one stored is always the newest state.
  snapshot_.store(gallery_.snapshot());
}

bool Service::auth_required() const {
  return !options_.no_auth && keys_.any();
}

void Service::watch_other_processes() {
  std::unique_lock lock(watcher_mutex_);
  while (!watcher_wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; })) {
    try {
      publish();  // cheap when nothing changed: the gallery hands back the same snapshot
    } catch (const std::exception& e) {
      spdlog::warn("serve: could not refresh the gallery snapshot: {}", e.what());
    }
  }
}

void Service::shutdown() {
  {
    std::lock_guard lock(watcher_mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  watcher_wake_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  events_.close();
  try {
    gallery_.flush();
  } catch (const std::exception& e) {
    spdlog::warn("serve: index not saved ({}); it is rebuilt on the next start", e.what());
  }
}

}  // namespace clipface::serve_detail
