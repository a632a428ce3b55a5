// Scalability, the two tests of the CLIP + FAISS paper, as the number of people grows: load time
// (embedding every image of those people + building the index) and recognition metrics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <vector>

#include "clipface/classify.hpp"
#include "clipface/eval/dataset.hpp"

namespace clipface::eval {

struct ScalePoint {
  std::size_t people = 0;
  std::size_t images = 0;
  double embed_seconds = 0;   // sum of the per-image detection + embedding times (as computed,
                              // cached images count with the time measured when they were made)
  double index_seconds = 0;   // building an exact FAISS index of the enrolled rows (measured now)
  double top1 = 0, top5 = 0;  // retrieval protocol among these people
  double identify_f1 = 0;     // k1/k2 vote on a per-person split, with the given rule
  double identify_accuracy = 0;  // validation queries named correctly
};

// 5, 10, 20, 40, ... below `people`, then `people` itself.
std::vector<std::size_t> default_people_counts(std::size_t people);

// People are taken in a seeded order (the same order for every count, so each set contains the
// smaller ones). Counts larger than the number of people are dropped.
std::vector<ScalePoint> evaluate_scale(const EmbeddedSet& set,
                                       const std::vector<std::size_t>& counts, const KnnVote& rule,
                                       double enroll_fraction, std::uint64_t seed);

nlohmann::json to_json(const ScalePoint& point);

}  // namespace clipface::eval
