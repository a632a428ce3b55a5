// Faces linked across the frames of one source: a ByteTrack-style tracker (Zhang et al. 2022).
// Each frame, tracks predicted by a constant-velocity Kalman filter are matched to confident
// detections by IoU (Hungarian method); tracks left over get a second chance with the weak
// detections, which are often the same face half-occluded or blurred and would otherwise break
// the track. Motion and overlap only: re-identification by face embedding, which keeps a person's
// identity across longer gaps, is the identity stage's job (track_identity.hpp).
//
// Life cycle: a new track is tentative until it has been matched in `confirm_hits` consecutive
// frames (a tentative track that misses a frame is dropped: a false detection); confirmed tracks
// that miss frames are lost, kept (and matched again) for up to `lost_frames`, then removed.
#pragma once

#include <cstdint>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "clipface/detect.hpp"

namespace clipface {

enum class TrackState { tentative, confirmed, lost, removed };
std::string to_string(TrackState state);

struct TrackerOptions {
  float high_score = 0.6f;       // detections at least this confident: first association
  float low_score = 0.3f;        // detections in [low_score, high_score): second association only
  float new_track_score = 0.7f;  // an unmatched detection starts a track from this score on
  float match_iou = 0.2f;        // first association: least IoU of prediction and detection
  float low_match_iou = 0.5f;    // second association (weak detections need more overlap)
  float tentative_match_iou = 0.3f;
  int confirm_hits = 3;  // consecutive matched frames that confirm a track
  int lost_frames = 30;  // frames a lost track waits to be matched again, then removed
  // A lost track this close to a live track that started after it was lost is the same face
  // found again: dropped.
  float duplicate_iou = 0.85f;
};

struct TrackedFace {
  std::int64_t id = 0;  // unique per tracker, from 1
  TrackState state = TrackState::tentative;
  bool matched = false;  // detected in this frame (else: lost or just removed, box predicted)
  int detection = -1;    // index of its detection in this frame's list, -1 when not matched
  Face face;             // that detection (box, landmarks, score) when matched
  cv::Rect2f box;        // the filter's estimate (the detection's box smoothed, or predicted)
  cv::Point2f velocity;  // of the box centre, pixels per frame
  int hits = 0;          // frames in which it was matched
  std::int64_t first_frame = 0, last_frame = 0;  // first and last matched frame
};

class Tracker {
 public:
  explicit Tracker(TrackerOptions options = {});
  ~Tracker();
  Tracker(Tracker&&) noexcept;
  Tracker& operator=(Tracker&&) noexcept;

  // Moves to frame `frame` (greater than the last; a gap means frames were skipped or dropped:
  // motion is predicted over it) and associates its detections. Returns the tentative, confirmed
  // and lost tracks, followed by those removed in this update (state removed, reported once).
  std::vector<TrackedFace> update(const std::vector<Face>& detections, std::int64_t frame);

  const TrackerOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// How useful a detected face is for recognition, to decide when a track's face is clearly
// better than the one last embedded: larger (up to what embedders look at), sharper (variance of
// the Laplacian at a fixed scale) and more frontal (nose between the eyes).
// (Cheaper than quality.hpp's FaceQuality, which enrollment uses: no aligned crop, once per frame.)
struct TrackFaceQuality {
  float side = 0;       // sqrt(box area), pixels
  float sharpness = 0;  // 0 (blurred) .. 1 (sharp)
  float frontal = 0;    // 0 (profile) .. 1 (frontal)
  // The product of a size term (side / 160, at most 1) with the sharpness and frontal terms,
  // each mapped to 0.5 .. 1 so that neither alone can zero it.
  float score() const;
};
TrackFaceQuality face_quality(const cv::Mat& image, const Face& face);

}  // namespace clipface
