// The concrete embedders behind make_embedder(); each lives in its own .cpp so that dlib's heavy
// DNN templates and the CLIP engine compile once, in one place.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "clipface/embedder.hpp"
#include "tfjs/face_model_recipe.hpp"

namespace clipface::detail {

std::unique_ptr<Embedder> make_dlib_embedder(const std::filesystem::path& shape_predictor,
                                             const std::filesystem::path& resnet,
                                             const EmbedderOptions& options);

// The shape predictor and ResNet files of "dlib" (found with find_model_file) or of
// "dlib:<folder>"; ModelError naming a missing file.
std::pair<std::filesystem::path, std::filesystem::path> dlib_model_files(const std::string& folder);

// `model` is a weight file (load) or, with random_weights, an architecture name.
std::unique_ptr<Embedder> make_clip_embedder(const std::string& model, bool random_weights,
                                             const EmbedderOptions& options);

// How a TF.js face model of the registry is fed: its crop, channels and value range, and which
// output is the embedding.
struct TfjsRecipe {
  tfjs::FaceModelRecipe model;  // name = spec, registry name and EmbedderInfo::name
  std::string output;           // the graph output that is the embedding
  std::string crop_style;       // default alignment: "tight" (ArcFace template) or "loose"
};
const TfjsRecipe* find_tfjs_recipe(const std::string& name);  // nullptr when unknown
std::vector<std::string> tfjs_embedder_names();
// `model_json` empty: the registry's file, integrity-checked; else that file as it is.
std::unique_ptr<Embedder> make_tfjs_embedder(const TfjsRecipe& recipe,
                                             const std::filesystem::path& model_json,
                                             const EmbedderOptions& options);

// sha256 of a model file, computed once per process per path.
std::string cached_file_sha256(const std::filesystem::path& path);

// Mirrors each crop left-right.
std::vector<cv::Mat> mirrored(const std::vector<cv::Mat>& crops);

// Averages two row-aligned embedding matrices and renormalises the rows.
Matrix average_rows(const Matrix& a, const Matrix& b);

}  // namespace clipface::detail
