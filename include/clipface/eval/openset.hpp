// Open-set deployment, after "CLIP Unreasonable Potential in Single-Shot Face Recognition" (Luu,
// 2024): some people are enrolled (a few shots each), others are never seen; every probe gets a
// label and a confidence, and a confidence below the threshold (default 0.80) means "not
// recognised". The paper's full text was not available while writing this, so the definitions
// are ours, stated here and printed with every result (they follow the usual open-set
// identification terms):
//   genuine probe  = an image of an enrolled person (not one of the enrolled shots)
//   impostor probe = an image of a person never enrolled
//   accepted       = confidence >= threshold and a label other than Unknown
//   accuracy = (genuine accepted with the right name + impostors not accepted) / all probes
//   FPR      = impostors accepted (given some enrolled name) / impostor probes
//   FNR      = genuine probes not accepted with their right name (rejected or misnamed) /
//              genuine probes
//   misidentified (reported apart, included in FNR) = genuine accepted with a wrong name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "clipface/classify.hpp"
#include "clipface/matrix.hpp"

namespace clipface::eval {

struct Prediction {
  std::string label = kUnknown;
  float confidence = 0;  // in [0, 1]; what it means depends on the classifier
};

// Anything that names an embedding: the kNN gallery vote here, the fine-tuned prompt classifier
// (issue 6) later. Thresholding on confidence is the protocol's job, not the classifier's.
class IdentityClassifier {
 public:
  virtual ~IdentityClassifier() = default;
  virtual std::string name() const = 0;
  virtual std::string confidence_meaning() const = 0;  // one sentence, printed with results
  virtual std::vector<Prediction> predict(const Matrix& embeddings) const = 0;
};

// The k1/k2 vote over exact neighbours among enrolled embeddings. Confidence = the cosine of the
// winner's nearest voting neighbour (Decision::score), clamped to [0, 1]; Unknown gets 0. The
// default rule is the nearest neighbour with every neighbour allowed to vote (threshold 2.0), so
// that the confidence threshold alone decides "not recognised".
class KnnClassifier final : public IdentityClassifier {
 public:
  KnnClassifier(Matrix enrolled, std::vector<std::string> people, KnnVote rule = {1, 1, 2.0f});
  std::string name() const override;
  std::string confidence_meaning() const override;
  std::vector<Prediction> predict(const Matrix& embeddings) const override;

 private:
  Matrix enrolled_;
  std::vector<std::string> people_;
  KnnVote rule_;
};

struct OpenSetSplit {
  std::vector<std::size_t> enrolled;  // gallery rows (the shots)
  std::vector<std::size_t> genuine;   // probes of enrolled people
  std::vector<std::size_t> impostor;  // probes of people never enrolled
  std::vector<int> known_people;      // ids of the enrolled people, sorted
};

// Seeded: known_fraction of the people with at least shots + 1 images are enrolled (at least one,
// and at least one person is left unknown when there are 2+ people); `shots` random images of each
// are enrolled and the rest are genuine probes. Everyone else's images are impostor probes.
// Throws InputError when no person has shots + 1 images or shots < 1.
OpenSetSplit split_open_set(const std::vector<int>& labels, double known_fraction, int shots,
                            std::uint64_t seed);

struct OpenSetPoint {
  float threshold = 0;
  std::size_t genuine = 0, impostor = 0;
  std::size_t genuine_correct = 0;        // accepted with the right name
  std::size_t genuine_misidentified = 0;  // accepted with a wrong name
  std::size_t genuine_rejected = 0;
  std::size_t impostor_accepted = 0;
  double accuracy = 0, fpr = 0, fnr = 0;
};

// truth[i] = the probe's person, or "" for an impostor (never enrolled).
OpenSetPoint evaluate_open_set(const std::vector<Prediction>& predictions,
                               const std::vector<std::string>& truth, float threshold);

// Thresholds 0.00, 0.01, ..., 1.00.
std::vector<OpenSetPoint> open_set_curve(const std::vector<Prediction>& predictions,
                                         const std::vector<std::string>& truth);

nlohmann::json to_json(const OpenSetPoint& point);

// The definitions above, as printed under every open-set result.
extern const char* const kOpenSetDefinitions;

}  // namespace clipface::eval
