// The differentiable face models: dlib's ResNet on dlib's own chip, CLIP's image tower on the
// loose aligned crop (the CLIP embedder's default), and the TF.js embedders (tfjs_face_model.cpp).
#include <filesystem>
#include <opencv2/imgproc.hpp>

#include "clip/engine.hpp"
#include "clipface/align.hpp"
#include "clipface/clip.hpp"
#include "clipface/errors.hpp"
#include "clipface/paths.hpp"
#include "clipface/preprocess.hpp"
#include "cloak/dlib_resnet.hpp"
#include "cloak/face_model.hpp"
#include "cloak/tfjs_face_model.hpp"
#include "embed/dlib_chip.hpp"
#include "embed/embedders.hpp"

namespace clipface::cloak {

torch::Tensor image_to_rgb01(const cv::Mat& bgr) {
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return torch::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8)
      .permute({2, 0, 1})
      .to(torch::kFloat)
      .div(255.0)
      .contiguous();
}

namespace {

torch::Tensor unit_rows(const torch::Tensor& x) {
  return x / x.norm(2, -1, /*keepdim=*/true);
}

class DlibFaceModel final : public FaceModel {
 public:
  DlibFaceModel(std::string spec, const std::filesystem::path& predictor,
                const std::filesystem::path& resnet)
      : spec_(std::move(spec)), chipper_(predictor), net_(read_dlib_resnet(resnet)) {}

  const std::string& spec() const override { return spec_; }
  bool random_weights() const override { return false; }
  int input_size() const override { return detail::kDlibChipSize; }
  cv::Mat crop_transform(const cv::Mat& image, const Face& face) const override {
    return chipper_.chip_transform(image, face);
  }
  torch::Tensor embed(const torch::Tensor& rgb01) const override {
    return unit_rows(net_.forward(rgb01));
  }

 private:
  std::string spec_;
  detail::DlibChipper chipper_;
  DlibResnet net_;
};

class ClipFaceModel final : public FaceModel {
 public:
  ClipFaceModel(std::string spec, ClipModel model)
      : spec_(std::move(spec)), model_(std::move(model)) {
    for (auto& p : model_.impl().net->parameters()) p.requires_grad_(false);
    const auto& mean = kClipMean;
    const auto& stdev = kClipStd;
    mean_ = torch::tensor({mean[0], mean[1], mean[2]}).reshape({1, 3, 1, 1});
    std_ = torch::tensor({stdev[0], stdev[1], stdev[2]}).reshape({1, 3, 1, 1});
  }

  const std::string& spec() const override { return spec_; }
  bool random_weights() const override { return model_.info().random_weights; }
  int input_size() const override { return model_.info().image_size; }
  cv::Mat crop_transform(const cv::Mat&, const Face& face) const override {
    return alignment_transform(face, input_size(), CropStyle::loose);
  }
  torch::Tensor embed(const torch::Tensor& rgb01) const override {
    auto& net = const_cast<ClipModel&>(model_).impl().net;
    return unit_rows(net->encode_image((rgb01 - mean_) / std_).to(torch::kFloat));
  }

 private:
  std::string spec_;
  ClipModel model_;
  torch::Tensor mean_, std_;
};

}  // namespace

std::unique_ptr<FaceModel> make_face_model(const std::string& spec, const RuntimeOptions& runtime) {
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string argument = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (kind == "dlib") {
    const auto [predictor, resnet] = detail::dlib_model_files(argument);
    return std::make_unique<DlibFaceModel>(spec, predictor, resnet);
  }
  if ((kind == "clip" || kind == "clip-random") && !argument.empty()) {
    ClipLoadOptions load;
    load.runtime = runtime;
    return std::make_unique<ClipFaceModel>(
        spec, kind == "clip" ? ClipModel::load(find_model_file(argument).string(), load)
                             : ClipModel::random(argument, load));
  }
  if (const detail::TfjsRecipe* recipe = detail::find_tfjs_recipe(kind)) {
    return make_tfjs_face_model(*recipe, spec, argument, runtime);
  }
  std::string tfjs;
  for (const auto& name : detail::tfjs_embedder_names()) tfjs += ", " + name;
  throw InputError("unknown model '" + spec + "' for cloaking (expected dlib" + tfjs +
                   ", clip:<model file> or clip-random:<arch>)");
}

}  // namespace clipface::cloak
