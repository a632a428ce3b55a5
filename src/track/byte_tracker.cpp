// ByteTrack's association (BYTETracker.update in the authors' code), on faces.
#include <algorithm>
#include <optional>

#include "clipface/assignment.hpp"
#include "clipface/errors.hpp"
#include "clipface/track.hpp"
#include "track/kalman.hpp"

namespace clipface {

std::string to_string(TrackState state) {
  switch (state) {
    case TrackState::tentative:
      return "tentative";
    case TrackState::confirmed:
      return "confirmed";
    case TrackState::lost:
      return "lost";
    case TrackState::removed:
      return "removed";
  }
  return "?";
}

namespace {

struct Track {
  std::int64_t id;
  TrackState state;
  detail::BoxKalman filter;
  Face face;
  int detection = -1;
  int hits = 1;
  std::int64_t first_frame, last_frame;
};

// Indices of `tracks` and `dets` matched by the Hungarian method on 1 - IoU of the predicted box
// and the detection, pairs below `min_iou` excluded.
std::vector<std::pair<std::size_t, std::size_t>> associate(const std::vector<Track*>& tracks,
                                                           const std::vector<const Face*>& dets,
                                                           float min_iou) {
  std::vector<std::vector<float>> cost(tracks.size(), std::vector<float>(dets.size(), 1.0f));
  for (std::size_t i = 0; i < tracks.size(); ++i) {
    const cv::Rect2f predicted = tracks[i]->filter.box();
    for (std::size_t j = 0; j < dets.size(); ++j)
      cost[i][j] = 1.0f - box_iou(predicted, dets[j]->box);
  }
  const std::vector<int> assigned = min_cost_assignment(cost, 1.0f - min_iou);
  std::vector<std::pair<std::size_t, std::size_t>> pairs;
  for (std::size_t i = 0; i < assigned.size(); ++i) {
    if (assigned[i] >= 0) pairs.emplace_back(i, static_cast<std::size_t>(assigned[i]));
  }
  return pairs;
}

}  // namespace

struct Tracker::Impl {
  TrackerOptions options;
  std::vector<Track> tracks;  // tentative, confirmed and lost
  std::int64_t next_id = 1;
  std::optional<std::int64_t> last_frame;

  static TrackedFace report(const Track& t) {
    TrackedFace out;
    out.id = t.id;
    out.state = t.state;
    out.detection = t.detection;
    out.matched = t.detection >= 0;
    if (out.matched) out.face = t.face;
    out.box = t.filter.box();
    out.velocity = t.filter.velocity();
    out.hits = t.hits;
    out.first_frame = t.first_frame;
    out.last_frame = t.last_frame;
    return out;
  }

  void match(Track& t, const Face& face, int index, std::int64_t frame) {
    t.filter.update(face.box);
    t.face = face;
    t.detection = index;
    t.last_frame = frame;
    ++t.hits;
    if (t.state == TrackState::lost) t.state = TrackState::confirmed;
  }

  std::vector<TrackedFace> update(const std::vector<Face>& detections, std::int64_t frame) {
    if (last_frame && frame <= *last_frame) {
      throw InputError("tracker: frame " + std::to_string(frame) + " after frame " +
                       std::to_string(*last_frame));
    }
    const double steps = last_frame ? static_cast<double>(frame - *last_frame) : 1.0;
    last_frame = frame;
    for (Track& t : tracks) {
      t.filter.predict(steps);
      t.detection = -1;
    }
    std::vector<const Face*> high, low;
    std::vector<int> high_index, low_index;
    for (std::size_t i = 0; i < detections.size(); ++i) {
      const float s = detections[i].score;
      if (s >= options.high_score) {
        high.push_back(&detections[i]);
        high_index.push_back(static_cast<int>(i));
      } else if (s >= options.low_score) {
        low.push_back(&detections[i]);
        low_index.push_back(static_cast<int>(i));
      }
    }

    // 1. Confirmed and lost tracks with the confident detections.
    std::vector<Track*> pool, tentative;
    for (Track& t : tracks) (t.state == TrackState::tentative ? tentative : pool).push_back(&t);
    std::vector<bool> high_used(high.size(), false), pool_matched(pool.size(), false);
    for (auto [i, j] : associate(pool, high, options.match_iou)) {
      match(*pool[i], *high[j], high_index[j], frame);
      pool_matched[i] = high_used[j] = true;
    }
    // 2. Confirmed tracks still unmatched with the weak detections (lost ones would be too
    // easily pulled onto background clutter).
    std::vector<Track*> remaining;
    for (std::size_t i = 0; i < pool.size(); ++i) {
      if (!pool_matched[i] && pool[i]->state == TrackState::confirmed) remaining.push_back(pool[i]);
    }
    std::vector<bool> remaining_matched(remaining.size(), false);
    for (auto [i, j] : associate(remaining, low, options.low_match_iou)) {
      match(*remaining[i], *low[j], low_index[j], frame);
      remaining_matched[i] = true;
    }
    for (std::size_t i = 0; i < remaining.size(); ++i) {
      if (!remaining_matched[i]) remaining[i]->state = TrackState::lost;
    }
    // 3. Tentative tracks with the confident detections left; a miss ends them.
    std::vector<const Face*> left;
    std::vector<int> left_index;
    for (std::size_t j = 0; j < high.size(); ++j) {
      if (!high_used[j]) {
        left.push_back(high[j]);
        left_index.push_back(high_index[j]);
      }
    }
    std::vector<bool> left_used(left.size(), false), tentative_matched(tentative.size(), false);
    for (auto [i, j] : associate(tentative, left, options.tentative_match_iou)) {
      Track& t = *tentative[i];
      match(t, *left[j], left_index[j], frame);
      if (t.hits >= options.confirm_hits) t.state = TrackState::confirmed;
      tentative_matched[i] = left_used[j] = true;
    }
    for (std::size_t i = 0; i < tentative.size(); ++i) {
      if (!tentative_matched[i]) tentative[i]->state = TrackState::removed;
    }
    // 4. New tracks from the confident detections nobody claimed.
    for (std::size_t j = 0; j < left.size(); ++j) {
      if (left_used[j] || left[j]->score < options.new_track_score) continue;
      Track t{next_id++,
              options.confirm_hits <= 1 ? TrackState::confirmed : TrackState::tentative,
              detail::BoxKalman(left[j]->box),
              *left[j],
              left_index[j],
              1,
              frame,
              frame};
      tracks.push_back(std::move(t));
    }
    // 5. Lost too long, or lost and duplicated by a track that started after it was lost (the
    // face found again as a new track): removed. A lost track under an older live one is a face
    // hidden behind another, which must wait.
    for (Track& t : tracks) {
      if (t.state == TrackState::lost && frame - t.last_frame > options.lost_frames) {
        t.state = TrackState::removed;
      }
    }
    for (Track& lost : tracks) {
      if (lost.state != TrackState::lost) continue;
      for (const Track& live : tracks) {
        if (live.state == TrackState::confirmed && live.detection >= 0 &&
            live.first_frame > lost.last_frame &&
            box_iou(lost.filter.box(), live.filter.box()) > options.duplicate_iou) {
          lost.state = TrackState::removed;
          break;
        }
      }
    }

    std::vector<TrackedFace> out, removed;
    for (const Track& t : tracks)
      (t.state == TrackState::removed ? removed : out).push_back(report(t));
    out.insert(out.end(), removed.begin(), removed.end());
    std::erase_if(tracks, [](const Track& t) { return t.state == TrackState::removed; });
    return out;
  }
};

Tracker::Tracker(TrackerOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.confirm_hits < 1 || options.lost_frames < 0 ||
      options.low_score > options.high_score) {
    throw InputError("tracker: confirm_hits >= 1, lost_frames >= 0 and low_score <= high_score");
  }
  impl_->options = options;
}
Tracker::~Tracker() = default;
Tracker::Tracker(Tracker&&) noexcept = default;
Tracker& Tracker::operator=(Tracker&&) noexcept = default;

std::vector<TrackedFace> Tracker::update(const std::vector<Face>& detections, std::int64_t frame) {
  return impl_->update(detections, frame);
}

const TrackerOptions& Tracker::options() const {
  return impl_->options;
}

}  // namespace clipface
