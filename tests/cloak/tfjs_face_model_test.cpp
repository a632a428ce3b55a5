// The TF.js embedders behind the cloaks' FaceModel interface, on real faces: the same embedding
// as the embedder make_embedder() gives, the same crop through the differentiable warp, and
// gradients that agree with finite differences.
#include <torch/torch.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "clipface/detect.hpp"
#include "clipface/embedder.hpp"
#include "clipface/errors.hpp"
#include "clipface/paths.hpp"
#include "cloak/face_model.hpp"
#include "cloak/region_warp.hpp"
#include "cloak/tfjs_face_model.hpp"
#include "support/test_env.hpp"

namespace clipface::cloak {
namespace {

namespace fs = std::filesystem;
using testing::shared_path;

const char* kYunet = "models/yunet/face_detection_yunet_2022mar.onnx";
const std::vector<std::string> kPhotos = {
    "data/faces/named/face_recognition_examples/barack_obama/obama.jpg",
    "data/faces/lfw-view1/Angelina_Jolie/Angelina_Jolie_0003.jpg",
};

// The registry's model files, where the tfjs tests find them (`clipface models pull
// human-models` puts them there).
#define REQUIRE_MODEL(name)                                                            \
  CLIPFACE_REQUIRE_SHARED(kYunet);                                                     \
  for (const auto& p : kPhotos) CLIPFACE_REQUIRE_SHARED(p);                            \
  if (!fs::exists(models_dir() / "human-models" / (std::string(name) + ".json"))) {    \
    GTEST_SKIP() << models_dir() / "human-models" / name << ".json missing (clipface " \
                 << "models pull human-models)";                                       \
  }

struct Photo {
  cv::Mat image;
  Face face;
};

const std::vector<Photo>& photos() {
  static const std::vector<Photo> all = [] {
    DetectorOptions o;
    o.model = shared_path(kYunet).string();
    const auto detector = make_detector(o);
    std::vector<Photo> out;
    for (const auto& p : kPhotos) {
      Photo photo;
      photo.image = cv::imread(shared_path(p).string(), cv::IMREAD_COLOR);
      const auto faces = detector->detect(photo.image);
      if (faces.empty()) continue;
      photo.face = faces[0];
      out.push_back(photo);
    }
    return out;
  }();
  return all;
}

torch::Tensor rgb01(const cv::Mat& bgr) {
  return image_to_rgb01(bgr).unsqueeze(0);
}

void expect_embedder_parity(const std::string& spec) {
  ASSERT_EQ(photos().size(), kPhotos.size()) << "a development photo lost its face";
  const auto model = make_face_model(spec, {});
  const auto embedder = make_embedder(spec, {});
  ASSERT_EQ(model->input_size(), embedder->info().input_size);
  for (const auto& p : photos()) {
    const cv::Mat crop = embedder->crops(p.image, {p.face})[0];
    const Matrix reference = embedder->embed_crops({crop});
    torch::NoGradGuard no_grad;
    const torch::Tensor ours = model->embed(rgb01(crop))[0].contiguous();
    ASSERT_EQ(static_cast<std::size_t>(ours.size(0)), reference.cols);
    const torch::Tensor theirs =
        torch::from_blob(const_cast<float*>(reference.data.data()), {ours.size(0)}, torch::kFloat);
    EXPECT_LT((ours - theirs).abs().max().item<double>(), 1e-4) << spec;

    // The crop the cloaks perturb: the embedder's alignment through the differentiable warp.
    const cv::Mat to_crop = model->crop_transform(p.image, p.face);
    const int s = model->input_size();
    const torch::Tensor image = rgb01(p.image)[0];
    const RegionWarp warp =
        make_region_warp(to_crop, s, cv::Rect(0, 0, p.image.cols, p.image.rows), image.sizes());
    const torch::Tensor warped = warp_region(image, warp);
    EXPECT_LT((warped - rgb01(crop)).abs().mean().item<double>() * 255, 6.0) << spec;
    EXPECT_GT(torch::dot(model->embed(warped)[0], theirs).item<double>(), 0.97) << spec;
  }
}

TEST(TfjsFaceModel, MobilefaceEmbedsAsTheEmbedder) {
  REQUIRE_MODEL("mobileface");
  expect_embedder_parity("mobileface");
}

TEST(TfjsFaceModel, FaceresEmbedsAsTheEmbedder) {
  REQUIRE_MODEL("faceres");
  expect_embedder_parity("faceres");
}

TEST(TfjsFaceModel, MobilefaceGradientMatchesFiniteDifferences) {
  REQUIRE_MODEL("mobileface");
  ASSERT_FALSE(photos().empty());
  const auto* recipe = detail::find_tfjs_recipe("mobileface");
  ASSERT_NE(recipe, nullptr);
  const auto model = make_face_model("mobileface", {});
  const auto model64 = make_tfjs_face_model(*recipe, "mobileface", {}, {}, at::kDouble);
  const auto embedder = make_embedder("mobileface", {});
  const Photo& p = photos()[0];
  const torch::Tensor x0 = rgb01(embedder->crops(p.image, {p.face})[0]).to(torch::kDouble);
  torch::manual_seed(5);
  const torch::Tensor u = torch::randn({model->embed(x0).size(1)}, torch::kDouble);
  auto f = [&](const FaceModel& m, const torch::Tensor& x) {
    return torch::dot(m.embed(x)[0].to(torch::kDouble), u);
  };
  auto gradient = [&](const FaceModel& m, torch::ScalarType dtype) {
    torch::Tensor x = x0.to(dtype).requires_grad_(true);
    return torch::autograd::grad({f(m, x)}, {x})[0].to(torch::kDouble);
  };
  // In float64 the network is smooth at the scale of h (a unit direction over all pixels moves
  // each by ~5e-9), so a central difference checks the autograd of every op to 1e-4.
  const torch::Tensor grad = gradient(*model64, torch::kDouble);
  ASSERT_GT(grad.abs().max().item<double>(), 0.0) << "no gradient reaches the pixels";
  for (int trial = 0; trial < 3; ++trial) {
    torch::Tensor v = torch::randn_like(x0);
    v = v / v.norm();
    const double h = 1e-6;
    torch::NoGradGuard no_grad;
    const double numeric =
        (f(*model64, x0 + h * v) - f(*model64, x0 - h * v)).item<double>() / (2 * h);
    const double analytic = (grad * v).sum().item<double>();
    EXPECT_NEAR(analytic, numeric, 1e-4 * std::abs(numeric) + 1e-7) << "direction " << trial;
  }
  // The float32 graph the cloaks run gives the same gradient.
  const torch::Tensor grad32 = gradient(*model, torch::kFloat);
  const double cosine =
      (torch::dot(grad32.flatten(), grad.flatten()) / (grad32.norm() * grad.norm())).item<double>();
  EXPECT_GT(cosine, 0.999);
}

TEST(TfjsFaceModel, UnknownNameIsRefusedListingTheTfjsModels) {
  try {
    make_face_model("arcface", {});
    FAIL() << "made a model of an unknown name";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("mobileface"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace clipface::cloak
