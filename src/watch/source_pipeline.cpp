#include "watch/source_pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <map>

#include "clipface/errors.hpp"

namespace clipface::detail {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The region of interest in pixels of a frame of `size` (fractions when all values are <= 1).
std::optional<cv::Rect> resolve_roi(const std::optional<cv::Rect2f>& roi, cv::Size size) {
  if (!roi || size.empty()) return std::nullopt;
  cv::Rect2f r = *roi;
  if (r.x <= 1 && r.y <= 1 && r.width <= 1 && r.height <= 1) {
    r = cv::Rect2f(r.x * size.width, r.y * size.height, r.width * size.width,
                   r.height * size.height);
  }
  const cv::Rect pixels = cv::Rect(cv::Rect2f(r)) & cv::Rect(cv::Point(), size);
  if (pixels.width < 16 || pixels.height < 16) {
    throw InputError("the region of interest leaves less than 16x16 pixels of a " +
                     std::to_string(size.width) + "x" + std::to_string(size.height) + " frame");
  }
  return pixels;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = p * static_cast<double>(values.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(rank));
  const std::size_t hi = std::min(values.size() - 1, lo + 1);
  return values[lo] + (rank - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

cv::Rect2f clip_box(const cv::Rect2f& box, cv::Size size) {
  return box & cv::Rect2f(0, 0, static_cast<float>(size.width), static_cast<float>(size.height));
}

// A face fit to re-identify someone by: turned to the camera and wholly in the frame (faces half
// hidden or cut by the edge embed close to everyone's).
bool good_face(const TrackFaceQuality& q, const cv::Rect2f& box, cv::Size frame) {
  const float margin = 2;
  return q.frontal >= 0.5f && box.x >= margin && box.y >= margin &&
         box.x + box.width <= static_cast<float>(frame.width) - margin &&
         box.y + box.height <= static_cast<float>(frame.height) - margin;
}

// How much an embedded face counts in its identity's LabelVote: its size and pose, and half for
// a face cut by the frame's edge or turned away (see good_face).
float vote_weight(const Work::Embedded& e, const IdentityOptions& options) {
  return face_evidence(e.quality.side, e.quality.frontal, options) * (e.good ? 1.0f : 0.5f);
}

}  // namespace

void SharedRun::fail(std::exception_ptr error) {
  std::lock_guard lock(error_mutex_);
  if (!error_) error_ = error;
  failed_ = true;
}

std::exception_ptr SharedRun::error() const {
  std::lock_guard lock(error_mutex_);
  return error_;
}

SourcePipeline::SourcePipeline(int index, std::unique_ptr<FrameSource> source, SharedRun& run,
                               std::vector<std::shared_ptr<WatchSink>> sinks)
    : index_(index),
      source_(std::move(source)),
      run_(run),
      sinks_(std::move(sinks)),
      info_(source_->info()),
      detector_(make_detector(run.options.detector)),
      decoded_(run.options.queue_frames),
      detected_(run.options.queue_frames),
      tracked_(run.options.queue_frames),
      embedded_(run.options.queue_frames),
      decided_(run.options.queue_frames) {
  roi_ = resolve_roi(run.options.roi, info_.size);
}

SourcePipeline::~SourcePipeline() {
  abort();
  join();
}

void SourcePipeline::begin() {
  for (const auto& sink : sinks_) sink->begin(index_, info_);
}

void SourcePipeline::start() {
  using Stage = void (SourcePipeline::*)();
  const Stage stages[] = {&SourcePipeline::decode_stage, &SourcePipeline::detect_stage,
                          &SourcePipeline::track_stage,  &SourcePipeline::embed_stage,
                          &SourcePipeline::decide_stage, &SourcePipeline::write_stage};
  running_stages_ = static_cast<int>(std::size(stages));
  for (Stage stage : stages) threads_.emplace_back([this, stage] { guarded(stage); });
}

void SourcePipeline::guarded(void (SourcePipeline::*stage)()) {
  try {
    (this->*stage)();
  } catch (...) {
    run_.fail(std::current_exception());
    source_->interrupt();
    abort();
  }
  if (--running_stages_ == 0) done_ = true;
}

void SourcePipeline::abort() {
  for (auto* q : {&decoded_, &detected_, &tracked_, &embedded_, &decided_}) q->abort();
}

void SourcePipeline::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void SourcePipeline::decode_stage() {
  const WatchOptions& o = run_.options;
  double last_kept = -1e300;
  std::int64_t delivered = 0;
  // stop() and errors reach this loop as the source's interrupt(): next() then ends as stopped.
  while (true) {
    const auto start = Clock::now();
    std::optional<VideoFrame> frame = source_->next();
    const double ms = ms_since(start);
    if (!frame) break;
    ++decoded_count_;
    const bool every_ok = (delivered++ % std::max(1, o.every)) == 0;
    const bool rate_ok = o.max_fps <= 0 || frame->time >= last_kept + 1.0 / o.max_fps - 1e-6;
    if (!every_ok || !rate_ok) {
      ++sampled_out_;
      continue;
    }
    last_kept = frame->time;
    Work work;
    work.frame = std::move(*frame);
    work.ms.decode = ms;
    if (info_.live) {
      dropped_ += static_cast<std::int64_t>(decoded_.push_dropping_oldest(std::move(work)));
    } else if (!decoded_.push(std::move(work))) {
      return;  // aborted
    }
  }
  Work end;
  end.final = true;
  decoded_.push(std::move(end));
  decoded_.close();
}

void SourcePipeline::detect_stage() {
  while (auto work = decoded_.pop()) {
    if (!work->final) {
      const auto start = Clock::now();
      const cv::Mat& image = work->frame.image;
      if (run_.options.roi && !roi_) roi_ = resolve_roi(run_.options.roi, image.size());
      if (roi_) {
        const cv::Rect r = *roi_ & cv::Rect(cv::Point(), image.size());
        work->detections = r.empty() ? std::vector<Face>{} : detector_->detect(image(r));
        for (Face& f : work->detections) {
          f.box.x += r.x;
          f.box.y += r.y;
          for (auto& p : f.landmarks)
            p += cv::Point2f(static_cast<float>(r.x), static_cast<float>(r.y));
        }
      } else {
        work->detections = detector_->detect(image);
      }
      work->ms.detect = ms_since(start);
    }
    if (!detected_.push(std::move(*work))) return;
  }
  detected_.close();
}

void SourcePipeline::track_stage() {
  TrackerOptions options = run_.options.tracker;
  const double fps = info_.fps > 0 ? info_.fps : 30;
  options.lost_frames = std::max(1, static_cast<int>(std::lround(run_.options.lost_seconds * fps)));
  Tracker tracker(options);
  while (auto work = detected_.pop()) {
    if (!work->final) {
      const auto start = Clock::now();
      work->tracks = tracker.update(work->detections, work->frame.index);
      work->quality.assign(work->tracks.size(), TrackFaceQuality{});
      for (std::size_t i = 0; i < work->tracks.size(); ++i) {
        const TrackedFace& t = work->tracks[i];
        if (t.matched && t.state == TrackState::confirmed) {
          work->quality[i] = face_quality(work->frame.image, t.face);
        }
      }
      work->ms.track = ms_since(start);
    }
    if (!tracked_.push(std::move(*work))) return;
  }
  tracked_.close();
}

void SourcePipeline::embed_stage() {
  const WatchOptions& o = run_.options;
  IdentityLinker linker(o.identity.link_threshold, o.identity.link_seconds, o.identity.link_margin);
  struct TrackPlan {
    std::int64_t last_frame = 0;  // last embedded
    float last_quality = 0;
    std::vector<Work::Embedded> waiting;  // embedded before the track had an identity
  };
  // When an identity's face can be embedded sparsely: once its label is decided (the embed stage
  // keeps the same LabelVote as the decide stage, fed the same faces in the same order) and its
  // last few good faces agree with it, clearly (a match, or a stranger at least kConfidentMargin
  // of the threshold beyond it; never a tie). Until then its face is embedded on every
  // frame (evidence is needed now); after, every embed_every frames or on a clearly better face.
  // A face that disagrees makes it dense again.
  constexpr float kConfidentMargin = 0.15f;
  struct IdentityPlan {
    IdentityPlan(float threshold, const IdentityOptions& options) : vote(threshold, options) {}
    LabelVote vote;
    std::deque<std::string> recent;  // labels of the last good faces, "" when not clear
    int dense_run = 0;               // consecutive frames embedded while unsettled
    std::int64_t pause_until = -1;   // after a long dense run: sparse until this frame
  };
  std::map<std::int64_t, TrackPlan> tracks;
  std::map<std::int64_t, IdentityPlan> identities;
  const std::size_t agree = static_cast<std::size_t>(o.identity.min_evidence + 1);
  const int max_dense_run = 3 * static_cast<int>(agree);
  auto settled = [&](const IdentityPlan& p, std::int64_t frame) {
    if (frame < p.pause_until) return true;
    return p.vote.decided() && p.recent.size() >= agree &&
           std::all_of(p.recent.begin(), p.recent.end(),
                       [&](const auto& l) { return l == p.vote.label(); });
  };
  auto record = [&](std::int64_t identity, const Work::Embedded& e, std::int64_t frame) {
    IdentityPlan& p = identities.try_emplace(identity, o.vote.threshold, o.identity).first->second;
    linker.add_face(identity, e.embedding, e.good);
    p.vote.add(e.decision, vote_weight(e, o.identity));
    if (e.good) {  // faces half hidden or turned away agree on Unknown too easily to settle it
      // A face that matches nobody, but only just (a face emerging from behind something, a
      // poor frame), is not settled evidence: it asks for more faces. A match is, even a weak
      // one (dlib's distances on real clips sit close to its threshold): it names one person,
      // and the vote weighs it by its margin.
      const float distance = e.decision.score > 0 ? l2_from_cosine(e.decision.score) : 2.0f;
      const bool confident = e.decision.known() ||
                             (e.decision.voters == 0 &&  // not a tie
                              distance - o.vote.threshold >= kConfidentMargin * o.vote.threshold);
      p.recent.push_back(confident ? e.decision.label : std::string());
      if (p.recent.size() > agree) p.recent.pop_front();
    }
    if (settled(p, frame)) {
      p.dense_run = 0;
    } else if (++p.dense_run >= max_dense_run) {
      p.dense_run = 0;  // a face that stays ambiguous: look again later rather than every frame
      p.pause_until = frame + o.embed_every;
    }
  };
  // A new track is embedded every frame until it shows a good face (or this many faces), then
  // gets its identity: re-identification needs a good face if there is one.
  constexpr std::size_t kWaitFaces = 6;
  while (auto work = tracked_.pop()) {
    if (work->final) {
      work->ended = linker.end_all();
      if (!embedded_.push(std::move(*work))) return;
      continue;
    }
    const auto start = Clock::now();
    const std::int64_t frame = work->frame.index;
    const double time = work->frame.time;
    const cv::Size frame_size = work->frame.image.size();
    std::vector<std::size_t> chosen;
    for (std::size_t i = 0; i < work->tracks.size(); ++i) {
      const TrackedFace& t = work->tracks[i];
      if (t.state == TrackState::removed) {
        linker.unseen(t.id);
        tracks.erase(t.id);
        continue;
      }
      if (!t.matched || t.state != TrackState::confirmed) {
        linker.unseen(t.id);
        continue;
      }
      linker.seen(t.id, time);
      const auto identity = linker.identity_of(t.id);
      const auto plan = tracks.find(t.id);
      bool due = !identity || plan == tracks.end();
      if (!due) {
        const auto ip = identities.find(*identity);
        due = ip == identities.end() || !settled(ip->second, frame);
      }
      if (!due) {
        due = frame - plan->second.last_frame >= o.embed_every ||
              work->quality[i].score() >= o.better_face * plan->second.last_quality;
      }
      if (due) chosen.push_back(i);
    }
    if (!chosen.empty()) {
      std::vector<Face> faces;
      for (std::size_t i : chosen) faces.push_back(work->tracks[i].face);
      const std::vector<cv::Mat> crops = run_.embedder.crops(work->frame.image, faces);
      Matrix vectors;
      {
        std::lock_guard lock(run_.embed_mutex);
        vectors = run_.embedder.embed_crops(crops);
      }
      const auto neighbours = run_.gallery.search(vectors, o.vote.k2);
      embeddings_ += static_cast<std::int64_t>(chosen.size());
      for (std::size_t k = 0; k < chosen.size(); ++k) {
        const std::size_t i = chosen[k];
        const TrackedFace& t = work->tracks[i];
        const auto row = vectors.row(k);
        Work::Embedded e{i, std::vector<float>(row.begin(), row.end()), work->quality[i],
                         good_face(work->quality[i], t.face.box, frame_size),
                         decide(o.vote, neighbours[k])};
        TrackPlan& plan = tracks[t.id];
        plan.last_frame = frame;
        plan.last_quality = e.quality.score();
        if (const auto identity = linker.identity_of(t.id)) {
          record(*identity, e, frame);
          work->embedded.push_back(std::move(e));
          continue;
        }
        const bool ready = e.good || plan.waiting.size() + 1 >= kWaitFaces;
        plan.waiting.push_back(std::move(e));
        if (!ready) continue;
        // The identity from the best face seen so far; every face waiting becomes its evidence.
        const auto best = std::max_element(
            plan.waiting.begin(), plan.waiting.end(), [](const auto& a, const auto& b) {
              return a.good != b.good ? b.good : a.quality.score() < b.quality.score();
            });
        const std::int64_t identity =
            linker.assign(t.id, best->embedding, time, best->good).identity;
        for (auto& w : plan.waiting) {
          if (&w != &*best) linker.add_face(identity, w.embedding, w.good);
          record(identity, w, frame);
          w.track = i;
          work->embedded.push_back(std::move(w));
        }
        plan.waiting.clear();
      }
    }
    work->identity.assign(work->tracks.size(), 0);
    for (std::size_t i = 0; i < work->tracks.size(); ++i) {
      const TrackedFace& t = work->tracks[i];
      if (t.state == TrackState::removed) continue;
      if (const auto id = linker.identity_of(t.id)) work->identity[i] = *id;
    }
    work->ended = linker.expire(time);
    for (std::int64_t id : work->ended) identities.erase(id);
    work->ms.embed = ms_since(start);
    if (!embedded_.push(std::move(*work))) return;
  }
  embedded_.close();
}

void SourcePipeline::decide_stage() {
  const WatchOptions& o = run_.options;
  struct Record {
    explicit Record(LabelVote v) : vote(std::move(v)) {}
    LabelVote vote;
    std::string label = kPending;
    bool known = false;
    std::int64_t first_frame = 0, last_frame = 0;
    double first_time = 0, last_time = 0;
    int frames_seen = 0;
    std::vector<std::vector<float>> good_faces, other_faces;  // the last few, to name a stranger
  };
  std::map<std::int64_t, Record> records;
  auto event = [&](WatchEventKind kind, std::int64_t id, const Record& r, const Work& w) {
    WatchEvent e;
    e.kind = kind;
    e.source = index_;
    e.source_name = info_.name;
    e.track = id;
    e.frame = w.final ? r.last_frame : w.frame.index;
    e.time = w.final ? r.last_time : w.frame.time;
    e.label = r.label;
    e.known = r.known;
    e.score = r.vote.score();
    e.faces = r.vote.faces();
    e.first_frame = r.first_frame;
    e.last_frame = r.last_frame;
    e.first_time = r.first_time;
    e.last_time = r.last_time;
    e.frames_seen = r.frames_seen;
    e.best_score = r.vote.best_score();
    return e;
  };
  while (auto work = embedded_.pop()) {
    const auto start = Clock::now();
    Work& w = *work;
    if (!w.final) {
      // Tracks seen in this frame, with identities.
      for (std::size_t i = 0; i < w.tracks.size(); ++i) {
        const std::int64_t id = w.identity[i];
        const TrackedFace& t = w.tracks[i];
        if (id == 0 || !t.matched || t.state != TrackState::confirmed) continue;
        auto [it, created] = records.try_emplace(id, LabelVote(o.vote.threshold, o.identity));
        Record& r = it->second;
        if (created) {
          r.first_frame = w.frame.index;
          r.first_time = w.frame.time;
          ++tracks_started_;
        }
        r.last_frame = w.frame.index;
        r.last_time = w.frame.time;
        ++r.frames_seen;
        if (created) w.events.push_back(event(WatchEventKind::track_started, id, r, w));
      }
      // The embedded faces' votes.
      for (const Work::Embedded& e : w.embedded) {
        const auto it = records.find(w.identity[e.track]);
        if (it == records.end()) continue;
        Record& r = it->second;
        auto& faces = e.good ? r.good_faces : r.other_faces;
        if (faces.size() >= 8) faces.erase(faces.begin());
        faces.push_back(e.embedding);
        if (!r.vote.add(e.decision, vote_weight(e, o.identity))) continue;
        const std::string previous = r.label;
        if (r.label.rfind("unknown-", 0) == 0) run_.strangers.release(r.label);
        r.known = r.vote.label() != kUnknown;
        r.label = r.known || !o.identity.unknown_ids
                      ? r.vote.label()
                      : run_.strangers.name(r.good_faces.empty() ? r.other_faces : r.good_faces);
        WatchEvent event_line = event(WatchEventKind::identified, it->first, r, w);
        event_line.previous = previous;
        w.events.push_back(std::move(event_line));
      }
    }
    for (std::int64_t id : w.ended) {
      const auto it = records.find(id);
      if (it == records.end()) continue;  // never confirmed and seen
      w.events.push_back(event(WatchEventKind::track_ended, id, it->second, w));
      if (it->second.label.rfind("unknown-", 0) == 0) run_.strangers.release(it->second.label);
      records.erase(it);
    }
    if (!w.final) {
      WatchFrame& f = w.result;
      f.source = index_;
      f.source_name = info_.name;
      f.frame = w.frame.index;
      f.time = w.frame.time;
      f.size = w.frame.image.size();
      f.detected = static_cast<int>(
          std::count_if(w.detections.begin(), w.detections.end(),
                        [&](const Face& d) { return d.score >= o.tracker.high_score; }));
      for (std::size_t i = 0; i < w.tracks.size(); ++i) {
        const TrackedFace& t = w.tracks[i];
        const auto it = records.find(w.identity[i]);
        if (!t.matched || t.state != TrackState::confirmed || it == records.end()) continue;
        WatchFace face;
        face.track = it->first;
        face.face = t.face;
        face.box_raw = t.face.box;
        face.box = clip_box(t.face.box, f.size);
        face.label = it->second.label;
        face.known = it->second.known;
        face.score = it->second.vote.score();
        face.quality = w.quality[i].score();
        f.faces.push_back(std::move(face));
      }
      latencies_ms_.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - w.frame.decoded).count());
    }
    w.ms.decide = ms_since(start);
    if (!decided_.push(std::move(w))) return;
  }
  decided_.close();
}

void SourcePipeline::write_stage() {
  const bool annotate =
      std::any_of(sinks_.begin(), sinks_.end(), [](const auto& s) { return s->wants_annotated(); });
  while (auto work = decided_.pop()) {
    const auto start = Clock::now();
    for (const WatchEvent& e : work->events) {
      for (const auto& sink : sinks_) sink->event(e);
    }
    if (!work->final) {
      const cv::Mat annotated =
          annotate ? annotate_frame(work->frame.image, work->result, roi_) : cv::Mat();
      for (const auto& sink : sinks_) sink->frame(work->result, work->frame.image, annotated);
      work->ms.write = ms_since(start);
      ++processed_;
      detections_ += static_cast<std::int64_t>(work->detections.size());
      faces_ += static_cast<std::int64_t>(work->result.faces.size());
      total_ms_.decode += work->ms.decode;
      total_ms_.detect += work->ms.detect;
      total_ms_.track += work->ms.track;
      total_ms_.embed += work->ms.embed;
      total_ms_.decide += work->ms.decide;
      total_ms_.write += work->ms.write;
      if (!saw_frame_) first_frame_ = work->frame.decoded;
      saw_frame_ = true;
      last_frame_ = Clock::now();
    }
  }
}

SourceReport SourcePipeline::report() const {
  SourceReport r;
  r.source = index_;
  r.info = source_->info();
  r.stats = source_->stats();
  r.decoded = decoded_count_;
  r.processed = processed_;
  r.dropped = dropped_;
  r.sampled_out = sampled_out_;
  r.faces = faces_;
  r.detections = detections_;
  r.embeddings = embeddings_;
  r.tracks = tracks_started_;
  r.seconds = saw_frame_ ? std::chrono::duration<double>(last_frame_ - first_frame_).count() : 0;
  r.fps = r.seconds > 0 ? static_cast<double>(processed_ - 1) / r.seconds : 0;
  if (processed_ > 0) {
    const double n = static_cast<double>(processed_);
    r.mean_ms = {total_ms_.decode / n, total_ms_.detect / n, total_ms_.track / n,
                 total_ms_.embed / n,  total_ms_.decide / n, total_ms_.write / n};
  }
  r.latency_p50_ms = percentile(latencies_ms_, 0.50);
  r.latency_p95_ms = percentile(latencies_ms_, 0.95);
  return r;
}

void SourcePipeline::end(const SourceReport& report) {
  for (const auto& sink : sinks_) {
    try {
      sink->end(index_, report);
    } catch (...) {
      run_.fail(std::current_exception());
    }
  }
}

}  // namespace clipface::detail
