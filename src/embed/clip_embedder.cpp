// CLIP image embeddings of aligned face crops (loose by default: CLIP does better with context).
#include <opencv2/core.hpp>

#include "clipface/align.hpp"
#include "clipface/clip.hpp"
#include "clipface/errors.hpp"
#include "embed/embedders.hpp"

namespace clipface::detail {
namespace {

std::shared_ptr<ClipModel> load_model(const std::string& model, bool random_weights,
                                      const RuntimeOptions& runtime) {
  ClipLoadOptions load;
  load.runtime = runtime;
  return std::make_shared<ClipModel>(random_weights ? ClipModel::random(model, load)
                                                    : ClipModel::load(model, load));
}

class ClipEmbedder final : public Embedder {
 public:
  ClipEmbedder(const std::string& model, bool random_weights, const EmbedderOptions& options)
      : model_(load_model(model, random_weights, options.runtime)),
        style_(parse_crop_style(options.crop_style.empty() ? "loose" : options.crop_style)),
        flip_average_(options.flip_average) {
    const ClipInfo& clip = model_->info();
    info_.name = (clip.random_weights ? "clip-random:" : "clip:") + clip.name;
    info_.checksum = clip.sha256;
    info_.crop_style = to_string(style_) + (flip_average_ ? "+flip" : "");
    info_.dim = clip.embed_dim;
    info_.input_size = clip.image_size;
    info_.random_weights = clip.random_weights;
  }

  const EmbedderInfo& info() const override { return info_; }

  std::vector<cv::Mat> crops(const cv::Mat& image, const std::vector<Face>& faces) const override {
    return align_faces(image, faces, info_.input_size, style_);
  }

  Matrix embed_crops(const std::vector<cv::Mat>& crops) const override {
    if (crops.empty()) return Matrix(0, info_.dim);
    // Crops are square already; squash only resizes those of another size.
    Matrix out = model_->encode_images(crops, ImageResize::squash, /*normalize=*/true);
    if (flip_average_) {
      out = average_rows(out, model_->encode_images(mirrored(crops), ImageResize::squash, true));
    }
    return out;
  }

  std::shared_ptr<ClipModel> clip_model() const override { return model_; }

 private:
  std::shared_ptr<ClipModel> model_;
  CropStyle style_;
  bool flip_average_;
  EmbedderInfo info_;
};

}  // namespace

std::unique_ptr<Embedder> make_clip_embedder(const std::string& model, bool random_weights,
                                             const EmbedderOptions& options) {
  return std::make_unique<ClipEmbedder>(model, random_weights, options);
}

}  // namespace clipface::detail
