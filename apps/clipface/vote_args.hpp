// --k1, --k2, --threshold: the gallery vote's options (identify, watch), and the one place that
// turns a gallery's defaults plus these overrides into the rule.
#pragma once

#include <CLI/CLI.hpp>

#include "clipface/classify.hpp"
#include "clipface/gallery.hpp"

namespace clipface::app {

struct VoteArgs {
  int k1 = 0, k2 = 0;    // 0 = the gallery's default
  float threshold = -1;  // < 0 = the gallery's default

  void add_to(CLI::App& app);
  // The gallery's vote rule (Gallery::vote_rule(): calibrated, else default_vote() of its
  // model), with the options given.
  KnnVote rule(const Gallery& gallery) const;
};

}  // namespace clipface::app
