// LFW verification from a standard pairs file, both formats:
//   View 2 `pairs.txt`: a header "FOLDS N", then per fold N same-person lines `name i j` and N
//     different-person lines `name1 i name2 j`. Accuracy is the mean (and sample standard
//     deviation) over folds, each fold's threshold chosen on the other folds.
//   View 1 `pairsDevTrain.txt` / `pairsDevTest.txt`: the official files start with a count line
//     ("1100"), some copies have none; each line is read by its field count (3 = same, 4 =
//     different). The threshold is chosen on the train file and applied to the test file.
// Lines are whitespace separated. Image path: DIR/NAME/NAME_%04d.jpg.
// Scores are cosine similarities (higher = more alike); a pair whose image has no embedding
// scores kMissingScore, below any cosine, so it is always decided "different".
#pragma once

#include <cstddef>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace clipface::eval {

struct FacePair {
  std::string name_a;
  int index_a = 0;
  std::string name_b;
  int index_b = 0;
  bool same = false;
  int fold = 0;
};

struct PairsFile {
  bool view2 = false;  // true when the "FOLDS N" header was found
  int folds = 1;
  int per_fold = 0;  // View 2: same (= different) pairs per fold
  std::vector<FacePair> pairs;
};

// Throws InputError naming the file and line for anything malformed (wrong field counts, bad
// numbers, a View 2 file whose pair count does not match its header).
PairsFile read_pairs(const std::filesystem::path& path);

std::filesystem::path lfw_image_path(const std::filesystem::path& dir, const std::string& name,
                                     int index);

inline constexpr float kMissingScore = -2.0f;

// Fraction of pairs decided right with "same" = score >= threshold.
double accuracy_at(const std::vector<float>& scores, const std::vector<bool>& same,
                   float threshold);
// The threshold with the best accuracy on these pairs (midpoint between neighbouring scores).
float best_threshold(const std::vector<float>& scores, const std::vector<bool>& same);

struct RocPoint {
  double far = 0;  // false accept rate: different pairs at or above the threshold
  double tar = 0;  // true accept rate: same pairs at or above the threshold
  float threshold = 0;
};
// From the strictest threshold to the most lenient; starts at (0, 0).
std::vector<RocPoint> roc_curve(const std::vector<float>& scores, const std::vector<bool>& same);
// Area under the ROC curve (Mann-Whitney: ties count one half). Needs both kinds of pair.
double roc_auc(const std::vector<float>& scores, const std::vector<bool>& same);
// Largest TAR with FAR <= far (thresholds at the observed scores); the threshold goes to *used.
double tar_at_far(const std::vector<float>& scores, const std::vector<bool>& same, double far,
                  float* used = nullptr);

struct VerificationResult {
  bool view2 = false;
  std::size_t pairs = 0;
  std::size_t missing_pairs = 0;  // pairs with an image that has no embedding
  double accuracy = 0;            // View 1: on the test pairs; View 2: mean over folds
  double accuracy_std = 0;        // View 2 only
  std::vector<double> fold_accuracy;
  std::vector<float> fold_threshold;
  float threshold = 0;  // View 1: chosen on train; View 2: on all folds (for show)
  double auc = 0;       // on the evaluated pairs (View 1 test; View 2 all)
  double tar_at_far_1e3 = 0;
  float tar_threshold = 0;
  double train_accuracy = 0;  // View 1: on the pairs the threshold was chosen on
};

// View 2: the ten-fold protocol over one file's scores.
VerificationResult verify_folds(const PairsFile& file, const std::vector<float>& scores);
// View 1: threshold from the train scores, accuracy, AUC and TAR on the test scores.
VerificationResult verify_train_test(const PairsFile& train, const std::vector<float>& train_scores,
                                     const PairsFile& test, const std::vector<float>& test_scores);

nlohmann::json to_json(const VerificationResult& result);

}  // namespace clipface::eval
