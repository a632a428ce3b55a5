// Grid search over the identify classifier (k1/k2 vote with an L2 threshold, classify.hpp), the
// protocol of the CLIP + FAISS paper. Neighbours are searched once (k up to max k2); each grid
// point then only re-runs the vote on integer labels, so a full grid over thousands of queries
// takes seconds. The fast vote implements exactly clipface::decide() (a test checks them equal).
//
// Counting (one-vs-rest over the enrolled people, summed over them: micro-averaged):
//   prediction = enrolled person P, truth = P               -> TP for P
//   prediction = P, truth = another person Q (enrolled or not) -> FP for P, and FN for Q when Q
//                                                              is enrolled
//   prediction = Unknown, truth = enrolled Q                -> FN for Q
//   prediction = Unknown, truth = a person never enrolled   -> correct rejection
//   TN: for each query, every enrolled person that is neither the prediction nor the truth
//       (so a correct rejection adds one TN for every enrolled person).
// precision = TP / (TP + FP), recall = TP / (TP + FN), f1 their harmonic mean (0 when undefined).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "clipface/classify.hpp"
#include "clipface/eval/split.hpp"
#include "clipface/matrix.hpp"

namespace clipface::eval {

struct Counts {
  std::int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  double precision() const;
  double recall() const;
  double f1() const;
};

struct GridPoint {
  int k1 = 0;
  int k2 = 0;
  float threshold = 0;
  Counts counts;
};

struct GridSpec {
  int k1_min = 1, k1_max = 9;
  int k2_min = 2, k2_max = 10;
  float threshold_min = 0.50f, threshold_max = 1.00f, threshold_step = 0.01f;
  std::vector<float> thresholds() const;  // inclusive, rounded to the step
  int max_k() const { return k2_max; }
};
// InputError unless 0 <= min <= max <= 2 (unit vectors are at most 2 apart), step > 0 and the
// range holds at most 2,000 thresholds.
void validate(const GridSpec& spec);

// Validation queries with their precomputed neighbours among the enrolled rows.
struct GridData {
  std::size_t queries = 0;
  std::size_t k = 0;
  int enrolled_people = 0;
  std::vector<int> truth;            // per query: person id, or -1 when not enrolled
  std::vector<int> neighbour_label;  // queries * k person ids (-1 padding)
  std::vector<float> neighbour_l2;   // queries * k L2 distances (inf padding)
  std::vector<std::string> people;   // id -> name (enrolled people only)
};

// `labels`: dense ids per row; `names`: id -> name. Searches every validation row's max_k
// nearest enrolled rows. Throws InputError when nothing is enrolled or validated.
GridData prepare_grid(const Matrix& embeddings, const std::vector<int>& labels,
                      const std::vector<std::string>& names, const Split& split, std::size_t max_k);

// Predicted person id per query (-1 = Unknown) under one rule, using the fast integer vote.
std::vector<int> predict(const GridData& data, const KnnVote& rule);

// The same decisions through clipface::decide(), for checking and for single points.
std::vector<Decision> decide_all(const GridData& data, const KnnVote& rule);

Counts count_one_vs_rest(const std::vector<int>& truth, const std::vector<int>& predicted,
                         int enrolled_people);

// Every (k1 < k2, threshold) point of the spec, in k1, k2, threshold order.
std::vector<GridPoint> run_grid(const GridData& data, const GridSpec& spec);

// Highest F1; ties go to the earlier point.
const GridPoint& best_point(const std::vector<GridPoint>& points);

// grid_search_results.csv: k1,k2,threshold,precision,recall,f1,tp,fp,tn,fn. A non-empty
// `warning` is written first as a '#' comment line. Throws InputError naming the file.
void write_grid_csv(const std::filesystem::path& path, const std::vector<GridPoint>& points,
                    const std::string& warning = {});

nlohmann::json to_json(const GridPoint& point);

}  // namespace clipface::eval
