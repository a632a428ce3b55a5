// A TF.js embedder as a differentiable FaceModel. The graph takes channel values v * scale +
// offset with v in 0..255 (the recipe's pixel format), so the [0, 1] RGB crops of the cloaks
// are mapped onto that range inside the autograd graph; the crop is the embedder's own aligned
// crop (the ArcFace template, tight by default), so a cloak made here is measured on the same
// pixels the victim embedder looks at.
#include "cloak/tfjs_face_model.hpp"

#include "clipface/align.hpp"
#include "clipface/errors.hpp"
#include "tfjs/face_model.hpp"
#include "tfjs/graph.hpp"

namespace clipface::cloak {
namespace {

using Channels = tfjs::PixelFormat::Channels;

class TfjsFaceModel final : public FaceModel {
 public:
  TfjsFaceModel(const detail::TfjsRecipe& recipe, std::string spec,
                const std::filesystem::path& model_json, at::ScalarType dtype)
      : spec_(std::move(spec)),
        style_(parse_crop_style(recipe.crop_style)),
        pixels_(recipe.model.pixels),
        model_(recipe.model, model_json),
        graph_(model_.loaded().graph),
        output_(model_.output(recipe.output)) {
    if (pixels_.channels == Channels::grey) {
      throw ModelError(recipe.model.name + " takes grey pixels: not a face embedder for cloaks");
    }
    if (dtype != at::kFloat) {  // the same (already checked) files, compiled again
      const tfjs::ModelJson json = tfjs::read_model_json(model_.loaded().json);
      graph_ = std::make_shared<const tfjs::Graph>(json, tfjs::read_weights(json),
                                                   tfjs::GraphOptions{dtype});
    }
    dtype_ = dtype;
  }

  const std::string& spec() const override { return spec_; }
  bool random_weights() const override { return false; }
  int input_size() const override { return model_.recipe().size; }
  cv::Mat crop_transform(const cv::Mat&, const Face& face) const override {
    return alignment_transform(face, input_size(), style_);
  }
  torch::Tensor embed(const torch::Tensor& rgb01) const override {
    torch::Tensor x = rgb01.to(dtype_);
    if (pixels_.channels == Channels::bgr) x = x.flip({1});
    x = x * (255.0 * pixels_.scale) + pixels_.offset;
    const auto outputs = graph_->forward({x}, /*nchw_inputs=*/true);
    const torch::Tensor rows = outputs[output_].reshape({rgb01.size(0), -1});
    return rows / rows.norm(2, -1, /*keepdim=*/true);
  }

 private:
  std::string spec_;
  CropStyle style_;
  tfjs::PixelFormat pixels_;
  tfjs::FaceModel model_;
  std::shared_ptr<const tfjs::Graph> graph_;
  std::size_t output_ = 0;
  at::ScalarType dtype_ = at::kFloat;
};

}  // namespace

std::unique_ptr<FaceModel> make_tfjs_face_model(const detail::TfjsRecipe& recipe, std::string spec,
                                                const std::filesystem::path& model_json,
                                                const RuntimeOptions& runtime,
                                                at::ScalarType dtype) {
  if (runtime.device != Device::cpu) {
    throw InputError("the " + recipe.model.name + " model runs on the CPU only");
  }
  return std::make_unique<TfjsFaceModel>(recipe, std::move(spec), model_json, dtype);
}

}  // namespace clipface::cloak
