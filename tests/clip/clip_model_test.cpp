// Proof of equality: the fixture models (random weights made by OpenAI's own CLIP code), loaded
// from both file formats, reproduce the reference embeddings and logits to 1e-4.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <nlohmann/json.hpp>

#include "clipface/checksum.hpp"
#include "clipface/clip.hpp"
#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/npy.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
using testing::shared_path;

constexpr float kTolerance = 1e-4f;
const std::vector<std::string> kImages = {"obama1", "biden2", "obama2", "alex_lacamoire",
                                          "att_s1_1"};

std::string fixture(const std::string& name) {
  return shared_path("fixtures/clip/" + name).string();
}

Matrix read_matrix(const std::string& relative) {
  const NpyArray array = read_npy(fixture(relative));
  EXPECT_EQ(array.shape.size(), 2u) << relative;
  Matrix m(static_cast<std::size_t>(array.shape[0]), static_cast<std::size_t>(array.shape[1]));
  m.data = array.as_floats();
  return m;
}

// The five preprocessed fixture images, concatenated in the fixture order.
std::vector<float> read_pixels(const std::string& folder) {
  std::vector<float> pixels;
  for (const auto& name : kImages) {
    const auto values = read_npy(fixture(folder + "/" + name + ".npy")).as_floats();
    pixels.insert(pixels.end(), values.begin(), values.end());
  }
  return pixels;
}

std::vector<std::vector<std::int32_t>> read_tokens() {
  const NpyArray array = read_npy(fixture("tokenizer_tokens.npy"));
  const auto ids = array.as_ints();
  std::vector<std::vector<std::int32_t>> rows;
  const auto cols = static_cast<std::size_t>(array.shape[1]);
  for (std::size_t r = 0; r < static_cast<std::size_t>(array.shape[0]); ++r) {
    rows.emplace_back(ids.begin() + r * cols, ids.begin() + (r + 1) * cols);
  }
  return rows;
}

float max_abs_diff(const Matrix& a, const Matrix& b) {
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.cols, b.cols);
  if (a.data.size() != b.data.size()) return INFINITY;
  float worst = 0;
  for (std::size_t i = 0; i < a.data.size(); ++i)
    worst = std::max(worst, std::abs(a.data[i] - b.data[i]));
  return worst;
}

Matrix normalized(Matrix m) {
  normalize_rows(m);
  return m;
}

// One model file, loaded once per batch size for the whole test binary (loading takes ~1 s).
const ClipModel& model(const std::string& file, int batch_size) {
  static std::map<std::pair<std::string, int>, std::unique_ptr<ClipModel>> cache;
  auto& slot = cache[{file, batch_size}];
  if (!slot) {
    ClipLoadOptions options;
    options.runtime.batch_size = batch_size;
    slot = std::make_unique<ClipModel>(ClipModel::load(fixture(file), options));
  }
  return *slot;
}

struct Case {
  std::string model;  // "vit-tiny" | "rn-tiny"
  std::string file;   // weight file under fixtures/clip
};

// How gtest (and so ctest's listing) shows a case: its file, not its bytes.
void PrintTo(const Case& c, std::ostream* out) { *out << c.file; }

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string name = info.param.file;
  for (auto& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

// Every check runs with the whole fixture batch at once (5) and one row at a time (1).
constexpr int kBatchSizes[] = {5, 1};

class FixtureEquality : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { CLIPFACE_REQUIRE_SHARED("fixtures/clip/" + GetParam().file); }
  const ClipModel& clip(int batch_size) const { return model(GetParam().file, batch_size); }
  std::string expected(const std::string& name) const {
    return "expected/" + GetParam().model + "/" + name;
  }
};

TEST_P(FixtureEquality, ImageEmbeddingsMatchReference) {
  for (const int batch : kBatchSizes) {
    SCOPED_TRACE("batch size " + std::to_string(batch));
    const Matrix got = clip(batch).encode_pixels(read_pixels("preprocess"), kImages.size(), false);
    EXPECT_LE(max_abs_diff(got, read_matrix(expected("image_embeds.npy"))), kTolerance);
  }
}

TEST_P(FixtureEquality, ImageEmbeddingsWithoutCropMatchReference) {
  for (const int batch : kBatchSizes) {
    SCOPED_TRACE("batch size " + std::to_string(batch));
    const Matrix got =
        clip(batch).encode_pixels(read_pixels("preprocess_nocrop"), kImages.size(), false);
    EXPECT_LE(max_abs_diff(got, read_matrix(expected("image_embeds_nocrop.npy"))), kTolerance);
  }
}

TEST_P(FixtureEquality, TextEmbeddingsMatchReference) {
  for (const int batch : kBatchSizes) {
    SCOPED_TRACE("batch size " + std::to_string(batch));
    const Matrix got = clip(batch).encode_tokens(read_tokens(), false);
    EXPECT_EQ(got.rows, 32u);
    EXPECT_LE(max_abs_diff(got, read_matrix(expected("text_embeds.npy"))), kTolerance);
  }
}

TEST_P(FixtureEquality, NormalisedEmbeddingsAreUnitRowsOfTheReference) {
  const Matrix got = clip(5).encode_tokens(read_tokens());
  for (std::size_t r = 0; r < got.rows; ++r) EXPECT_NEAR(dot(got.row(r), got.row(r)), 1.0f, 1e-5f);
  EXPECT_LE(max_abs_diff(got, normalized(read_matrix(expected("text_embeds.npy")))), kTolerance);
}

TEST_P(FixtureEquality, LogitsMatchReference) {
  for (const int batch : kBatchSizes) {
    SCOPED_TRACE("batch size " + std::to_string(batch));
    const ClipModel& m = clip(batch);
    const Matrix images = m.encode_pixels(read_pixels("preprocess"), kImages.size());
    auto tokens = read_tokens();
    tokens.resize(5);  // the first five cases are the prompts
    const Matrix texts = m.encode_tokens(tokens);
    EXPECT_NEAR(m.logit_scale(), 14.29852294921875f, 1e-5f);
    Matrix logits(images.rows, texts.rows);
    for (std::size_t i = 0; i < images.rows; ++i) {
      for (std::size_t t = 0; t < texts.rows; ++t) {
        logits.at(i, t) = m.logit_scale() * dot(images.row(i), texts.row(t));
      }
    }
    EXPECT_LE(max_abs_diff(logits, read_matrix(expected("logits_per_image.npy"))), kTolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(Clip, FixtureEquality,
                         ::testing::Values(Case{"vit-tiny", "vit-tiny.openai.pt"},
                                           Case{"vit-tiny", "vit-tiny.safetensors"},
                                           Case{"rn-tiny", "rn-tiny.openai.pt"},
                                           Case{"rn-tiny", "rn-tiny.safetensors"}),
                         case_name);

TEST(ClipInfo, ViTHyperParametersComeFromTheTensorShapes) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.openai.pt");
  const ClipInfo& info = model("vit-tiny.openai.pt", 5).info();
  EXPECT_EQ(info.format, "openai-torchscript");
  EXPECT_EQ(info.vision, "vit");
  EXPECT_EQ(info.activation, "quick_gelu");
  EXPECT_FALSE(info.random_weights);
  EXPECT_EQ(info.embed_dim, 64);
  EXPECT_EQ(info.image_size, 224);
  EXPECT_EQ(info.vision_patch_size, 32);
  EXPECT_EQ(info.vision_width, 64);
  EXPECT_EQ(info.vision_layers, std::vector<int>{2});
  EXPECT_EQ(info.vision_heads, 1);
  EXPECT_EQ(info.context_length, 77);
  EXPECT_EQ(info.vocab_size, 49408);
  EXPECT_EQ(info.text_width, 64);
  EXPECT_EQ(info.text_heads, 1);
  EXPECT_EQ(info.text_layers, 2);
  EXPECT_EQ(info.sha256, sha256_file(fixture("vit-tiny.openai.pt")));
}

TEST(ClipInfo, ResNetHyperParametersComeFromTheTensorShapes) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/rn-tiny.safetensors");
  const ClipInfo& info = model("rn-tiny.safetensors", 5).info();
  EXPECT_EQ(info.format, "openclip-safetensors");
  EXPECT_EQ(info.vision, "resnet");
  EXPECT_EQ(info.activation, "quick_gelu");  // from the file's __metadata__ act
  EXPECT_EQ(info.vision_layers, (std::vector<int>{1, 1, 1, 1}));
  EXPECT_EQ(info.vision_width, 8);
  EXPECT_EQ(info.vision_heads, 4);
  EXPECT_EQ(info.vision_patch_size, 0);
  EXPECT_EQ(info.image_size, 224);
  EXPECT_EQ(info.embed_dim, 64);
  EXPECT_EQ(info.sha256, sha256_file(fixture("rn-tiny.safetensors")));
}

// The public entry points wire in the tokenizer and the image preprocessing.
TEST(ClipInput, EncodeTextsTokenizesLikeTheReference) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.openai.pt");
  CLIPFACE_REQUIRE_SHARED("models/clip/bpe_simple_vocab_16e6.txt.gz");
  ::setenv("CLIPFACE_SHARED", testing::shared_dir().c_str(), 0);
  std::ifstream in(fixture("tokenizer_cases.json"));
  const auto cases = nlohmann::json::parse(in)["cases"];
  std::vector<std::string> texts;
  for (const auto& c : cases) texts.push_back(c["text"].get<std::string>());
  const Matrix got = model("vit-tiny.openai.pt", 5).encode_texts(texts, false);
  EXPECT_LE(max_abs_diff(got, read_matrix("expected/vit-tiny/text_embeds.npy")), kTolerance);
}

TEST(ClipInput, EncodeImagesPreprocessesLikeTheReference) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.openai.pt");
  const std::vector<std::string> files = {"obama1.jpg", "biden2.jpg", "obama2.jpg",
                                          "alex_lacamoire.png", "att_s1_1.pgm"};
  std::vector<cv::Mat> images;
  for (const auto& f : files) images.push_back(load_image(fixture("images/" + f)));
  const ClipModel& clip = model("vit-tiny.openai.pt", 2);  // batches of 2, 2 and 1
  const Matrix cropped = clip.encode_images(images, ImageResize::center_crop);
  const Matrix squashed = clip.encode_images(images, ImageResize::squash);
  const Matrix ref_crop = normalized(read_matrix("expected/vit-tiny/image_embeds.npy"));
  const Matrix ref_squash = normalized(read_matrix("expected/vit-tiny/image_embeds_nocrop.npy"));
  // JPEG decoders may differ by a few levels, so the match is close rather than exact.
  for (std::size_t r = 0; r < files.size(); ++r) {
    EXPECT_GE(dot(cropped.row(r), ref_crop.row(r)), 0.999f) << files[r];
    EXPECT_GE(dot(squashed.row(r), ref_squash.row(r)), 0.999f) << files[r];
  }
}

TEST(ClipInput, WrongPixelCountIsAnInputError) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.openai.pt");
  const ClipModel& clip = model("vit-tiny.openai.pt", 5);
  EXPECT_THROW(clip.encode_pixels(std::vector<float>(3 * 224 * 224 - 1), 1), InputError);
}

TEST(ClipInput, TokenRowsOfTheWrongLengthOrOutsideTheVocabularyAreInputErrors) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.openai.pt");
  const ClipModel& clip = model("vit-tiny.openai.pt", 5);
  EXPECT_THROW(clip.encode_tokens({std::vector<std::int32_t>(76, 0)}), InputError);
  std::vector<std::int32_t> row(77, 0);
  row[0] = 49408;
  EXPECT_THROW(clip.encode_tokens({row}), InputError);
}

TEST(ClipInput, EmptyInputGivesAnEmptyMatrix) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.openai.pt");
  const ClipModel& clip = model("vit-tiny.openai.pt", 5);
  const Matrix m = clip.encode_tokens({});
  EXPECT_EQ(m.rows, 0u);
  EXPECT_EQ(m.cols, 64u);
}

TEST(ClipRuntime, MoreRowsThanOneBatchAreSplitInternally) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/rn-tiny.openai.pt");
  // 32 text rows through batches of 5 (6 full + 1 partial) equal the reference.
  const Matrix got = model("rn-tiny.openai.pt", 5).encode_tokens(read_tokens(), false);
  EXPECT_LE(max_abs_diff(got, read_matrix("expected/rn-tiny/text_embeds.npy")), kTolerance);
}

TEST(ClipRuntime, Bf16StaysCloseToFp32) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.safetensors");
  if (clip_cpu_support().bf16 == KernelSupport::unavailable) {
    GTEST_SKIP() << "no bf16 kernels here (" << clip_cpu_support().bf16_reason
                 << "); ClipCpuSupport.Bf16RequestFallsBackToExactFp32 covers this CPU";
  }
  ClipLoadOptions options;
  options.runtime.precision = Precision::bf16;
  const ClipModel bf16 = ClipModel::load(fixture("vit-tiny.safetensors"), options);
  const Matrix low = bf16.encode_pixels(read_pixels("preprocess"), kImages.size());
  const Matrix ref =
      model("vit-tiny.safetensors", 5).encode_pixels(read_pixels("preprocess"), kImages.size());
  for (std::size_t r = 0; r < ref.rows; ++r) EXPECT_GE(dot(low.row(r), ref.row(r)), 0.99f) << r;
}

TEST(ClipRuntime, CudaWithoutACudaDeviceIsAModelError) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.safetensors");
  ClipLoadOptions options;
  options.runtime.device = Device::cuda;
  try {
    const ClipModel gpu = ClipModel::load(fixture("vit-tiny.safetensors"), options);
    // A machine with CUDA: the GPU must give the reference numbers too.
    const Matrix got = gpu.encode_pixels(read_pixels("preprocess"), kImages.size(), false);
    EXPECT_LE(max_abs_diff(got, read_matrix("expected/vit-tiny/image_embeds.npy")), 1e-3f);
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("cuda"), std::string::npos) << e.what();
  }
}

TEST(ClipRandom, OfficialArchitecturesAreListed) {
  const auto names = ClipModel::architectures();
  for (const char* name : {"RN50", "RN101", "RN50x4", "RN50x16", "RN50x64", "ViT-B-32", "ViT-B-16",
                           "ViT-L-14", "ViT-L-14-336"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

TEST(ClipRandom, ViTB32HasTheOfficialShapesAndIsSeeded) {
  const ClipModel a = ClipModel::random("ViT-B-32", {}, 7);
  const ClipInfo& info = a.info();
  EXPECT_TRUE(info.random_weights);
  EXPECT_EQ(info.format, "random");
  EXPECT_EQ(info.embed_dim, 512);
  EXPECT_EQ(info.image_size, 224);
  EXPECT_EQ(info.vision_patch_size, 32);
  EXPECT_EQ(info.vision_width, 768);
  EXPECT_EQ(info.vision_layers, std::vector<int>{12});
  EXPECT_EQ(info.vision_heads, 12);
  EXPECT_EQ(info.text_width, 512);
  EXPECT_EQ(info.text_heads, 8);
  EXPECT_EQ(info.text_layers, 12);
  std::vector<std::int32_t> row(77, 0);
  row[0] = 49406;
  row[1] = 320;
  row[2] = 49407;
  const Matrix first = a.encode_tokens({row});
  ASSERT_EQ(first.cols, 512u);
  EXPECT_NEAR(dot(first.row(0), first.row(0)), 1.0f, 1e-5f);
  const Matrix again = ClipModel::random("ViT-B-32", {}, 7).encode_tokens({row});
  EXPECT_EQ(first.data, again.data);
}

TEST(ClipRandom, RN50HasTheOfficialShapes) {
  const ClipModel rn50 = ClipModel::random("RN50");
  const ClipInfo& info = rn50.info();
  EXPECT_EQ(info.vision, "resnet");
  EXPECT_EQ(info.embed_dim, 1024);
  EXPECT_EQ(info.vision_layers, (std::vector<int>{3, 4, 6, 3}));
  EXPECT_EQ(info.vision_width, 64);
  EXPECT_EQ(info.vision_heads, 32);
  EXPECT_EQ(info.image_size, 224);
  const Matrix image = rn50.encode_pixels(std::vector<float>(3 * 224 * 224, 0.1f), 1);
  EXPECT_EQ(image.cols, 1024u);
  EXPECT_NEAR(dot(image.row(0), image.row(0)), 1.0f, 1e-4f);
}

TEST(ClipRandom, UnknownArchitectureIsAnInputError) {
  EXPECT_THROW(ClipModel::random("ViT-Z-99"), InputError);
}

}  // namespace
}  // namespace clipface
