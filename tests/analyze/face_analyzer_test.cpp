// The per-face steps on real photos: attributes of known people, the gate's scores and its rule
// (spoof exactly when the real score is under the threshold), and option parsing.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "clipface/detect.hpp"
#include "clipface/errors.hpp"
#include "clipface/face_analysis.hpp"
#include "clipface/image.hpp"
#include "clipface/paths.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {

namespace fs = std::filesystem;
using testing::shared_path;

const char* kYunet = "models/yunet/face_detection_yunet_2022mar.onnx";

#define REQUIRE_MODELS()                                                         \
  do {                                                                           \
    CLIPFACE_REQUIRE_SHARED("data/faces/named");                                 \
    CLIPFACE_REQUIRE_SHARED(kYunet);                                             \
    if (!fs::exists(models_dir() / "human-models/antispoof.json"))               \
      GTEST_SKIP() << "human-models missing: clipface models pull human-models"; \
  } while (0)

const Detector& detector() {
  static const auto yunet = [] {
    DetectorOptions options;
    options.model = shared_path(kYunet).string();
    return make_detector(options);
  }();
  return *yunet;
}

std::pair<cv::Mat, std::vector<Face>> largest_face(const fs::path& path) {
  cv::Mat image = load_image(path);
  auto faces = detector().detect(image);
  const int pick = pick_face(faces, image.size(), FacePick::largest);
  if (pick < 0) return {image, {}};
  return {image, {faces[static_cast<std::size_t>(pick)]}};
}

AnalysisOptions all_steps(float threshold) {
  AnalysisOptions options;
  options.antispoof_threshold = threshold;
  options.attributes = {"age", "gender", "emotion"};
  return options;
}

TEST(FaceAnalysis, ParsesAttributeListsAndThresholds) {
  EXPECT_EQ(parse_attributes("age, gender"), (std::set<std::string>{"age", "gender"}));
  EXPECT_EQ(parse_attributes("emotion,age,emotion"), (std::set<std::string>{"age", "emotion"}));
  EXPECT_THROW(parse_attributes(""), InputError);
  try {
    parse_attributes("age,height");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("height"), std::string::npos);
  }
  EXPECT_NO_THROW(validate_antispoof_threshold(0.0f));
  EXPECT_NO_THROW(validate_antispoof_threshold(1.0f));
  EXPECT_THROW(validate_antispoof_threshold(1.5f), InputError);
  EXPECT_THROW(validate_antispoof_threshold(-0.1f), InputError);
  EXPECT_FALSE(AnalysisOptions{}.enabled());
}

TEST(FaceAnalysis, DescribesAKnownFaceAndOnlyWhatWasAskedFor) {
  REQUIRE_MODELS();
  const auto [image, faces] = largest_face(
      shared_path("data/faces/named/face_recognition_examples/barack_obama/obama.jpg"));
  ASSERT_EQ(faces.size(), 1u);
  const FaceAnalyzer analyzer(all_steps(0.5f));
  const auto result = analyzer.analyze(image, faces);
  ASSERT_EQ(result.size(), 1u);
  ASSERT_TRUE(result[0].attributes.has_value());
  const FaceAttributes& a = *result[0].attributes;
  EXPECT_EQ(a.gender, "male");
  ASSERT_TRUE(a.age.has_value());
  EXPECT_GT(*a.age, 20.0f);
  EXPECT_LT(*a.age, 80.0f);
  ASSERT_EQ(a.emotions.size(), 7u);
  double total = 0;
  for (const auto& [name, p] : a.emotions) total += p;
  EXPECT_NEAR(total, 1.0, 1e-4);
  EXPECT_EQ(a.emotion, a.emotions.front().first);
  ASSERT_TRUE(result[0].spoof.has_value());
  EXPECT_GE(result[0].spoof->real, 0.0f);
  EXPECT_LE(result[0].spoof->real, 1.0f);
  EXPECT_GE(result[0].spoof->live, 0.0f);
  EXPECT_LE(result[0].spoof->live, 1.0f);

  AnalysisOptions age_only;
  age_only.attributes = {"age"};
  const auto only = FaceAnalyzer(age_only).analyze(image, faces);
  EXPECT_FALSE(only[0].spoof.has_value());
  EXPECT_TRUE(only[0].attributes->gender.empty());
  EXPECT_FLOAT_EQ(*only[0].attributes->age, *a.age);
  EXPECT_TRUE(analyzer.analyze(image, {}).empty());
}

TEST(FaceAnalysis, TheGateRejectsExactlyTheFacesUnderItsThreshold) {
  REQUIRE_MODELS();
  const fs::path dir = shared_path("data/faces/named/face_recognition_examples");
  std::vector<std::pair<cv::Mat, std::vector<Face>>> photos;
  for (const char* f : {"barack_obama/obama.jpg", "joe_biden/biden.jpg", "rose_leslie/img1.jpg"}) {
    photos.push_back(largest_face(dir / f));
  }
  const FaceAnalyzer open(all_steps(0.0f));
  std::vector<float> scores;
  for (const auto& [image, faces] : photos) {
    const auto r = open.analyze(image, faces);
    EXPECT_FALSE(r[0].is_spoof()) << "threshold 0 rejects nothing";
    scores.push_back(r[0].spoof->real);
  }
  const float middle = (*std::min_element(scores.begin(), scores.end()) +
                        *std::max_element(scores.begin(), scores.end())) /
                       2;
  AnalysisOptions gate;
  gate.antispoof_threshold = middle;
  const FaceAnalyzer strict(gate);
  for (std::size_t i = 0; i < photos.size(); ++i) {
    const auto r = strict.analyze(photos[i].first, photos[i].second);
    EXPECT_EQ(r[0].is_spoof(), scores[i] < middle) << "face " << i << " real " << scores[i];
    EXPECT_FLOAT_EQ(r[0].spoof->real, scores[i]);
    EXPECT_FALSE(r[0].attributes.has_value());
  }
}

TEST(FaceAnalysis, GenderOfTheFiveCelebrities) {
  // Development photos of people of known gender (labelled by hand); bench/face_analysis_report
  // gives the same figure for every named folder.
  REQUIRE_MODELS();
  const std::map<std::string, std::string> gender = {{"ben_afflek", "male"},
                                                     {"elton_john", "male"},
                                                     {"jerry_seinfeld", "male"},
                                                     {"madonna", "female"},
                                                     {"mindy_kaling", "female"}};
  AnalysisOptions options;
  options.attributes = {"gender"};
  const FaceAnalyzer analyzer(options);
  int faces = 0, right = 0;
  for (const auto& [person, truth] : gender) {
    for (const auto& path :
         list_images(shared_path("data/faces/named/five_celebrity/" + person), false)) {
      const auto [image, found] = largest_face(path);
      if (found.empty()) continue;
      ++faces;
      right += analyzer.analyze(image, found)[0].attributes->gender == truth;
    }
  }
  const double accuracy = static_cast<double>(right) / std::max(1, faces);
  RecordProperty("gender_accuracy", std::to_string(accuracy));
  EXPECT_GE(faces, 90);
  // Measured: 72 of 93 (0.77) with the loose crop (0.70 with the tight one). Saying "male" for
  // every face would score 0.56 here; the bar sits well above that, below what was measured.
  EXPECT_GE(accuracy, 0.70) << right << " of " << faces;
}

}  // namespace
}  // namespace clipface
