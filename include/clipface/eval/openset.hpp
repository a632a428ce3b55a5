// Open-set deployment, after "CLIP Unreasonable Potential in Single-Shot Face Recognition" (Luu,
// 2024): some people are enrolled (a few shots each, or the training images of the fine-tuned
// prompt classifier), others are never seen; every probe gets a label and a confidence, and a
// confidence below the threshold (default 0.80) means "not recognised". The metrics (accuracy,
// FPR = NIST's FPIR, FNR = NIST's FNIR, misidentified) are defined once, in clipface/open_set.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "clipface/classify.hpp"
#include "clipface/matrix.hpp"
#include "clipface/open_set.hpp"

namespace clipface::eval {

// Anything that names an embedding: the kNN gallery vote here, the fine-tuned prompt classifier in
// eval/prompt_openset.hpp. Thresholding on confidence is the protocol's job, not the classifier's.
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
  std::vector<std::size_t> enrolled;  // gallery rows (the shots), or the prompt training images
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
// The same people, but round(n * enroll_fraction) of each known person's n images are enrolled
// (at least one, and at least one left as a probe; people with 2+ images are eligible): the
// prompt classifier's 80/20 (enroll_fraction 0.8). InputError unless 0 < enroll_fraction < 1 and
// somebody has 2 images.
OpenSetSplit split_open_set_fraction(const std::vector<int>& labels, double known_fraction,
                                     double enroll_fraction, std::uint64_t seed);

nlohmann::json to_json(const OpenSetPoint& point);

}  // namespace clipface::eval
