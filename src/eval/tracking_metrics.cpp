// CLEAR MOT and IDF1 on boxes, plus the names given to them.
#include <algorithm>
#include <map>
#include <optional>

#include "clipface/assignment.hpp"
#include "clipface/errors.hpp"
#include "clipface/eval/tracking.hpp"
#include "clipface/track_identity.hpp"

namespace clipface::eval {
namespace {

bool is_stranger_label(const std::string& label) {
  return label == kUnknown || label.rfind("unknown-", 0) == 0;
}

// Hungarian matching of rows to columns with IoU >= min_iou; pairs (row, column).
std::vector<std::pair<std::size_t, std::size_t>> match_boxes(const std::vector<cv::Rect2f>& rows,
                                                             const std::vector<cv::Rect2f>& cols,
                                                             float min_iou) {
  std::vector<std::vector<float>> cost(rows.size(), std::vector<float>(cols.size(), 1.0f));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t j = 0; j < cols.size(); ++j) cost[i][j] = 1.0f - box_iou(rows[i], cols[j]);
  }
  std::vector<std::pair<std::size_t, std::size_t>> pairs;
  const auto assigned = min_cost_assignment(cost, 1.0f - min_iou);
  for (std::size_t i = 0; i < assigned.size(); ++i) {
    if (assigned[i] >= 0) pairs.emplace_back(i, static_cast<std::size_t>(assigned[i]));
  }
  return pairs;
}

}  // namespace

TrackingFigures score_tracking(const TrackingTruth& truth,
                               const std::vector<std::vector<HypothesisBox>>& hypotheses,
                               const ScoringOptions& options) {
  if (hypotheses.size() != truth.frames.size()) {
    throw InputError("score_tracking: " + std::to_string(hypotheses.size()) +
                     " frames of hypotheses for " + std::to_string(truth.frames.size()) +
                     " frames of truth");
  }
  TrackingFigures f;
  for (const auto& frame : hypotheses) {
    for (const auto& h : frame) f.has_ids |= h.track >= 0;
  }
  std::map<int, std::int64_t> previous_match, last_id;  // person -> hypothesis track
  std::map<int, std::string> last_label;
  std::map<std::pair<int, std::int64_t>, int> together;  // IDF1: frames a pair overlaps
  std::map<int, int> boxes_of_person;
  double iou_sum = 0;

  for (std::size_t n = 0; n < truth.frames.size(); ++n) {
    const auto& gts = truth.frames[n];
    const auto& hyps = hypotheses[n];
    std::vector<std::size_t> counted, ignored;
    for (std::size_t i = 0; i < gts.size(); ++i) {
      (gts[i].visibility >= options.min_visibility ? counted : ignored).push_back(i);
    }
    std::vector<int> gt_match(gts.size(), -1);  // hypothesis index
    std::vector<bool> hyp_used(hyps.size(), false);
    // 1. Continuity: last frame's correspondences that still overlap enough.
    if (f.has_ids) {
      for (std::size_t i : counted) {
        const auto prev = previous_match.find(gts[i].person);
        if (prev == previous_match.end()) continue;
        for (std::size_t j = 0; j < hyps.size(); ++j) {
          if (!hyp_used[j] && hyps[j].track == prev->second &&
              box_iou(gts[i].box, hyps[j].box) >= options.min_iou) {
            gt_match[i] = static_cast<int>(j);
            hyp_used[j] = true;
            break;
          }
        }
      }
    }
    // 2. The rest by the Hungarian method.
    std::vector<std::size_t> gt_rest, hyp_rest;
    for (std::size_t i : counted) {
      if (gt_match[i] < 0) gt_rest.push_back(i);
    }
    for (std::size_t j = 0; j < hyps.size(); ++j) {
      if (!hyp_used[j]) hyp_rest.push_back(j);
    }
    auto boxes = [](const auto& items, const std::vector<std::size_t>& idx) {
      std::vector<cv::Rect2f> out;
      for (std::size_t k : idx) out.push_back(items[k].box);
      return out;
    };
    for (auto [a, b] : match_boxes(boxes(gts, gt_rest), boxes(hyps, hyp_rest), options.min_iou)) {
      gt_match[gt_rest[a]] = static_cast<int>(hyp_rest[b]);
      hyp_used[hyp_rest[b]] = true;
    }
    // 3. Hypotheses on faces too hidden to count are neither right nor wrong.
    hyp_rest.clear();
    for (std::size_t j = 0; j < hyps.size(); ++j) {
      if (!hyp_used[j]) hyp_rest.push_back(j);
    }
    std::vector<bool> hyp_ignored(hyps.size(), false);
    for (auto [a, b] : match_boxes(boxes(gts, ignored), boxes(hyps, hyp_rest), options.min_iou)) {
      (void)a;
      hyp_ignored[hyp_rest[b]] = true;
    }

    previous_match.clear();
    f.truth_boxes += static_cast<int>(counted.size());
    for (std::size_t j = 0; j < hyps.size(); ++j) {
      if (hyp_ignored[j]) continue;
      ++f.hypotheses;
      if (!hyp_used[j]) ++f.false_positives;
    }
    for (std::size_t i : counted) {
      const int person = gts[i].person;
      ++boxes_of_person[person];
      if (f.has_ids) {
        for (const auto& h : hyps) {
          if (h.track >= 0 && box_iou(gts[i].box, h.box) >= options.min_iou) {
            ++together[{person, h.track}];
          }
        }
      }
      if (gt_match[i] < 0) {
        ++f.misses;
        continue;
      }
      const HypothesisBox& h = hyps[static_cast<std::size_t>(gt_match[i])];
      ++f.matches;
      iou_sum += box_iou(gts[i].box, h.box);
      if (f.has_ids) {
        const auto last = last_id.find(person);
        if (last != last_id.end() && last->second != h.track) ++f.id_switches;
        last_id[person] = h.track;
        previous_match[person] = h.track;
      }
      const std::string& name = truth.names.at(static_cast<std::size_t>(person));
      if (h.label == kPending) {
        ++f.named_pending;
        continue;
      }
      const bool right = name.empty() ? is_stranger_label(h.label) : h.label == name;
      ++(right ? f.named_right : f.named_wrong);
      const auto previous = last_label.find(person);
      if (previous != last_label.end() && previous->second != h.label) ++f.label_changes;
      last_label[person] = h.label;
    }
  }
  f.truth_tracks = static_cast<int>(boxes_of_person.size());
  f.mota = f.truth_boxes
               ? 1.0 - double(f.misses + f.false_positives + f.id_switches) / f.truth_boxes
               : 0.0;
  f.motp = f.matches ? iou_sum / f.matches : 0.0;
  if (f.has_ids) {
    // IDF1: the one-to-one pairing of true and hypothesised trajectories that overlap longest.
    std::vector<int> people;
    std::vector<std::int64_t> tracks;
    for (const auto& [key, count] : together) {
      if (std::find(people.begin(), people.end(), key.first) == people.end())
        people.push_back(key.first);
      if (std::find(tracks.begin(), tracks.end(), key.second) == tracks.end())
        tracks.push_back(key.second);
    }
    std::vector<std::vector<float>> cost(people.size(), std::vector<float>(tracks.size(), 0.0f));
    for (std::size_t i = 0; i < people.size(); ++i) {
      for (std::size_t j = 0; j < tracks.size(); ++j) {
        const auto it = together.find({people[i], tracks[j]});
        cost[i][j] = it == together.end() ? 0.0f : -static_cast<float>(it->second);
      }
    }
    const auto assigned = min_cost_assignment(cost, -0.5f);  // pairs that overlap at all
    for (std::size_t i = 0; i < assigned.size(); ++i) {
      if (assigned[i] >= 0)
        f.idtp += static_cast<int>(-cost[i][static_cast<std::size_t>(assigned[i])]);
    }
    f.idfn = f.truth_boxes - f.idtp;
    f.idfp = f.hypotheses - f.idtp;
    const int denominator = 2 * f.idtp + f.idfp + f.idfn;
    f.idf1 = denominator ? 2.0 * f.idtp / denominator : 0.0;
  }
  return f;
}

}  // namespace clipface::eval
