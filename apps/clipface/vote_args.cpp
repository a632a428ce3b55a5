#include "vote_args.hpp"

namespace clipface::app {

void VoteArgs::add_to(CLI::App& app) {
  app.add_option("--k1", k1, "first-round voters (default per embedder)");
  app.add_option("--k2", k2, "neighbours considered when the first round has no winner");
  app.add_option("--threshold", threshold,
                 "largest L2 distance between unit vectors that may vote (1.0 = cosine 0.5)");
}

KnnVote VoteArgs::rule(const Gallery& gallery) const {
  KnnVote rule = gallery.vote_rule();  // calibrated when the gallery has a calibration
  if (k1 > 0) rule.k1 = k1;
  if (k2 > 0) rule.k2 = k2;
  if (rule.k2 < rule.k1) rule.k2 = rule.k1;
  if (threshold >= 0) {
    rule.threshold = threshold;  // one threshold for everyone, as asked
    rule.person_thresholds.clear();
  }
  return rule;
}

}  // namespace clipface::app
