// Casting actors from a labelled folder, and both methods on a synthetic clip.
#include <algorithm>
#include <chrono>
#include <mutex>
#include <random>

#include "clipface/errors.hpp"
#include "clipface/eval/tracking.hpp"
#include "clipface/image.hpp"

namespace clipface::eval {
namespace {

using Clock = std::chrono::steady_clock;

// The frames' boxes and labels as the watch pipeline reports them.
class Collector final : public WatchSink {
 public:
  explicit Collector(std::size_t frames) : hypotheses(frames) {}
  void frame(const WatchFrame& frame, const cv::Mat&, const cv::Mat&) override {
    std::lock_guard lock(mutex_);
    if (frame.frame < 0 || static_cast<std::size_t>(frame.frame) >= hypotheses.size()) return;
    auto& out = hypotheses[static_cast<std::size_t>(frame.frame)];
    for (const WatchFace& face : frame.faces) out.push_back({face.track, face.box_raw, face.label});
  }
  std::vector<std::vector<HypothesisBox>> hypotheses;

 private:
  std::mutex mutex_;
};

}  // namespace

std::vector<Actor> cast_actors(const std::filesystem::path& people_dir, Gallery& gallery,
                               const FacePipeline& pipeline, int enrolled, int strangers,
                               int enroll_photos, std::uint64_t seed) {
  struct Candidate {
    std::string name;
    std::vector<std::filesystem::path> images;
  };
  std::vector<Candidate> candidates;
  for (const auto& folder : list_person_folders(people_dir)) {
    auto images = list_images(folder, false);
    if (!images.empty()) candidates.push_back({folder.filename().string(), std::move(images)});
  }
  std::mt19937_64 rng(seed);
  std::shuffle(candidates.begin(), candidates.end(), rng);
  // The face of a one-person photo: the detection nearest the centre (photos such as LFW's show
  // bystanders at the edges).
  auto face_of = [&](const std::filesystem::path& file, Actor& actor) {
    actor.photo = load_image(file);
    const auto faces = pipeline.detector().detect(actor.photo);
    const int k = pick_face(faces, actor.photo.size(), FacePick::nearest_centre);
    if (k < 0) return false;
    actor.face = faces[static_cast<std::size_t>(k)].box;
    return true;
  };
  std::vector<Actor> cast;
  std::vector<PersonImages> to_enroll;
  int need_known = enrolled, need_strangers = strangers;
  for (const Candidate& c : candidates) {
    if (need_known == 0 && need_strangers == 0) break;
    Actor actor;
    if (need_known > 0 && static_cast<int>(c.images.size()) > enroll_photos) {
      if (!face_of(c.images[static_cast<std::size_t>(enroll_photos)], actor)) continue;
      actor.name = c.name;
      to_enroll.push_back({c.name, {c.images.begin(), c.images.begin() + enroll_photos}});
      --need_known;
    } else if (need_strangers > 0 && static_cast<int>(c.images.size()) <= enroll_photos) {
      if (!face_of(c.images[0], actor)) continue;
      --need_strangers;  // never enrolled: name ""
    } else {
      continue;
    }
    cast.push_back(std::move(actor));
  }
  if (need_known > 0 || need_strangers > 0) {
    throw InputError("not enough people with photos in " + people_dir.string() + " for " +
                     std::to_string(enrolled) + " enrolled actors and " +
                     std::to_string(strangers) + " strangers");
  }
  EnrollOptions options;
  options.progress = false;
  enroll_people(gallery, pipeline, to_enroll, options);
  // Enrolled and strangers mixed, so that every role is played by both kinds over several clips.
  std::shuffle(cast.begin(), cast.end(), rng);
  return cast;
}

TrackingComparison compare_on_clip(const Gallery& gallery, const FacePipeline& pipeline,
                                   const WatchOptions& options, const SyntheticClip& clip,
                                   const ScoringOptions& scoring) {
  const std::size_t frames = clip.truth.frames.size();
  TrackingComparison out;
  {
    Watch watch(gallery, pipeline.embedder(), options);
    auto collector = std::make_shared<Collector>(frames);
    watch.add_source(clip.video.string(), {collector});
    const WatchReport report = watch.run();
    out.tracked = score_tracking(clip.truth, collector->hypotheses, scoring);
    out.tracked_fps = report.sources.at(0).fps;
  }
  // The per-frame loop with the same detector settings, embedder and vote: every face of every
  // frame embedded and named on its own.
  DetectorOptions detector_options = options.detector;
  detector_options.max_side = options.detect_side;
  const auto detector = make_detector(detector_options);
  const Embedder& embedder = pipeline.embedder();
  std::vector<std::vector<HypothesisBox>> loop(frames);
  auto source = open_source(clip.video.string());
  const auto start = Clock::now();
  std::size_t n = 0;
  while (auto frame = source->next()) {
    const auto faces = detector->detect(frame->image);
    if (faces.empty() || frame->index < 0 || static_cast<std::size_t>(frame->index) >= frames) {
      ++n;
      continue;
    }
    const Matrix vectors = embedder.embed(frame->image, faces);
    const auto neighbours = gallery.search(vectors, options.vote.k2);
    auto& out_frame = loop[static_cast<std::size_t>(frame->index)];
    for (std::size_t i = 0; i < faces.size(); ++i) {
      out_frame.push_back({-1, faces[i].box, decide(options.vote, neighbours[i]).label});
    }
    ++n;
  }
  out.per_frame_fps = n / std::chrono::duration<double>(Clock::now() - start).count();
  out.per_frame = score_tracking(clip.truth, loop, scoring);
  return out;
}

}  // namespace clipface::eval
