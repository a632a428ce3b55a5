// One TF.js face model of the registry with the way it is fed (internal header): the crop side
// it takes, and the pixel format. Loading checks that the graph takes exactly such crops.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "tfjs/face_model_recipe.hpp"
#include "tfjs/registry_graph.hpp"

namespace clipface::tfjs {

class FaceModel {
 public:
  // ModelError naming the file when it is missing, altered, unusable, or takes other input than
  // [-1, size, size, 3] (1 channel for grey pixels).
  explicit FaceModel(const FaceModelRecipe& recipe, const std::filesystem::path& model_json = {});

  // Crops of recipe.size (8-bit), all outputs with the batch first. No gradients.
  std::vector<at::Tensor> run(const std::vector<cv::Mat>& crops) const;
  // The index of output `name` (ModelError naming the model when there is none).
  std::size_t output(const std::string& name) const;

  const FaceModelRecipe& recipe() const { return recipe_; }
  const LoadedGraph& loaded() const { return loaded_; }

 private:
  FaceModelRecipe recipe_;
  LoadedGraph loaded_;
};

}  // namespace clipface::tfjs
