// Weight files: Hugging Face layout (made from a fixture at test time), and one clear ModelError
// naming the file and the tensor for every kind of broken file.
#include "clip/weights.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "clipface/clip.hpp"
#include "clipface/errors.hpp"
#include "clipface/npy.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
using testing::shared_path;
using testing::TempDir;

std::string fixture(const std::string& name) {
  return shared_path("fixtures/clip/" + name).string();
}

std::vector<std::vector<std::int32_t>> fixture_tokens() {
  const NpyArray array = read_npy(fixture("tokenizer_tokens.npy"));
  const auto ids = array.as_ints();
  std::vector<std::vector<std::int32_t>> rows;
  for (std::size_t r = 0; r < static_cast<std::size_t>(array.shape[0]); ++r) {
    rows.emplace_back(ids.begin() + r * 77, ids.begin() + (r + 1) * 77);
  }
  return rows;
}

std::vector<float> fixture_pixels() {
  std::vector<float> pixels;
  for (const char* name : {"obama1", "biden2", "obama2", "alex_lacamoire", "att_s1_1"}) {
    const auto values = read_npy(fixture(std::string("preprocess/") + name + ".npy")).as_floats();
    pixels.insert(pixels.end(), values.begin(), values.end());
  }
  return pixels;
}

float max_abs_diff(const Matrix& a, const Matrix& b) {
  EXPECT_EQ(a.data.size(), b.data.size());
  float worst = 0;
  for (std::size_t i = 0; i < std::min(a.data.size(), b.data.size()); ++i) {
    worst = std::max(worst, std::abs(a.data[i] - b.data[i]));
  }
  return worst;
}

Matrix expected(const std::string& relative) {
  const NpyArray array = read_npy(fixture(relative));
  Matrix m(static_cast<std::size_t>(array.shape[0]), static_cast<std::size_t>(array.shape[1]));
  m.data = array.as_floats();
  return m;
}

// Loading `path` throws a one-line ModelError that mentions the file and every `needle`.
void expect_model_error(const std::string& path, const std::vector<std::string>& needles) {
  try {
    ClipModel::load(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const ModelError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_NE(message.find(path), std::string::npos) << message;
    for (const auto& needle : needles)
      EXPECT_NE(message.find(needle), std::string::npos) << message;
  }
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

class WeightFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.safetensors");
    CLIPFACE_REQUIRE_SHARED("fixtures/clip/rn-tiny.safetensors");
  }
  TempDir dir;
};

TEST_F(WeightFiles, SafetensorsReaderKeepsMetadataAndConvertsFp16PerTensor) {
  const auto file = clip::read_safetensors(fixture("vit-tiny.safetensors"));
  EXPECT_EQ(file.tensors.size(), 62u);
  EXPECT_EQ(file.metadata.at("act"), "quick_gelu");
  EXPECT_EQ(file.tensors.at("token_embedding.weight").scalar_type(), torch::kFloat);  // F16 on disk
  EXPECT_EQ(file.tensors.at("token_embedding.weight").sizes(), (std::vector<int64_t>{49408, 64}));
}

TEST_F(WeightFiles, TorchScriptAndSafetensorsHoldTheSameTensors) {
  const auto archive = clip::read_torchscript(fixture("vit-tiny.openai.pt"));
  const auto safetensors = clip::read_safetensors(fixture("vit-tiny.safetensors")).tensors;
  EXPECT_EQ(archive.size(), 65u);  // + input_resolution, context_length, vocab_size
  for (const auto& [name, t] : safetensors) {
    ASSERT_TRUE(archive.count(name)) << name;
    EXPECT_TRUE(torch::equal(archive.at(name), t)) << name;
  }
}

TEST_F(WeightFiles, HuggingFaceLayoutGivesTheSameEmbeddings) {
  const auto openai = clip::read_safetensors(fixture("vit-tiny.safetensors")).tensors;
  const auto hf = clip::openai_to_hf(openai);
  EXPECT_TRUE(hf.count("vision_model.encoder.layers.1.self_attn.q_proj.weight"));
  EXPECT_TRUE(hf.count("vision_model.pre_layrnorm.weight"));
  EXPECT_TRUE(hf.count("text_model.embeddings.token_embedding.weight"));
  EXPECT_EQ(hf.at("visual_projection.weight").sizes(), (std::vector<int64_t>{64, 64}));
  const auto path = dir / "model.safetensors";
  clip::write_safetensors(path, hf);  // no act metadata: HF's own default (quick_gelu) applies

  const ClipModel model = ClipModel::load(path.string());
  EXPECT_EQ(model.info().format, "hf-safetensors");
  EXPECT_EQ(model.info().activation, "quick_gelu");
  EXPECT_LE(max_abs_diff(model.encode_pixels(fixture_pixels(), 5, false),
                         expected("expected/vit-tiny/image_embeds.npy")),
            1e-4f);
  EXPECT_LE(max_abs_diff(model.encode_tokens(fixture_tokens(), false),
                         expected("expected/vit-tiny/text_embeds.npy")),
            1e-4f);
}

TEST_F(WeightFiles, HuggingFaceConfigJsonDecidesTheActivation) {
  const auto hf =
      clip::openai_to_hf(clip::read_safetensors(fixture("vit-tiny.safetensors")).tensors);
  clip::write_safetensors(dir / "model.safetensors", hf);
  write_bytes(dir / "config.json", R"({"text_config": {"hidden_act": "gelu"}})");
  const ClipModel model = ClipModel::load((dir / "model.safetensors").string());
  EXPECT_EQ(model.info().activation, "gelu");
  // GELU is not what the reference used, so the embeddings move away from it.
  EXPECT_GT(max_abs_diff(model.encode_tokens(fixture_tokens(), false),
                         expected("expected/vit-tiny/text_embeds.npy")),
            1e-3f);
}

TEST_F(WeightFiles, HuggingFaceRoundTripIsExact) {
  const auto openai = clip::read_safetensors(fixture("vit-tiny.safetensors")).tensors;
  const auto back = clip::hf_to_openai(clip::openai_to_hf(openai), "x");
  EXPECT_EQ(back.size(), openai.size());
  for (const auto& [name, t] : openai) {
    ASSERT_TRUE(back.count(name)) << name;
    EXPECT_TRUE(torch::equal(back.at(name), t)) << name;
  }
}

TEST_F(WeightFiles, MissingTensorIsNamed) {
  auto tensors = clip::read_safetensors(fixture("vit-tiny.safetensors")).tensors;
  tensors.erase("visual.proj");
  const auto path = dir / "no-proj.safetensors";
  clip::write_safetensors(path, tensors);
  expect_model_error(path.string(), {"missing tensor", "'visual.proj'"});

  auto resnet = clip::read_safetensors(fixture("rn-tiny.safetensors")).tensors;
  resnet.erase("visual.layer2.0.downsample.1.running_var");
  const auto rn_path = dir / "no-running-var.safetensors";
  clip::write_safetensors(rn_path, resnet);
  expect_model_error(rn_path.string(), {"'visual.layer2.0.downsample.1.running_var'"});
}

TEST_F(WeightFiles, MissingHuggingFaceProjectionIsNamed) {
  auto hf = clip::openai_to_hf(clip::read_safetensors(fixture("vit-tiny.safetensors")).tensors);
  hf.erase("text_model.encoder.layers.1.self_attn.k_proj.bias");
  const auto path = dir / "hf.safetensors";
  clip::write_safetensors(path, hf);
  expect_model_error(path.string(), {"k_proj bias", "transformer.resblocks.1.attn."});
}

TEST_F(WeightFiles, WrongShapeIsNamed) {
  auto tensors = clip::read_safetensors(fixture("vit-tiny.safetensors")).tensors;
  tensors["transformer.resblocks.1.mlp.c_fc.weight"] = torch::zeros({100, 64});
  const auto path = dir / "bad-shape.safetensors";
  clip::write_safetensors(path, tensors);
  expect_model_error(path.string(),
                     {"'transformer.resblocks.1.mlp.c_fc.weight'", "[100, 64]", "[256, 64]"});
}

TEST_F(WeightFiles, TruncatedSafetensorsIsReported) {
  const std::string bytes = testing::read_text(fixture("rn-tiny.safetensors"));
  const auto path = dir / "cut.safetensors";
  write_bytes(path, bytes.substr(0, bytes.size() / 2));
  expect_model_error(path.string(), {"truncated"});
  write_bytes(path, bytes.substr(0, 100));  // cut inside the header
  expect_model_error(path.string(), {"truncated"});
}

TEST_F(WeightFiles, TruncatedTorchScriptIsReported) {
  const std::string bytes = testing::read_text(fixture("vit-tiny.openai.pt"));
  const auto path = dir / "cut.pt";
  write_bytes(path, bytes.substr(0, bytes.size() / 2));
  expect_model_error(path.string(), {"TorchScript"});
}

TEST_F(WeightFiles, NonModelFilesAreRejected) {
  const auto text = dir / "notes.pt";
  write_bytes(text, "these are not the weights you are looking for\n");
  expect_model_error(text.string(), {"not a CLIP weight file"});

  const auto unrelated = dir / "other.safetensors";
  clip::write_safetensors(unrelated, {{"encoder.weight", torch::zeros({4, 4})}});
  expect_model_error(unrelated.string(), {"not a CLIP model"});

  const auto bad_json = dir / "bad.safetensors";
  write_bytes(bad_json, std::string("\x08\0\0\0\0\0\0\0{oops!! ", 16));
  expect_model_error(bad_json.string(), {"JSON"});

  expect_model_error((dir / "missing.safetensors").string(), {"not found"});
}

TEST_F(WeightFiles, ConfigFromShapesMatchesTheOfficialArchitectures) {
  // Named shapes of a net built from each official config read back as the same config.
  for (const char* name : {"ViT-B-32", "RN50"}) {
    const clip::ClipConfig official = clip::official_config(name);
    clip::ClipNet net(official);
    clip::StateDict shapes;
    for (const auto& item : net->named_parameters()) shapes[item.key()] = item.value();
    for (const auto& item : net->named_buffers()) shapes[item.key()] = item.value();
    const clip::ClipConfig read = clip::config_from_state_dict(shapes, name);
    EXPECT_EQ(read.embed_dim, official.embed_dim) << name;
    EXPECT_EQ(read.image_resolution, official.image_resolution) << name;
    EXPECT_EQ(read.vision_layers, official.vision_layers) << name;
    EXPECT_EQ(read.vision_width, official.vision_width) << name;
    EXPECT_EQ(read.vision_patch_size, official.vision_patch_size) << name;
    EXPECT_EQ(read.transformer_width, official.transformer_width) << name;
    EXPECT_EQ(read.transformer_heads, official.transformer_heads) << name;
    EXPECT_EQ(read.transformer_layers, official.transformer_layers) << name;
  }
}

TEST(OfficialConfigs, HeadsAndSizesFollowBuildModel) {
  // Published sizes (openai/CLIP model card; heads = width // 64, ResNet width * 32 // 64).
  struct Row {
    const char* name;
    int embed, image, vision_heads, text_width;
  };
  for (const Row& row : {Row{"RN50", 1024, 224, 32, 512}, Row{"RN101", 512, 224, 32, 512},
                         Row{"RN50x4", 640, 288, 40, 640}, Row{"RN50x16", 768, 384, 48, 768},
                         Row{"RN50x64", 1024, 448, 64, 1024}, Row{"ViT-B-32", 512, 224, 12, 512},
                         Row{"ViT-B/16", 512, 224, 12, 512}, Row{"ViT-L-14", 768, 224, 16, 768},
                         Row{"ViT-L/14@336px", 768, 336, 16, 768}}) {
    const clip::ClipConfig c = clip::official_config(row.name);
    EXPECT_EQ(c.embed_dim, row.embed) << row.name;
    EXPECT_EQ(c.image_resolution, row.image) << row.name;
    EXPECT_EQ(c.vision_heads(), row.vision_heads) << row.name;
    EXPECT_EQ(c.transformer_width, row.text_width) << row.name;
    EXPECT_EQ(c.transformer_heads, row.text_width / 64) << row.name;
  }
}

}  // namespace
}  // namespace clipface
