// The dlib embedder on real photos: same person close, different people apart, on unit vectors.
#include <chrono>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "clipface/checksum.hpp"
#include "clipface/embedder.hpp"
#include "clipface/errors.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {

using testing::shared_path;

const char* kDlibDir = "models/dlib";
const char* kYunetPath = "models/yunet/face_detection_yunet_2022mar.onnx";
const std::string kExamples = "data/faces/named/face_recognition_examples/";

#define REQUIRE_MODELS()               \
  CLIPFACE_REQUIRE_SHARED(kDlibDir);   \
  CLIPFACE_REQUIRE_SHARED(kYunetPath); \
  CLIPFACE_REQUIRE_SHARED(kExamples)

std::string dlib_spec() {
  return "dlib:" + shared_path(kDlibDir).string();
}

const Detector& detector() {
  static const auto yunet = [] {
    DetectorOptions options;
    options.model = shared_path(kYunetPath).string();
    return make_detector(options);
  }();
  return *yunet;
}

const Embedder& embedder(bool flip = false) {
  static std::unique_ptr<Embedder> plain, flipped;
  auto& slot = flip ? flipped : plain;
  if (!slot) {
    EmbedderOptions options;
    options.flip_average = flip;
    slot = make_embedder(dlib_spec(), options);
  }
  return *slot;
}

cv::Mat photo(const std::string& relative) {
  cv::Mat image = cv::imread(shared_path(kExamples + relative).string(), cv::IMREAD_COLOR);
  EXPECT_FALSE(image.empty()) << relative;
  return image;
}

// The embedding of the largest face in a photo.
std::vector<float> embed_main_face(const cv::Mat& image, bool flip = false) {
  auto faces = detector().detect(image);
  EXPECT_FALSE(faces.empty());
  if (faces.empty()) return {};
  const Face main = *std::max_element(faces.begin(), faces.end(),
                                      [](auto& a, auto& b) { return a.box.area() < b.box.area(); });
  const Matrix m = embedder(flip).embed(image, {main});
  EXPECT_EQ(m.rows, 1u);
  return {m.data.begin(), m.data.end()};
}

float cosine(const std::vector<float>& a, const std::vector<float>& b) {
  return dot(a, b);
}

TEST(DlibEmbedder, InfoNamesTheModel) {
  REQUIRE_MODELS();
  const EmbedderInfo& info = embedder().info();
  EXPECT_EQ(info.name, "dlib-resnet-v1");
  EXPECT_EQ(info.checksum,
            sha256_file(shared_path(kDlibDir) / "dlib_face_recognition_resnet_model_v1.dat"));
  EXPECT_EQ(info.checksum.substr(0, 16), "55533b28a95800a5");  // MODELS.md
  EXPECT_EQ(info.crop_style, "dlib-chip");
  EXPECT_EQ(info.dim, 128);
  EXPECT_EQ(info.input_size, 150);
  EXPECT_FALSE(info.random_weights);
  EXPECT_EQ(embedder(true).info().crop_style, "dlib-chip+flip");
  EXPECT_FALSE(info.same_space(embedder(true).info()));
}

TEST(DlibEmbedder, SamePersonCloseDifferentPeopleApart) {
  REQUIRE_MODELS();
  const std::vector<std::string> obama_files{"barack_obama/obama.jpg", "barack_obama/obama1.jpg",
                                             "barack_obama/obama2.jpg"};
  const std::vector<std::string> biden_files{"joe_biden/biden.jpg", "joe_biden/biden2.jpg"};
  std::vector<std::vector<float>> obama, biden;
  for (const auto& f : obama_files) obama.push_back(embed_main_face(photo(f)));
  for (const auto& f : biden_files) biden.push_back(embed_main_face(photo(f)));
  for (const auto& v : obama) EXPECT_NEAR(cosine(v, v), 1.0f, 1e-4f);  // unit vectors

  float same_min = 1, different_max = -1;
  for (std::size_t i = 0; i < obama.size(); ++i) {
    for (std::size_t j = i + 1; j < obama.size(); ++j) {
      same_min = std::min(same_min, cosine(obama[i], obama[j]));
    }
    for (const auto& b : biden) different_max = std::max(different_max, cosine(obama[i], b));
  }
  same_min = std::min(same_min, cosine(biden[0], biden[1]));
  std::printf("[ dlib ] same-person cosine >= %.3f, Obama-Biden cosine <= %.3f\n", same_min,
              different_max);
  // dlib's raw Euclidean 0.6 is cosine ~0.90 on unit vectors (embedder.hpp).
  EXPECT_GT(same_min, kDlibSameCosine);
  EXPECT_LT(different_max, kDlibSameCosine);
  EXPECT_GT(same_min - different_max, 0.08f);
}

TEST(DlibEmbedder, SamePhotoInsideACompositeIsNearlyIdentical) {
  REQUIRE_MODELS();
  // DATA.md: obama3.jpg is the left half of two_people.jpg (raw distance 0.07).
  const cv::Mat group = photo("_group/two_people.jpg");
  auto faces = detector().detect(group);
  ASSERT_EQ(faces.size(), 2u);
  std::sort(faces.begin(), faces.end(), [](auto& a, auto& b) { return a.box.x < b.box.x; });
  const Matrix both = embedder().embed(group, faces);
  ASSERT_EQ(both.rows, 2u);
  const auto obama3 = embed_main_face(photo("barack_obama/obama3.jpg"));
  EXPECT_GT(dot(both.row(0), obama3), 0.99f);
  EXPECT_LT(dot(both.row(1), obama3), kDlibSameCosine);  // Biden on the right
}

TEST(DlibEmbedder, RotatedAndGreyPhotosGiveTheSameEmbedding) {
  REQUIRE_MODELS();
  const cv::Mat image = photo("barack_obama/obama.jpg");
  const auto upright = embed_main_face(image);
  cv::Mat rotated;
  cv::warpAffine(image, rotated,
                 cv::getRotationMatrix2D(cv::Point2f(image.cols / 2.f, image.rows / 2.f), 20, 1),
                 image.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  EXPECT_GT(cosine(embed_main_face(rotated), upright), 0.97f);
  cv::Mat grey;
  cv::cvtColor(image, grey, cv::COLOR_BGR2GRAY);
  const auto faces = detector().detect(grey);
  ASSERT_EQ(faces.size(), 1u);
  const Matrix from_grey = embedder().embed(grey, faces);  // 1 channel straight in
  EXPECT_GT(dot(from_grey.row(0), upright), 0.95f);
}

TEST(DlibEmbedder, FlipAverageChangesLittle) {
  REQUIRE_MODELS();
  for (const std::string file : {"barack_obama/obama1.jpg", "joe_biden/biden.jpg"}) {
    const cv::Mat image = photo(file);
    const auto plain = embed_main_face(image, false);
    const auto flipped = embed_main_face(image, true);
    EXPECT_NEAR(cosine(flipped, flipped), 1.0f, 1e-4f);
    EXPECT_GT(cosine(plain, flipped), 0.97f) << file;
    EXPECT_LT(cosine(plain, flipped), 0.99999f) << file << ": the mirror was not used";
  }
}

TEST(DlibEmbedder, ChipsAreFaceRecognitionsChips) {
  REQUIRE_MODELS();
  const cv::Mat image = photo("barack_obama/obama.jpg");
  const auto faces = detector().detect(image);
  const auto chips = embedder().crops(image, faces);
  ASSERT_EQ(chips.size(), 1u);
  EXPECT_EQ(chips[0].size(), cv::Size(150, 150));
  EXPECT_EQ(chips[0].type(), CV_8UC3);
  // The chip is the face: YuNet finds it there, centred, eyes level.
  DetectorOptions options;
  options.model = shared_path(kYunetPath).string();
  const auto again = make_detector(options)->detect(chips[0]);
  ASSERT_EQ(again.size(), 1u);
  const auto& p = again[0].landmarks;
  EXPECT_NEAR((p[0].x + p[1].x) / 2, 75, 8);
  EXPECT_NEAR(p[0].y, p[1].y, 4);
  // Chips round-trip through embed_crops; other sizes are resized, none gives no rows.
  const Matrix direct = embedder().embed_crops(chips);
  cv::Mat bigger;
  cv::resize(chips[0], bigger, cv::Size(300, 300), 0, 0, cv::INTER_CUBIC);
  EXPECT_GT(dot(embedder().embed_crops({bigger}).row(0), direct.row(0)), 0.97f);
  EXPECT_EQ(embedder().embed_crops({}).rows, 0u);
  EXPECT_EQ(embedder().embed(image, {}).rows, 0u);
}

TEST(DlibEmbedder, MissingOrBrokenModelsAreNamed) {
  testing::TempDir dir;
  try {
    make_embedder("dlib:" + dir.path().string());
    ADD_FAILURE() << "no exception";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("shape_predictor_5_face_landmarks.dat"), std::string::npos)
        << e.what();
  }
  std::ofstream(dir / "shape_predictor_5_face_landmarks.dat") << "not a model";
  std::ofstream(dir / "dlib_face_recognition_resnet_model_v1.dat") << "not a model";
  try {
    make_embedder("dlib:" + dir.path().string());
    ADD_FAILURE() << "no exception";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("shape_predictor_5_face_landmarks.dat"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(make_embedder("facenet"), InputError);
  EXPECT_THROW(make_embedder("clip:"), InputError);
  EXPECT_THROW(make_embedder("clip:" + (dir / "nothing.safetensors").string()), ModelError);
}

TEST(DlibEmbedder, CropStyleDoesNotApply) {
  REQUIRE_MODELS();
  EmbedderOptions options;
  options.crop_style = "loose";
  EXPECT_THROW(make_embedder(dlib_spec(), options), InputError);
}

// Speed note for the benchmark: one face at a time, as face_recognition runs it.
TEST(DlibEmbedder, TimePerFace) {
  REQUIRE_MODELS();
  const cv::Mat image = photo("joe_biden/biden.jpg");
  const auto faces = detector().detect(image);
  ASSERT_FALSE(faces.empty());
  embedder().embed(image, {faces[0]});  // warm-up
  constexpr int kRuns = 5;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRuns; ++i) embedder().embed(image, {faces[0]});
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() /
      kRuns;
  std::printf("[ timing ] dlib landmarks + chip + encoding: %.1f ms per face\n", ms);
  SUCCEED();
}

}  // namespace
}  // namespace clipface
