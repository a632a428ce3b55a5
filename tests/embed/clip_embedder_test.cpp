// The CLIP embedder on aligned crops, with the random-weight fixture models (plumbing, not
// accuracy: these weights mean nothing).
#include <opencv2/imgcodecs.hpp>

#include "clipface/align.hpp"
#include "clipface/checksum.hpp"
#include "clipface/embedder.hpp"
#include "clipface/errors.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {

using testing::shared_path;

const char* kVitTiny = "fixtures/clip/vit-tiny.safetensors";
const char* kYunetPath = "models/yunet/face_detection_yunet_2022mar.onnx";
const char* kGroup = "data/faces/named/face_recognition_examples/_group/two_people.jpg";

std::vector<Face> faces_of(const cv::Mat& image) {
  DetectorOptions options;
  options.model = shared_path(kYunetPath).string();
  return make_detector(options)->detect(image);
}

TEST(ClipEmbedder, FixtureModelOnAlignedCrops) {
  CLIPFACE_REQUIRE_SHARED(kVitTiny);
  CLIPFACE_REQUIRE_SHARED(kYunetPath);
  CLIPFACE_REQUIRE_SHARED(kGroup);
  const auto embedder = make_embedder("clip:" + shared_path(kVitTiny).string());
  const EmbedderInfo& info = embedder->info();
  EXPECT_EQ(info.name.rfind("clip:", 0), 0u) << info.name;
  EXPECT_EQ(info.checksum, sha256_file(shared_path(kVitTiny)));
  EXPECT_EQ(info.crop_style, "loose");
  EXPECT_EQ(info.dim, 64);
  EXPECT_EQ(info.input_size, 224);
  EXPECT_FALSE(info.random_weights);  // the file's values are random, but it is a weight file

  const cv::Mat image = cv::imread(shared_path(kGroup).string(), cv::IMREAD_COLOR);
  const auto faces = faces_of(image);
  ASSERT_EQ(faces.size(), 2u);
  const auto crops = embedder->crops(image, faces);
  ASSERT_EQ(crops.size(), 2u);
  for (const auto& crop : crops) EXPECT_EQ(crop.size(), cv::Size(224, 224));
  // The crops are the loose aligned crops at the model's size.
  EXPECT_EQ(cv::norm(crops[1], align_face(image, faces[1], 224, CropStyle::loose), cv::NORM_INF),
            0);

  const Matrix m = embedder->embed(image, faces);
  ASSERT_EQ(m.rows, 2u);
  ASSERT_EQ(m.cols, 64u);
  for (std::size_t i = 0; i < m.rows; ++i) EXPECT_NEAR(dot(m.row(i), m.row(i)), 1.0f, 1e-4f);
  // Deterministic, and row i belongs to crop i whatever the batch.
  const Matrix second = embedder->embed_crops({crops[1]});
  EXPECT_GT(dot(second.row(0), m.row(1)), 0.9999f);
  EXPECT_EQ(embedder->embed_crops({}).rows, 0u);
}

TEST(ClipEmbedder, TightStyleAndFlipAreRecorded) {
  CLIPFACE_REQUIRE_SHARED(kVitTiny);
  CLIPFACE_REQUIRE_SHARED(kYunetPath);
  CLIPFACE_REQUIRE_SHARED(kGroup);
  EmbedderOptions options;
  options.crop_style = "tight";
  options.flip_average = true;
  const auto tight = make_embedder("clip:" + shared_path(kVitTiny).string(), options);
  const auto loose = make_embedder("clip:" + shared_path(kVitTiny).string());
  EXPECT_EQ(tight->info().crop_style, "tight+flip");
  EXPECT_FALSE(tight->info().same_space(loose->info()));
  const cv::Mat image = cv::imread(shared_path(kGroup).string(), cv::IMREAD_COLOR);
  const auto faces = faces_of(image);
  ASSERT_FALSE(faces.empty());
  const Matrix a = tight->embed(image, {faces[0]});
  const Matrix b = loose->embed(image, {faces[0]});
  EXPECT_NEAR(dot(a.row(0), a.row(0)), 1.0f, 1e-4f);
  EXPECT_LT(dot(a.row(0), b.row(0)), 0.9999f);  // another crop, another vector

  options.crop_style = "wide";
  EXPECT_THROW(make_embedder("clip:" + shared_path(kVitTiny).string(), options), InputError);
}

TEST(ClipEmbedder, RandomArchitectureHasNoChecksum) {
  const auto embedder = make_embedder("clip-random:ViT-B-32");
  const EmbedderInfo& info = embedder->info();
  EXPECT_EQ(info.name, "clip-random:ViT-B-32");
  EXPECT_TRUE(info.random_weights);
  EXPECT_EQ(info.checksum, "");
  EXPECT_EQ(info.dim, 512);
  EXPECT_EQ(info.input_size, 224);
  const Matrix m = embedder->embed_crops({cv::Mat(224, 224, CV_8UC3, cv::Scalar(90, 120, 150))});
  ASSERT_EQ(m.cols, 512u);
  EXPECT_NEAR(dot(m.row(0), m.row(0)), 1.0f, 1e-4f);
}

TEST(ClipEmbedder, MissingModelFileIsNamed) {
  try {
    make_embedder("clip:/nonexistent/face-clip.safetensors");
    ADD_FAILURE() << "no exception";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("face-clip.safetensors"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_embedder("clip-random:"), InputError);
}

}  // namespace
}  // namespace clipface
