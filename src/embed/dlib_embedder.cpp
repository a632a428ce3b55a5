// dlib's face recognition ResNet with its own 5-point landmarks and 150 px chips (dlib_chip.hpp),
// as the face_recognition library runs it (face_encodings with num_jitters=1, model="small"). One
// of the two files that see dlib's DNN templates (they take long to compile); the other is the
// cloaking stage's weight reader.
#include <dlib/dnn.h>
#include <dlib/opencv.h>

#include <mutex>
#include <opencv2/imgproc.hpp>

#include "clipface/errors.hpp"
#include "embed/dlib_chip.hpp"
#include "embed/dlib_network.hpp"
#include "embed/embedders.hpp"

namespace clipface::detail {
namespace {

using anet_type = DlibFaceNet;

constexpr int kChipSize = kDlibChipSize;
constexpr int kBatch = 16;

class DlibEmbedder final : public Embedder {
 public:
  DlibEmbedder(const std::filesystem::path& predictor_path,
               const std::filesystem::path& resnet_path, const EmbedderOptions& options)
      : flip_average_(options.flip_average), chipper_(predictor_path) {
    if (!options.crop_style.empty() && options.crop_style != "dlib-chip") {
      throw InputError("the dlib embedder uses its own chip; crop style '" + options.crop_style +
                       "' does not apply");
    }
    load(resnet_path, net_);
    info_.name = "dlib-resnet-v1";
    info_.checksum = cached_file_sha256(resnet_path);
    info_.crop_style = flip_average_ ? "dlib-chip+flip" : "dlib-chip";
    info_.dim = 128;
    info_.input_size = kChipSize;
    info_.random_weights = false;
  }

  const EmbedderInfo& info() const override { return info_; }

  std::vector<cv::Mat> crops(const cv::Mat& image, const std::vector<Face>& faces) const override {
    return chipper_.chips(image, faces);
  }

  Matrix embed_crops(const std::vector<cv::Mat>& crops) const override {
    std::vector<dlib::matrix<dlib::rgb_pixel>> chips;
    chips.reserve(crops.size());
    for (const cv::Mat& crop : crops) chips.push_back(to_chip(crop));
    Matrix out = describe(chips);
    if (flip_average_) {
      for (auto& chip : chips) chip = dlib::fliplr(chip);
      out = average_rows(out, describe(chips));
    }
    return out;
  }

  // Unnormalised descriptors (dlib's own scale), for the tests that check dlib's numbers.
  Matrix describe(const std::vector<dlib::matrix<dlib::rgb_pixel>>& chips,
                  bool normalize = true) const {
    Matrix out(chips.size(), 128);
    if (chips.empty()) return out;
    std::vector<dlib::matrix<float, 0, 1>> descriptors;
    {
      std::lock_guard lock(mutex_);  // the network keeps its activations: one call at a time
      descriptors = net_(chips, kBatch);
    }
    for (std::size_t i = 0; i < descriptors.size(); ++i) {
      for (long j = 0; j < descriptors[i].size(); ++j) out.at(i, j) = descriptors[i](j);
    }
    if (normalize) normalize_rows(out);
    return out;
  }

 private:
  template <typename T>
  static void load(const std::filesystem::path& path, T& model) {
    try {
      dlib::deserialize(path.string()) >> model;
    } catch (const std::exception& e) {
      throw ModelError("cannot load dlib model " + path.string() + ": " + e.what());
    }
  }

  static dlib::matrix<dlib::rgb_pixel> to_chip(const cv::Mat& crop) {
    cv::Mat rgb;
    cv::cvtColor(to_bgr(crop, "dlib embedder"), rgb, cv::COLOR_BGR2RGB);
    if (rgb.cols != kChipSize || rgb.rows != kChipSize) {
      cv::resize(rgb, rgb, cv::Size(kChipSize, kChipSize), 0, 0,
                 rgb.cols > kChipSize ? cv::INTER_AREA : cv::INTER_CUBIC);
    }
    dlib::matrix<dlib::rgb_pixel> chip;
    dlib::assign_image(chip, dlib::cv_image<dlib::rgb_pixel>(rgb));
    return chip;
  }

  bool flip_average_;
  EmbedderInfo info_;
  DlibChipper chipper_;
  mutable anet_type net_;
  mutable std::mutex mutex_;
};

}  // namespace

std::unique_ptr<Embedder> make_dlib_embedder(const std::filesystem::path& shape_predictor,
                                             const std::filesystem::path& resnet,
                                             const EmbedderOptions& options) {
  return std::make_unique<DlibEmbedder>(shape_predictor, resnet, options);
}

}  // namespace clipface::detail
