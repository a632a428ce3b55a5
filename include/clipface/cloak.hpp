// Image cloaks against face recognition, made with real gradients of real models: Fawkes (Shan et
// al., USENIX Security 2020) and LowKey (Cherepanova et al., ICLR 2021), as projected gradient
// descent in LibTorch through each model's own alignment. The perturbation lives on the image's
// pixels around the faces (the region every model's crop sees) and reaches each model through a
// differentiable warp of that region, so what is optimised is what gets written. See
// docs/cloak.md for how each method follows its paper and where it departs from it.
// This header holds no LibTorch types (pimpl).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "clipface/detect.hpp"
#include "clipface/runtime.hpp"

namespace clipface::cloak {

enum class Method {
  fawkes,  // targeted: pull the face's features towards a dissimilar identity, DSSIM budget
  lowkey,  // untargeted: push features (and those of a smoothed copy) away, ensemble of models
};
enum class Level { low, mid, high };

Method parse_method(const std::string& name);  // "fawkes" | "lowkey"; InputError otherwise
Level parse_level(const std::string& name);    // "low" | "mid" | "high"; InputError otherwise
std::string to_string(Method method);
std::string to_string(Level level);

// What a level allows. Every bound is enforced on the 8-bit output, pixel for pixel.
struct Budget {
  int max_linf = 0;         // largest change of any channel of any pixel, in 8-bit levels
  double max_dssim = -1;    // largest DSSIM over the face region; < 0 = no DSSIM bound
  int steps = 0;            // PGD iterations
  double dssim_weight = 0;  // weight of the DSSIM term in the objective (lowkey's penalty)
};
Budget default_budget(Method method, Level level);

struct CloakOptions {
  Method method = Method::fawkes;
  Level level = Level::mid;
  // Differentiable models, as make_embedder() specs: dlib, dlib:<folder>, clip:<file>,
  // clip-random:<arch>. Fawkes pulls towards the target in each; LowKey attacks their ensemble.
  std::vector<std::string> models{"dlib"};
  std::optional<int> steps;         // override of the level's
  std::optional<int> max_linf;      // override (0 = nothing may change)
  std::optional<double> max_dssim;  // override
  float min_face = 32;              // faces whose box is smaller (shorter side, px) are refused
  int batch_size = 4;               // images optimised together
  bool separate_targets = false;    // fawkes: one target per image instead of one per call
  RuntimeOptions runtime;
  bool progress = true;
};

struct CloakInput {
  std::string name;  // for messages (the file path)
  cv::Mat image;     // 8-bit BGR
  std::vector<Face> faces;
};

struct CloakResult {
  std::string name;
  cv::Mat image;                // the cloaked picture: 8-bit BGR, the input's size
  std::size_t faces = 0;        // faces cloaked
  std::size_t small_faces = 0;  // faces below min_face, left as they were
  cv::Rect region;              // where pixels may have changed
  int linf = 0;                 // measured on the output, 8-bit levels
  double dssim = 0;             // measured over `region`
  double psnr = 0;              // dB over `region` (infinity when nothing changed)
  double psnr_image = 0;        // dB over the whole picture
  std::string target;           // fawkes: the identity the faces were pulled towards
  // Per model (options().models order): mean over the faces of 1 - cos(clean, cloaked) of the
  // model's embedding of its own crop: what the cloak did to the models it was made on.
  std::vector<double> model_shift;
  double seconds = 0;  // optimisation time of the batch, shared equally by its images
};

// A photo of someone else, for Fawkes' choice of a dissimilar target identity.
struct PoolImage {
  std::string person;
  cv::Mat image;
  Face face;
};

// The photos of DIR/<person>/* with the face of each (nearest the centre), at most `max_people`
// people (first by name; 0 = all). Unreadable photos and photos without a face are left out.
// InputError when no face is found at all.
std::vector<PoolImage> read_target_pool(const std::filesystem::path& dir, const Detector& detector,
                                        std::size_t max_people = 0);

class Cloaker {
 public:
  // Loads the models. InputError for an unknown model spec or a bad option, ModelError for a
  // missing or unusable model file.
  explicit Cloaker(const CloakOptions& options);
  ~Cloaker();
  Cloaker(Cloaker&&) noexcept;
  Cloaker& operator=(Cloaker&&) noexcept;

  const CloakOptions& options() const;
  const Budget& budget() const;  // the level's, with the overrides applied
  bool random_weights() const;   // true when any model has random weights (plumbing only)

  // Why `input` cannot be cloaked ("no face found", "face too small ..."), or "" when it can.
  std::string check(const CloakInput& input) const;

  // Fawkes' candidate identities: photos of other people (at least one person). The identity
  // whose centroid lies farthest from the user's faces in every model becomes the target.
  void set_target_pool(const std::vector<PoolImage>& pool);
  std::size_t target_people() const;

  // Cloaks every input (one person: Fawkes pulls them all towards one target unless
  // separate_targets). Throws InputError naming an input check() refuses, or for fawkes
  // without a target pool, before any work.
  std::vector<CloakResult> cloak(const std::vector<CloakInput>& inputs) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The budget metrics, on two 8-bit images of the same size and type (InputError otherwise).
// DSSIM is Fawkes' (1 - SSIM) / 2 with SSIM as in Wang et al. 2004 and tf.image.ssim: 11x11
// Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, valid positions only, mean over channels.
double dssim(const cv::Mat& a, const cv::Mat& b);
double psnr(const cv::Mat& a, const cv::Mat& b);  // dB; infinity for identical images
int linf(const cv::Mat& a, const cv::Mat& b);     // largest absolute difference

}  // namespace clipface::cloak
