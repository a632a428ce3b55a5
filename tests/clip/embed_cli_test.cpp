// `clipface embed` end to end: fixture model, fixture photos, prompts; and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_env.hpp"

namespace clipface {
namespace {
using testing::run_cli;
using testing::shared_path;

std::string fixture(const std::string& name) {
  return shared_path("fixtures/clip/" + name).string();
}

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(EmbedCli, JsonHasEmbeddingsAndASimilarityMatrix) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.openai.pt");
  CLIPFACE_REQUIRE_SHARED("models/clip/bpe_simple_vocab_16e6.txt.gz");
  const auto result = run_cli(
      {"embed", "--model", fixture("vit-tiny.openai.pt"), "--image", fixture("images/obama1.jpg"),
       fixture("images/att_s1_1.pgm"), fixture("images/alex_lacamoire.png"), "--text",
       "a photo of Barack Obama", "a photo of Joe Biden", "--json"},
      {"CLIPFACE_SHARED=" + testing::shared_dir().string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto json = nlohmann::json::parse(result.out);
  EXPECT_FALSE(json["model"]["random_weights"].get<bool>());
  EXPECT_EQ(json["model"]["embed_dim"], 64);
  ASSERT_EQ(json["cosine"].size(), 3u);
  ASSERT_EQ(json["probabilities"].size(), 3u);
  for (const auto& row : json["probabilities"]) {
    ASSERT_EQ(row.size(), 2u);
    EXPECT_NEAR(row[0].get<double>() + row[1].get<double>(), 1.0, 1e-5);
  }
  ASSERT_EQ(json["image_embeddings"].size(), 3u);
  ASSERT_EQ(json["text_embeddings"].size(), 2u);
  double norm = 0;
  for (const auto& v : json["image_embeddings"][0]) norm += v.get<double>() * v.get<double>();
  EXPECT_NEAR(norm, 1.0, 1e-5);
  // Cosine equals the dot product of the printed unit embeddings.
  double cosine = 0;
  for (std::size_t k = 0; k < 64; ++k) {
    cosine +=
        json["image_embeddings"][1][k].get<double>() * json["text_embeddings"][0][k].get<double>();
  }
  EXPECT_NEAR(json["cosine"][1][0].get<double>(), cosine, 1e-5);
}

TEST(EmbedCli, TableNamesImagesAndTexts) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/rn-tiny.safetensors");
  CLIPFACE_REQUIRE_SHARED("models/clip/bpe_simple_vocab_16e6.txt.gz");
  const auto result =
      run_cli({"embed", "--model", fixture("rn-tiny.safetensors"), "--image",
               fixture("images/biden2.jpg"), "--text", "a photo of Joe Biden", "a photo of a cat"},
              {"CLIPFACE_SHARED=" + testing::shared_dir().string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("cosine similarity"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("biden2.jpg"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("a photo of a cat"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("RANDOM WEIGHTS"), std::string::npos);
}

TEST(EmbedCli, RandomArchitectureSaysSoLoudly) {
  CLIPFACE_REQUIRE_SHARED("models/clip/bpe_simple_vocab_16e6.txt.gz");
  const auto result = run_cli({"embed", "--arch", "ViT-B-32", "--text", "a face"},
                              {"CLIPFACE_SHARED=" + testing::shared_dir().string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("RANDOM WEIGHTS"), std::string::npos) << result.out;
}

TEST(EmbedCli, MissingModelFileFailsWithOneLineNamingIt) {
  const auto result = run_cli({"embed", "--model", "/nonexistent/ViT-B-32.pt", "--text", "a face"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_EQ(count_lines(result.err), 1u) << result.err;
  EXPECT_NE(result.err.find("/nonexistent/ViT-B-32.pt"), std::string::npos) << result.err;
}

TEST(EmbedCli, BrokenModelFileFailsWithOneLineNamingIt) {
  testing::TempDir dir;
  const auto path = (dir / "broken.safetensors").string();
  { std::ofstream(path) << "not a model at all"; }
  const auto result = run_cli({"embed", "--model", path, "--text", "a face"});
  EXPECT_EQ(result.exit_code, 4);  // ModelError
  EXPECT_EQ(count_lines(result.err), 1u) << result.err;
  EXPECT_NE(result.err.find(path), std::string::npos) << result.err;
}

TEST(EmbedCli, MissingImageFailsWithOneLine) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.openai.pt");
  const auto result = run_cli(
      {"embed", "--model", fixture("vit-tiny.openai.pt"), "--image", "/nonexistent/photo.jpg"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_EQ(count_lines(result.err), 1u) << result.err;
  EXPECT_NE(result.err.find("/nonexistent/photo.jpg"), std::string::npos) << result.err;
}

// The README's promise on any x86-64 CPU: --precision bf16 where oneDNN has no bf16 kernels (run
// by the isa_avx2: copy of this test on every machine) is fp32 with one warning line, never an
// internal error; where bf16 runs, it stays within cosine 0.999 of fp32. `auto` is the default
// and says what it picked, the same as `clipface doctor`.
TEST(EmbedCli, PrecisionAutoIsTheDefaultAndBf16IsCorrectOnAnyCpu) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/images/obama1.jpg");
  const std::string image = fixture("images/obama1.jpg");
  const auto doctor = run_cli({"doctor", "--json"});
  ASSERT_EQ(doctor.exit_code, 0) << doctor.err;
  const auto machine = nlohmann::json::parse(doctor.out);
  const std::string automatic = machine["clip"]["auto_precision"];
  const bool bf16_runs = machine["clip"]["bf16"] != "unavailable";

  auto embed = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args{"embed", "--arch", "ViT-B-32", "--image", image, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  const auto by_default = embed({});
  ASSERT_EQ(by_default.exit_code, 0) << by_default.err;
  EXPECT_EQ(nlohmann::json::parse(by_default.out)["precision"], automatic);

  const auto fp32 = embed({"--precision", "fp32"});
  const auto bf16 = embed({"--precision", "bf16"});
  ASSERT_EQ(fp32.exit_code, 0) << fp32.err;
  ASSERT_EQ(bf16.exit_code, 0) << bf16.err;
  const auto a = nlohmann::json::parse(fp32.out), b = nlohmann::json::parse(bf16.out);
  double cosine = 0;
  for (std::size_t k = 0; k < a["image_embeddings"][0].size(); ++k) {
    cosine += a["image_embeddings"][0][k].get<double>() * b["image_embeddings"][0][k].get<double>();
  }
  EXPECT_GE(cosine, 0.999);
  const std::string warning = "clipface: warning: --precision bf16 runs as fp32 here";
  if (bf16_runs) {
    EXPECT_EQ(b["precision"], "bf16");
    EXPECT_EQ(bf16.err.find(warning), std::string::npos) << bf16.err;
  } else {
    EXPECT_EQ(b["precision"], "fp32");
    EXPECT_EQ(a["image_embeddings"], b["image_embeddings"]) << "the fallback is fp32 exactly";
    EXPECT_EQ(bf16.err.find("oneDNN failed"), std::string::npos) << bf16.err;
    // The random-weights warning, then exactly one line about the precision.
    EXPECT_EQ(count_lines(bf16.err), count_lines(fp32.err) + 1) << bf16.err;
    EXPECT_NE(bf16.err.find(warning), std::string::npos) << bf16.err;
    EXPECT_EQ(automatic, "fp32");
  }
}

TEST(EmbedCli, ModelAndArchTogetherAreRejected) {
  const auto result = run_cli({"embed", "--model", "x.pt", "--arch", "RN50", "--text", "a"});
  EXPECT_EQ(result.exit_code, 2);  // InputError
  EXPECT_EQ(count_lines(result.err), 1u) << result.err;
}

}  // namespace
}  // namespace clipface
