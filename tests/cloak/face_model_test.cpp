// CLIP behind the cloaks' FaceModel interface: its gradients agree with finite differences (the
// reference fixture's weights are random, so this checks the plumbing of autograd through the
// image tower and the preprocessing, not what a real checkpoint would do).
#include <torch/torch.h>

#include "cloak/face_model.hpp"
#include "support/test_env.hpp"

namespace clipface::cloak {
namespace {

TEST(ClipFaceModel, GradientMatchesFiniteDifferences) {
  const char* fixture = "fixtures/clip/vit-tiny.safetensors";
  CLIPFACE_REQUIRE_SHARED(fixture);
  const auto model = make_face_model("clip:" + testing::shared_path(fixture).string(), {});
  const int s = model->input_size();
  torch::manual_seed(3);
  const torch::Tensor x0 = torch::rand({1, 3, s, s});
  const torch::Tensor u = torch::randn({model->embed(x0).size(1)});
  auto f = [&](const torch::Tensor& x) { return torch::dot(model->embed(x)[0], u); };
  torch::Tensor x = x0.clone().requires_grad_(true);
  const torch::Tensor grad = torch::autograd::grad({f(x)}, {x})[0];
  ASSERT_GT(grad.abs().max().item<float>(), 0.f) << "no gradient reaches the pixels";
  for (int trial = 0; trial < 3; ++trial) {
    // Every op of a ViT is smooth (layer norm, softmax, GELU), so a central difference in fp32
    // with a moderate step is accurate to well under a percent.
    torch::Tensor v = torch::randn_like(x0);
    v = v / v.norm();
    const double h = 1e-2;
    torch::NoGradGuard no_grad;
    const double numeric = (f(x0 + h * v) - f(x0 - h * v)).item<double>() / (2 * h);
    const double analytic = (grad * v).sum().item<double>();
    EXPECT_NEAR(analytic, numeric, 2e-2 * std::abs(numeric) + 1e-4) << "direction " << trial;
  }
}

}  // namespace
}  // namespace clipface::cloak
