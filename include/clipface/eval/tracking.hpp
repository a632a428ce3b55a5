// Tracking measured: synthetic clips with exact ground truth, the standard multi-object tracking
// figures, and `clipface watch` against the per-frame loop on the same clips.
//
// The clips paste real face photos (with some of their surroundings, feathered) on moving paths
// over a generated background: people cross (one passes in front of the other), walk behind a
// pillar, leave the frame and come back, turn their heads a little; each frame gets sensor noise
// and the clip is H.264-encoded, so the detector and the embedder see what a camera would give
// them. The ground truth is exact: every face's box (the detector's convention: the box YuNet
// finds on the photo, moved and scaled with it) and how much of it is visible.
#pragma once

#include <cstdint>
#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "clipface/recognizer.hpp"
#include "clipface/watch.hpp"

namespace clipface::eval {

struct TruthBox {
  int person = 0;  // index into TrackingTruth::names
  cv::Rect2f box;
  float visibility = 1;  // share of the box not hidden (by the frame edge, a pillar, a face)
};

struct TrackingTruth {
  std::vector<std::string> names;  // per person: the gallery name, "" for a stranger
  std::vector<std::vector<TruthBox>> frames;
};

// What a method reported in one frame.
struct HypothesisBox {
  std::int64_t track = -1;  // -1: no track ids (the per-frame loop)
  cv::Rect2f box;
  std::string label;  // a gallery name, Unknown / unknown-N, or pending
};

struct ScoringOptions {
  float min_iou = 0.5f;  // a hypothesis covers a true face from this IoU on
  // Faces less visible than this are neither required nor counted against a method that finds
  // them (ignore regions, as MOTChallenge does for heavily occluded people).
  float min_visibility = 0.6f;
};

struct TrackingFigures {
  // CLEAR MOT (Bernardin and Stiefelhagen 2008): greedy continuity, then Hungarian matching.
  int truth_boxes = 0;  // visible enough to count
  int hypotheses = 0;   // not on an ignored face
  int matches = 0, misses = 0, false_positives = 0, id_switches = 0;
  double mota = 0;  // 1 - (misses + false positives + switches) / truth boxes
  double motp = 0;  // mean IoU of the matches
  // Identity figures (Ristani et al. 2016): one-to-one matching of whole trajectories.
  int idtp = 0, idfp = 0, idfn = 0;
  double idf1 = 0;
  bool has_ids = false;  // false: the method gives no track ids, so no switches or IDF1
  // Names, at the matched boxes: right (the person's name; for a stranger Unknown or unknown-N),
  // wrong (anything else), pending; and how often the label of a true face changes from one
  // frame where it is matched to the next (pending left out), per true face.
  int named_right = 0, named_wrong = 0, named_pending = 0;
  int label_changes = 0;
  int truth_tracks = 0;
  double flicker() const { return truth_tracks ? double(label_changes) / truth_tracks : 0; }
};

TrackingFigures score_tracking(const TrackingTruth& truth,
                               const std::vector<std::vector<HypothesisBox>>& hypotheses,
                               const ScoringOptions& options = {});

// A person for a synthetic clip: a photo and the face in it.
struct Actor {
  std::string name;  // gallery name, "" for a stranger
  cv::Mat photo;
  cv::Rect2f face;  // as the detector finds it
};

struct SyntheticClipOptions {
  cv::Size size{640, 360};
  double fps = 30;
  double seconds = 8;
  std::uint64_t seed = 1;
  double noise = 4;  // standard deviation of the per-frame sensor noise, grey levels
  int crf = 20;      // H.264 quality of the written clip
};

struct SyntheticClip {
  std::filesystem::path video;
  TrackingTruth truth;
  double fps = 0;
  cv::Size size;
  int crossings = 0, occlusions = 0, exits = 0;  // what the script made happen
};

// Writes a clip with these actors to `path` (H.264 MP4). The script, from the seed: actors walk
// across in both directions and cross each other, one walks behind a pillar, one leaves the
// frame and comes back two seconds later, one stays near a spot. InputError for fewer than two
// actors.
SyntheticClip make_synthetic_clip(const std::vector<Actor>& actors,
                                  const SyntheticClipOptions& options,
                                  const std::filesystem::path& path);

// Actors from a labelled folder DIR/<person>/*: `enrolled` people with enough photos (their
// first `enroll_photos` go to `gallery`, the next one becomes the actor) and `strangers` people
// never enrolled, picked by the seed. The photos' faces are found with `pipeline`'s detector.
std::vector<Actor> cast_actors(const std::filesystem::path& people_dir, Gallery& gallery,
                               const FacePipeline& pipeline, int enrolled, int strangers,
                               int enroll_photos, std::uint64_t seed);

struct TrackingComparison {
  TrackingFigures tracked, per_frame;
  double tracked_fps = 0, per_frame_fps = 0;
};

// Runs `clipface watch` (the Watch pipeline with `options`) and the per-frame loop (detect,
// embed and vote on every face of every frame: Recognizer::identify) on the clip and scores both.
TrackingComparison compare_on_clip(const Gallery& gallery, const FacePipeline& pipeline,
                                   const WatchOptions& options, const SyntheticClip& clip,
                                   const ScoringOptions& scoring = {});

}  // namespace clipface::eval
