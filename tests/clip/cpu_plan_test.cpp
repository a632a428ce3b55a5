// The oneDNN CPU plans compute what the LibTorch modules compute: fp32 to 1e-4 for the ViT, the
// modified ResNet (BatchNorm folded, with non-trivial statistics) and the text tower (cut after
// the last end token), at full official size and tiny; bf16 within cosine 0.999; and a plan
// built before the weights changed is rebuilt.
#include <gtest/gtest.h>

#include "clip/cpu_plan.hpp"
#include "clip/engine.hpp"
#include "clipface/clip.hpp"

namespace clipface::clip {
namespace {

float max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a - b).abs().max().item<float>();
}

float min_cosine(const torch::Tensor& a, const torch::Tensor& b) {
  return torch::cosine_similarity(a, b, 1).min().item<float>();
}

// Token rows whose end tokens sit at different places, one of them using the whole context.
torch::Tensor token_rows(int context, int64_t vocab) {
  torch::manual_seed(3);
  torch::Tensor ids = torch::randint(1, vocab - 2, {4, context}, torch::kLong);
  const int64_t ends[] = {2, 9, 30, context - 1};
  for (int64_t r = 0; r < 4; ++r) {
    ids[r][0] = vocab - 2;        // start of text
    ids[r][ends[r]] = vocab - 1;  // end of text: the largest id, where the text is pooled
    ids[r].slice(0, ends[r] + 1).zero_();
  }
  return ids;
}

// Module vs plan on the same net and input, both towers.
struct Comparison {
  float image_diff, text_diff, image_cosine, text_cosine;
};

Comparison compare(ClipNet net, const torch::Tensor& pixels, onednn::Compute compute) {
  torch::NoGradGuard no_grad;
  net->eval();
  const torch::Tensor tokens = token_rows(net->config.context_length, net->config.vocab_size);
  const torch::Tensor image_ref = net->encode_image(pixels);
  const torch::Tensor text_ref = net->encode_text(tokens);
  PlanCache plans(compute);
  const torch::Tensor image = plans.get(*net, Tower::vision)->forward(pixels);
  const torch::Tensor text = plans.get(*net, Tower::text)->forward(tokens);
  return {max_abs_diff(image, image_ref), max_abs_diff(text, text_ref),
          min_cosine(image, image_ref), min_cosine(text, text_ref)};
}

torch::Tensor pixels(int n, int size) {
  torch::manual_seed(5);
  return torch::randn({n, 3, size, size});
}

// BatchNorm statistics away from the identity, so folding them into the convolutions is tested.
void randomize_batch_norms(ClipNet& net) {
  torch::NoGradGuard no_grad;
  for (auto& module : net->modules(/*include_self=*/false)) {
    if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      bn->running_mean.normal_(0.0, 0.2);
      bn->running_var.uniform_(0.5, 2.0);
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.normal_(0.0, 0.1);
    }
  }
}

// A small text tower (two layers of two heads) under each tiny image tower.
ClipConfig tiny(Activation activation) {
  ClipConfig c;
  c.embed_dim = 32;
  c.transformer_width = 64;
  c.transformer_heads = 2;
  c.transformer_layers = 2;
  c.activation = activation;
  return c;
}

ClipConfig tiny_resnet(Activation activation) {
  ClipConfig c = tiny(activation);
  c.image_resolution = 64;
  c.vision_layers = {1, 2, 1, 1};
  c.vision_width = 16;
  c.vision_patch_size = 0;
  return c;
}

ClipConfig tiny_vit(Activation activation) {
  ClipConfig c = tiny(activation);
  c.image_resolution = 32;
  c.vision_layers = {2};
  c.vision_width = 128;  // two heads of 64
  c.vision_patch_size = 8;
  return c;
}

class TinyPlans : public ::testing::TestWithParam<Activation> {};

TEST_P(TinyPlans, ViTAndTextMatchTheModulesInFp32) {
  torch::manual_seed(1);
  ClipNet net = build_clip_net(tiny_vit(GetParam()));
  const Comparison c = compare(net, pixels(3, 32), onednn::Compute::fp32);
  EXPECT_LE(c.image_diff, 1e-4f);
  EXPECT_LE(c.text_diff, 1e-4f);
}

TEST_P(TinyPlans, ResNetMatchesTheModulesInFp32) {
  torch::manual_seed(2);
  ClipNet net = build_clip_net(tiny_resnet(GetParam()));
  randomize_batch_norms(net);
  const Comparison c = compare(net, pixels(3, 64), onednn::Compute::fp32);
  EXPECT_LE(c.image_diff, 1e-4f);
  EXPECT_LE(c.text_diff, 1e-4f);
}

// The bf16 plans need oneDNN's bf16 kernels (AVX-512 and up); elsewhere a bf16 request never
// reaches them (resolve_precision makes it fp32, tested in cpu_support_test.cpp).
#define CLIPFACE_REQUIRE_BF16_KERNELS()                                              \
  do {                                                                               \
    if (clip_cpu_support().bf16 == KernelSupport::unavailable)                       \
      GTEST_SKIP() << "no bf16 kernels here: " << clip_cpu_support().bf16_reason;    \
  } while (0)

TEST_P(TinyPlans, Bf16StaysWithinCosine0999) {
  CLIPFACE_REQUIRE_BF16_KERNELS();
  torch::manual_seed(1);
  ClipNet vit = build_clip_net(tiny_vit(GetParam()));
  const Comparison v = compare(vit, pixels(3, 32), onednn::Compute::bf16);
  EXPECT_GE(v.image_cosine, 0.999f);
  EXPECT_GE(v.text_cosine, 0.999f);
  ClipNet resnet = build_clip_net(tiny_resnet(GetParam()));
  randomize_batch_norms(resnet);
  EXPECT_GE(compare(resnet, pixels(3, 64), onednn::Compute::bf16).image_cosine, 0.999f);
}

INSTANTIATE_TEST_SUITE_P(Activations, TinyPlans,
                         ::testing::Values(Activation::quick_gelu, Activation::gelu),
                         [](const auto& info) { return to_string(info.param); });

// The official shapes, through ClipModel as users call it.
TEST(FullSizePlans, ViTB32AndRN50MatchTheModules) {
  for (const char* arch : {"ViT-B-32", "RN50"}) {
    ClipModel model = ClipModel::random(arch, {}, 11);
    ClipNet& net = model.impl().net;
    if (!net->vit) randomize_batch_norms(net);
    const Comparison c = compare(net, pixels(2, model.info().image_size), onednn::Compute::fp32);
    EXPECT_LE(c.image_diff, 1e-4f) << arch;
    EXPECT_LE(c.text_diff, 1e-4f) << arch;
  }
}

TEST(FullSizePlans, ClipModelRunsThePlanForEachPrecision) {
  CLIPFACE_REQUIRE_BF16_KERNELS();
  ClipLoadOptions options;
  options.runtime.precision = Precision::bf16;
  const ClipModel bf16 = ClipModel::random("ViT-B-32", options, 11);
  const ClipModel fp32 = ClipModel::random("ViT-B-32", {}, 11);
  std::vector<float> input(2 * 3 * 224 * 224);
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>(i % 97) / 50 - 1;
  const Matrix low = bf16.encode_pixels(input, 2);
  const Matrix ref = fp32.encode_pixels(input, 2);
  for (std::size_t r = 0; r < ref.rows; ++r) {
    EXPECT_GE(dot(low.row(r), ref.row(r)), 0.999f);
    // Not the same numbers: the bf16 plan really computes in bf16.
    EXPECT_NE(low.row(r)[0], ref.row(r)[0]);
  }
}

TEST(PlanCache, RebuildsAPlanWhenItsWeightsChange) {
  ClipModel model = ClipModel::random("ViT-B-32", {}, 4);
  std::vector<std::int32_t> row(77, 0);
  row[0] = 49406;
  row[1] = 320;
  row[2] = 49407;
  const Matrix before = model.encode_tokens({row}, /*normalize=*/false);
  {
    torch::NoGradGuard no_grad;
    model.impl().net->text_projection.mul_(2.0);  // as an optimizer step would, in place
  }
  const Matrix after = model.encode_tokens({row}, false);
  for (std::size_t c = 0; c < before.cols; ++c) {
    EXPECT_NEAR(after.row(0)[c], 2 * before.row(0)[c], 1e-4f) << c;
  }
}

}  // namespace
}  // namespace clipface::clip
