#include "tfjs/face_model.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

#include "clipface/errors.hpp"
#include "tfjs/pixels.hpp"

namespace clipface::tfjs {

FaceModel::FaceModel(const FaceModelRecipe& recipe, const std::filesystem::path& model_json)
    : recipe_(recipe), loaded_(load_graph(recipe.name, model_json)) {
  const std::int64_t channels = recipe.pixels.channels == PixelFormat::Channels::grey ? 1 : 3;
  const std::vector<std::int64_t> wanted = {-1, recipe.size, recipe.size, channels};
  const auto& inputs = loaded_.graph->inputs();
  if (inputs.size() != 1 || inputs[0].shape != wanted) {
    std::string got;
    for (const auto& in : inputs) {
      got += got.empty() ? "" : ", ";
      for (std::size_t d = 0; d < in.shape.size(); ++d) {
        if (d > 0) got += 'x';  // (a ternary of literals + string trips GCC 12's -Wrestrict)
        got += std::to_string(in.shape[d]);
      }
    }
    throw ModelError(loaded_.json.string() + ": wrong input size for " + recipe.name +
                     ": clipface feeds " + std::to_string(recipe.size) + "x" +
                     std::to_string(recipe.size) + "x" + std::to_string(channels) +
                     " crops, the model takes " + (got.empty() ? "no input" : got));
  }
}

std::vector<at::Tensor> FaceModel::run(const std::vector<cv::Mat>& crops) const {
  c10::InferenceMode guard;
  return loaded_.graph->forward({to_input(crops, recipe_.size, recipe_.pixels)},
                                /*nchw_inputs=*/true);
}

std::size_t FaceModel::output(const std::string& name) const {
  const auto& outputs = loaded_.graph->outputs();
  const auto it =
      std::find_if(outputs.begin(), outputs.end(), [&](const auto& o) { return o.name == name; });
  if (it == outputs.end()) {
    throw ModelError(loaded_.json.string() + ": no output '" + name + "' (not the " + recipe_.name +
                     " graph?)");
  }
  return static_cast<std::size_t>(it - outputs.begin());
}

}  // namespace clipface::tfjs
