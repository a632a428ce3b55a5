// dlib's face ResNet in LibTorch: the same descriptors as dlib on real chips, the same chip
// through the differentiable warp, and gradients that agree with finite differences.
#include <torch/torch.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "clipface/detect.hpp"
#include "clipface/errors.hpp"
#include "cloak/dlib_resnet.hpp"
#include "cloak/dlib_weights.hpp"
#include "cloak/face_model.hpp"
#include "cloak/region_warp.hpp"
#include "embed/dlib_chip.hpp"
#include "support/test_env.hpp"

namespace clipface::cloak {
namespace {

using testing::shared_path;

const char* kDlibDir = "models/dlib";
const char* kYunet = "models/yunet/face_detection_yunet_2022mar.onnx";
const char* kResnet = "models/dlib/dlib_face_recognition_resnet_model_v1.dat";
const char* kPredictor = "models/dlib/shape_predictor_5_face_landmarks.dat";

// Photos of different people, sizes and poses: face_recognition's examples and LFW.
const std::vector<std::string> kPhotos = {
    "data/faces/named/face_recognition_examples/barack_obama/obama.jpg",
    "data/faces/named/face_recognition_examples/joe_biden/biden.jpg",
    "data/faces/named/face_recognition_examples/kit_harington/john1.jpeg",
    "data/faces/named/face_recognition_examples/barack_obama/obama_partial_face.jpg",
    "data/faces/lfw-view1/Angelina_Jolie/Angelina_Jolie_0003.jpg",
    "data/faces/lfw-view1/Colin_Powell/Colin_Powell_0038.jpg",
};

#define REQUIRE_DATA()               \
  CLIPFACE_REQUIRE_SHARED(kDlibDir); \
  CLIPFACE_REQUIRE_SHARED(kYunet);   \
  for (const auto& p : kPhotos) CLIPFACE_REQUIRE_SHARED(p)

const Detector& detector() {
  static const auto d = [] {
    DetectorOptions o;
    o.model = shared_path(kYunet).string();
    return make_detector(o);
  }();
  return *d;
}

const DlibResnetWeights& weights() {
  static const DlibResnetWeights w = read_dlib_resnet(shared_path(kResnet));
  return w;
}

struct Chip {
  cv::Mat image;  // the photo
  Face face;
  cv::Mat chip;  // dlib's own 150x150 BGR chip
};

std::vector<Chip> real_chips() {
  static const std::vector<Chip> chips = [] {
    const detail::DlibChipper chipper(shared_path(kPredictor));
    std::vector<Chip> out;
    for (const auto& p : kPhotos) {
      Chip c;
      c.image = cv::imread(shared_path(p).string(), cv::IMREAD_COLOR);
      const auto faces = detector().detect(c.image);
      if (faces.empty()) continue;
      c.face = faces[0];
      c.chip = chipper.chips(c.image, {c.face})[0];
      out.push_back(c);
    }
    return out;
  }();
  return chips;
}

torch::Tensor rgb01(const cv::Mat& bgr) {
  return image_to_rgb01(bgr).unsqueeze(0);
}

TEST(DlibResnet, ReadsTheNetworkLayerByLayer) {
  REQUIRE_DATA();
  const auto& w = weights();
  ASSERT_EQ(w.layers.size(), 59u);  // stem conv + affine, 14 blocks x 4, fc
  EXPECT_EQ(w.layers.front().kind, "con");
  EXPECT_EQ(w.layers.front().shape, (std::vector<long>{32, 3, 7, 7}));
  EXPECT_EQ(w.layers.front().stride, 2);
  EXPECT_EQ(w.layers.front().padding, 0);  // dlib pads stride-1 layers only
  EXPECT_EQ(w.layers.back().kind, "fc");
  EXPECT_EQ(w.layers.back().shape, (std::vector<long>{256, 128}));
  EXPECT_NEAR(w.mean_rgb[0], 122.782f, 1e-3);
}

TEST(DlibResnet, MatchesDlibOnRealChips) {
  REQUIRE_DATA();
  const auto chips = real_chips();
  ASSERT_EQ(chips.size(), kPhotos.size());
  std::vector<std::vector<unsigned char>> bytes;
  std::vector<torch::Tensor> inputs;
  for (const auto& c : chips) {
    cv::Mat rgb;
    cv::cvtColor(c.chip, rgb, cv::COLOR_BGR2RGB);
    bytes.emplace_back(rgb.data, rgb.data + rgb.total() * 3);
    inputs.push_back(rgb01(c.chip));
  }
  const auto reference = dlib_reference_descriptors(shared_path(kResnet), bytes);
  const DlibResnet net(weights());
  torch::NoGradGuard no_grad;
  const torch::Tensor ours = net.forward(torch::cat(inputs));
  ASSERT_EQ(ours.size(0), static_cast<int64_t>(reference.size()));
  double worst = 0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    ASSERT_EQ(reference[i].size(), 128u);
    const double norm = ours[i].norm().item<double>();
    EXPECT_GT(norm, 0.9) << kPhotos[i];  // raw scale, not normalised
    for (int j = 0; j < 128; ++j)
      worst = std::max(worst, std::abs(ours[i][j].item<double>() - reference[i][j]));
  }
  EXPECT_LE(worst, 1e-4) << "largest difference to dlib's own descriptor";
}

TEST(DlibResnet, AddsLikeDlibAddPrev) {
  // 3x3 with 2 channels + 4x4 with 1 channel: 4x4 with 2 channels, missing elements zero.
  const torch::Tensor a = torch::ones({1, 2, 3, 3});
  const torch::Tensor b = torch::full({1, 1, 4, 4}, 10.0);
  const torch::Tensor s = add_zero_padded(a, b);
  ASSERT_EQ(s.sizes(), (std::vector<int64_t>{1, 2, 4, 4}));
  EXPECT_EQ(s[0][0][0][0].item<float>(), 11.0f);
  EXPECT_EQ(s[0][0][3][3].item<float>(), 10.0f);
  EXPECT_EQ(s[0][1][0][0].item<float>(), 1.0f);
  EXPECT_EQ(s[0][1][3][0].item<float>(), 0.0f);
}

TEST(DlibResnet, GradientMatchesFiniteDifferences) {
  REQUIRE_DATA();
  const DlibResnet net = DlibResnet(weights()).to(torch::kDouble);
  const torch::Tensor x0 = rgb01(real_chips()[0].chip).to(torch::kDouble);
  torch::manual_seed(7);
  const torch::Tensor u = torch::randn({128}, torch::kDouble);
  auto f = [&](const torch::Tensor& x) {
    const torch::Tensor d = net.forward(x)[0];
    return torch::dot(d / d.norm(), u);  // a unit embedding, as the cloaks use it
  };
  torch::Tensor x = x0.clone().requires_grad_(true);
  const torch::Tensor grad = torch::autograd::grad({f(x)}, {x})[0];
  for (int trial = 0; trial < 3; ++trial) {
    // A unit direction and a step small enough not to cross ReLU or max-pool kinks.
    torch::Tensor v = torch::randn_like(x0);
    v = v / v.norm();
    const double h = 1e-6;
    torch::NoGradGuard no_grad;
    const double numeric = (f(x0 + h * v) - f(x0 - h * v)).item<double>() / (2 * h);
    const double analytic = (grad * v).sum().item<double>();
    EXPECT_NEAR(analytic, numeric, 1e-4 * std::abs(numeric) + 1e-9) << "direction " << trial;
  }
}

TEST(DlibResnet, DifferentiableWarpReproducesDlibsChip) {
  REQUIRE_DATA();
  const auto model = make_face_model("dlib:" + shared_path(kDlibDir).string(), {});
  for (const auto& c : real_chips()) {
    const cv::Mat to_chip = model->crop_transform(c.image, c.face);
    const cv::Rect region(0, 0, c.image.cols, c.image.rows);
    const torch::Tensor image = rgb01(c.image)[0];
    const RegionWarp warp = make_region_warp(to_chip, 150, region, image.sizes());
    torch::NoGradGuard no_grad;
    const torch::Tensor ours = warp_region(image, warp);
    const torch::Tensor dlibs = rgb01(c.chip);
    // Same geometry: the images agree to a few levels (dlib's pyramid vs our block average).
    EXPECT_LT((ours - dlibs).abs().mean().item<double>() * 255, 6.0);
    const double cosine = torch::dot(model->embed(ours)[0], model->embed(dlibs)[0]).item<double>();
    EXPECT_GT(cosine, 0.98);
  }
}

TEST(DlibResnet, RefusesAFileThatIsNotTheNetwork) {
  REQUIRE_DATA();
  EXPECT_THROW(read_dlib_resnet(shared_path(kPredictor)), ModelError);
}

}  // namespace
}  // namespace clipface::cloak
