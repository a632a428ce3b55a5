#include <algorithm>
#include <cmath>
#include <string>

#include "clipface/classify.hpp"
#include "clipface/embedder.hpp"
#include "clipface/errors.hpp"

namespace clipface {
namespace {

struct Tally {
  const std::string* person;
  int votes;
  float best_cosine;
  float cosine_sum;
};

// One voting round over the first `limit` neighbours within the threshold. Returns true and fills
// `decision` when one person has strictly more votes than any other.
bool vote_round(std::span<const Neighbor> neighbors, std::size_t limit, const KnnVote& rule,
                Decision& decision) {
  // k is small (ten or so): a flat list beats a map and allocates once.
  std::vector<Tally> tallies;
  tallies.reserve(std::min(limit, neighbors.size()));
  int voters = 0;
  for (std::size_t i = 0; i < neighbors.size() && i < limit; ++i) {
    const Neighbor& n = neighbors[i];
    if (!(n.l2 <= rule.threshold_for(n.person))) continue;  // NaN never votes
    ++voters;
    auto it = std::find_if(tallies.begin(), tallies.end(),
                           [&](const Tally& t) { return *t.person == n.person; });
    if (it == tallies.end()) {
      tallies.push_back({&n.person, 1, n.cosine, n.cosine});
    } else {
      ++it->votes;
      it->best_cosine = std::max(it->best_cosine, n.cosine);
      it->cosine_sum += n.cosine;
    }
  }
  decision.voters = voters;
  const Tally* top = nullptr;
  bool tie = false;
  for (const Tally& t : tallies) {
    if (!top || t.votes > top->votes) {
      top = &t;
      tie = false;
    } else if (t.votes == top->votes) {
      tie = true;
    }
  }
  if (!top || tie) return false;
  decision.label = *top->person;
  decision.votes = top->votes;
  decision.score = top->best_cosine;
  decision.mean_cosine = top->cosine_sum / static_cast<float>(top->votes);
  return true;
}

}  // namespace

void validate(const KnnVote& rule) {
  if (rule.k1 < 1 || rule.k2 < rule.k1) {
    throw InputError("invalid vote: need 1 <= k1 <= k2, got k1=" + std::to_string(rule.k1) +
                     " k2=" + std::to_string(rule.k2));
  }
  if (!(rule.threshold >= 0)) {
    throw InputError("invalid vote: threshold must be >= 0, got " + std::to_string(rule.threshold));
  }
  for (const auto& [person, threshold] : rule.person_thresholds) {
    if (!(threshold >= 0)) {
      throw InputError("invalid vote: threshold of " + person + " must be >= 0, got " +
                       std::to_string(threshold));
    }
  }
}

Decision decide(const KnnVote& rule, std::span<const Neighbor> nearest_first) {
  Decision decision;
  if (!nearest_first.empty()) {
    decision.nearest = nearest_first.front().person;
    decision.score = nearest_first.front().cosine;
  }
  const float unknown_score = decision.score;
  if (vote_round(nearest_first, static_cast<std::size_t>(std::max(rule.k1, 0)), rule, decision)) {
    return decision;
  }
  decision.widened = true;
  if (vote_round(nearest_first, static_cast<std::size_t>(std::max(rule.k2, 0)), rule, decision)) {
    return decision;
  }
  decision.score = unknown_score;
  return decision;
}

KnnVote default_vote(const EmbedderInfo& info) {
  if (info.name.rfind("dlib", 0) == 0) return KnnVote{3, 5, 0.35f};
  if (info.name == "mobileface") return KnnVote{3, 5, 1.03f};
  return KnnVote{3, 5, 0.8f};
}

}  // namespace clipface
