#include <algorithm>

#include "clipface/errors.hpp"
#include "clipface/track_identity.hpp"

namespace clipface {

float face_evidence(float side, float frontal, const IdentityOptions& options) {
  const float size = std::min(1.0f, side / options.full_side);
  return size * (0.25f + 0.75f * std::clamp(frontal, 0.0f, 1.0f));
}

LabelVote::LabelVote(float threshold, const IdentityOptions& options)
    : threshold_(threshold), options_(options) {
  if (threshold <= 0) throw InputError("label vote: the threshold must be positive");
  if (options.min_evidence < 1 || options.decide_ratio < 1 || options.switch_ratio < 1 ||
      options.memory <= 0 || options.memory > 1 || options.full_side <= 0 ||
      options.min_weight < 0 || options.unknown_weight <= 0) {
    throw InputError(
        "label vote: min_evidence >= 1, decide and switch ratios >= 1, 0 < memory <= 1, "
        "full_side > 0, min_weight >= 0, unknown_weight > 0");
  }
}

float LabelVote::weight(const Decision& decision, float face_weight) const {
  // Distance of the deciding evidence: the winner's nearest voter, or the nearest stranger.
  const float distance =
      decision.known() || decision.score > 0 ? l2_from_cosine(decision.score) : 2.0f;
  float margin = 0, kind = 1;
  if (decision.known()) {
    margin = (threshold_ - distance) / threshold_;
  } else {
    if (decision.voters > 0) return 0;  // a tied vote: neighbours within the threshold disagree
    margin = (distance - threshold_) / threshold_;
    kind = options_.unknown_weight;
  }
  // A small floor: a face right at the threshold still counts a little (it did decide).
  return face_weight * kind * (0.05f + 0.95f * std::clamp(margin, 0.0f, 1.0f));
}

bool LabelVote::add(const Decision& decision, float face_weight) {
  ++faces_;
  const float w = weight(decision, face_weight);
  for (auto& [label, tally] : tallies_) {
    tally.weight *= options_.memory;
    tally.weighted_cosine *= options_.memory;
  }
  if (w > 0) {
    Tally& t = tallies_[decision.label];
    t.weight += w;
    t.weighted_cosine += w * decision.score;
    t.best_cosine = std::max(t.best_cosine, decision.score);
    ++t.faces;
  }
  // Leader and runner-up by weight.
  const Tally* leader = nullptr;
  const std::string* leader_label = nullptr;
  float runner_up = 0;
  for (const auto& [label, tally] : tallies_) {
    if (!leader || tally.weight > leader->weight) {
      if (leader) runner_up = std::max(runner_up, leader->weight);
      leader = &tally;
      leader_label = &label;
    } else {
      runner_up = std::max(runner_up, tally.weight);
    }
  }
  if (!leader || leader->weight <= 0 || *leader_label == label_) return false;
  if (!decided() || label_ == kUnknown) {
    if (leader->faces < options_.min_evidence || leader->weight < options_.min_weight ||
        leader->weight < options_.decide_ratio * runner_up) {
      return false;  // not enough good faces for it yet, or a tie
    }
  } else {
    const auto current = tallies_.find(label_);
    const float held = current == tallies_.end() ? 0 : current->second.weight;
    if (leader->weight < options_.switch_ratio * held || leader->faces < options_.switch_evidence) {
      return false;  // hysteresis: the decided label holds
    }
  }
  label_ = *leader_label;
  return true;
}

float LabelVote::score() const {
  const auto it = tallies_.find(label_);
  if (!decided() || it == tallies_.end() || it->second.weight <= 0) return 0;
  return it->second.weighted_cosine / it->second.weight;
}

float LabelVote::best_score() const {
  const auto it = tallies_.find(label_);
  return decided() && it != tallies_.end() ? it->second.best_cosine : 0;
}

int LabelVote::faces_for(const std::string& label) const {
  const auto it = tallies_.find(label);
  return it == tallies_.end() ? 0 : it->second.faces;
}

}  // namespace clipface
