// Proof of equality with the reference fine-tuning run (fixtures/clip/finetune.json): vit-tiny,
// 4 images, 3 prompts, AdamW lr 1e-3 with cosine annealing over 5 steps, eval mode. Losses before
// and after every step, the logits and text embeddings after, and the frozen tensors untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "clip/engine.hpp"
#include "clipface/clip.hpp"
#include "clipface/finetune.hpp"
#include "clipface/npy.hpp"
#include "finetune/text_tower.hpp"
#include "support/test_env.hpp"

namespace clipface::finetune {
namespace {

using clipface::testing::read_text;
using clipface::testing::shared_path;

constexpr const char* kFixtures = "fixtures/clip/";

torch::Tensor npy_tensor(const std::string& relative) {
  const NpyArray a = read_npy(shared_path(std::string(kFixtures) + relative));
  if (a.dtype == "i4" || a.dtype == "i8") {
    const auto ints = a.as_ints();
    return torch::tensor(ints, torch::kLong).view(a.shape);
  }
  const auto floats = a.as_floats();
  return torch::tensor(floats, torch::kFloat).view(a.shape);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>();
}

class ReferenceReplay : public ::testing::TestWithParam<bool> {};

TEST_P(ReferenceReplay, MatchesFinetuneJsonStepByStep) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/finetune.json");
  const bool truncate = GetParam();
  const auto spec = nlohmann::json::parse(read_text(shared_path("fixtures/clip/finetune.json")));
  ClipModel model = ClipModel::load(shared_path("fixtures/clip/vit-tiny.openai.pt").string());
  clip::ClipNet net = model.impl().net;

  // Image features through the frozen encoder, once (as the reference caches them).
  std::vector<float> pixels;
  for (const auto& name : spec["images"]) {
    const auto image = read_npy(shared_path(std::string(kFixtures) + "preprocess/" +
                                            name.get<std::string>() + ".npy"))
                           .as_floats();
    pixels.insert(pixels.end(), image.begin(), image.end());
  }
  const Matrix encoded = model.encode_pixels(pixels, spec["images"].size(), /*normalize=*/true);
  const torch::Tensor images =
      torch::from_blob(const_cast<float*>(encoded.data.data()),
                       {static_cast<int64_t>(encoded.rows), static_cast<int64_t>(encoded.cols)},
                       torch::kFloat)
          .clone();
  EXPECT_LT(max_abs_diff(images, npy_tensor("expected/finetune/image_features_normalized.npy")),
            1e-5);
  const torch::Tensor labels = torch::tensor(spec["labels"].get<std::vector<int64_t>>());
  const torch::Tensor tokens = npy_tensor("expected/finetune/prompt_tokens.npy");

  std::map<std::string, torch::Tensor> frozen;
  for (const auto& p : net->named_parameters()) {
    if (!detail::is_text_tower(p.key())) frozen[p.key()] = p.value().detach().clone();
  }
  ASSERT_EQ(frozen.size(), spec["n_frozen_tensors_checked"].get<std::size_t>());
  ASSERT_EQ(detail::text_tower_tensors(*net).size(), spec["n_trainable_tensors"].get<std::size_t>());

  TrainOptions options;
  options.learning_rate = spec["optimizer"]["lr"];
  options.weight_decay = spec["optimizer"]["weight_decay"];
  options.beta1 = spec["optimizer"]["betas"][0];
  options.beta2 = spec["optimizer"]["betas"][1];
  options.eps = spec["optimizer"]["eps"];
  options.truncate_context = truncate;
  const int steps = spec["steps"];
  detail::PromptTrainer trainer(net, tokens, options, spec["scheduler"]["T_max"].get<int>());
  const int64_t last_eot = tokens.argmax(1).max().item<int64_t>();
  EXPECT_LT(last_eot, 20);
  EXPECT_EQ(trainer.context_length(), truncate ? last_eot + 1 : 77);

  EXPECT_LT(max_abs_diff(trainer.logits(images), npy_tensor("expected/finetune/logits_before.npy")),
            1e-4);
  for (int s = 0; s < steps; ++s) {
    EXPECT_NEAR(trainer.learning_rate(), spec["lr_used_at_each_step"][s].get<double>(), 1e-12);
    const double before = trainer.step(images, labels);
    EXPECT_NEAR(before, spec["loss_at_each_step_before_update"][s].get<double>(), 1e-4)
        << "step " << s;
    EXPECT_NEAR(trainer.loss(images, labels), spec["loss_after_each_step"][s].get<double>(), 1e-4)
        << "step " << s;
  }
  EXPECT_NEAR(trainer.learning_rate(), spec["final_lr"].get<double>(), 1e-12);
  EXPECT_LT(max_abs_diff(trainer.logits(images), npy_tensor("expected/finetune/logits_after.npy")),
            1e-4);
  trainer.finish();

  // The engine's own encode_text now runs the trained weights (written back into the model).
  std::vector<std::vector<std::int32_t>> rows;
  for (int64_t r = 0; r < tokens.size(0); ++r) {
    std::vector<std::int32_t> row;
    for (int64_t c = 0; c < tokens.size(1); ++c) {
      row.push_back(static_cast<std::int32_t>(tokens[r][c].item<int64_t>()));
    }
    rows.push_back(row);
  }
  const Matrix text = model.encode_tokens(rows, /*normalize=*/false);
  const torch::Tensor text_after =
      torch::from_blob(const_cast<float*>(text.data.data()),
                       {static_cast<int64_t>(text.rows), static_cast<int64_t>(text.cols)},
                       torch::kFloat);
  EXPECT_LT(max_abs_diff(text_after, npy_tensor("expected/finetune/text_embeds_after.npy")), 1e-4);

  // Parameter statistics, including the AdamW decay of every token-embedding row.
  std::map<std::string, torch::Tensor> tower;
  for (auto& [name, t] : detail::text_tower_tensors(*net)) tower[name] = t.detach();
  for (const auto& [name, stats] : spec["params_after"].items()) {
    const torch::Tensor t = tower.at(name).to(torch::kDouble);
    EXPECT_NEAR(t.sum().item<double>(), stats["sum"].get<double>(), 1e-3) << name;
    EXPECT_NEAR(t.norm().item<double>(), stats["l2"].get<double>(), 1e-4) << name;
  }
  const double embedding_sum_before = spec["params_before"]["token_embedding.weight"]["sum"];
  EXPECT_GT(std::abs(tower.at("token_embedding.weight").to(torch::kDouble).sum().item<double>() -
                     embedding_sum_before),
            0.01);  // it did change

  // Visual tower and logit_scale bit for bit.
  for (const auto& p : net->named_parameters()) {
    if (detail::is_text_tower(p.key())) continue;
    EXPECT_TRUE(torch::equal(p.value(), frozen.at(p.key()))) << p.key() << " changed";
  }
}

INSTANTIATE_TEST_SUITE_P(Context, ReferenceReplay, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Truncated" : "Full77"; });

// The causal mask means no token after a row's end token reaches its pooled output: cutting the
// context after the longest end token gives the same embeddings.
TEST(Truncation, TextEmbeddingsEqualFullContext) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/tokenizer_tokens.npy");
  ClipModel model = ClipModel::load(shared_path("fixtures/clip/vit-tiny.openai.pt").string());
  auto& net = *model.impl().net;
  torch::NoGradGuard no_grad;
  const torch::Tensor table = net.token_embedding->weight;
  // The finetune prompts (short) and all tokenizer cases (up to the full 77).
  for (const char* file : {"expected/finetune/prompt_tokens.npy", "tokenizer_tokens.npy"}) {
    const torch::Tensor tokens = npy_tensor(file);
    const torch::Tensor full = net.encode_text(tokens);
    const torch::Tensor cut = detail::truncate_tokens(tokens);
    const torch::Tensor truncated = detail::encode_text(net, cut, table);
    EXPECT_LT(max_abs_diff(full, truncated), 1e-5) << file << " cut to " << cut.size(1);
    // Short prompts: only the first handful of columns survive.
    EXPECT_EQ(cut.size(1), tokens.argmax(1).max().item<int64_t>() + 1);
    if (std::string(file).find("prompt") != std::string::npos) {
      EXPECT_LT(cut.size(1), 20);
    }
    // A lone short prompt is cut further and still equal.
    const torch::Tensor one = detail::truncate_tokens(tokens.slice(0, 0, 1));
    EXPECT_LT(max_abs_diff(full.slice(0, 0, 1), detail::encode_text(net, one, table)), 1e-5);
  }
  // Against the reference text embeddings too.
  const torch::Tensor tokens = npy_tensor("tokenizer_tokens.npy");
  EXPECT_LT(max_abs_diff(detail::encode_text(net, detail::truncate_tokens(tokens), table),
                         npy_tensor("expected/vit-tiny/text_embeds.npy")),
            1e-4);
}

}  // namespace
}  // namespace clipface::finetune
