// Detection on real photos with both detectors: boxes, landmark order, scaling, filters.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "clipface/detect.hpp"
#include "clipface/errors.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {

using testing::shared_path;
namespace fs = std::filesystem;

const char* kYunetPath = "models/yunet/face_detection_yunet_2022mar.onnx";
const char* kScrfdPath = "models/scrfd/scrfd_500m_kps.onnx";
const char* kExamples = "data/faces/named/face_recognition_examples";

DetectorOptions yunet_options() {
  DetectorOptions options;
  options.kind = "yunet";
  options.model = shared_path(kYunetPath).string();
  return options;
}

DetectorOptions scrfd_options() {
  DetectorOptions options;
  options.kind = "scrfd";
  options.model = shared_path(kScrfdPath).string();
  return options;
}

cv::Mat read_photo(const std::string& relative, int flags = cv::IMREAD_COLOR) {
  cv::Mat image = cv::imread(shared_path(relative).string(), flags);
  EXPECT_FALSE(image.empty()) << relative;
  return image;
}

// Eyes above the nose above the mouth; subject's right eye and mouth corner on the image's left.
void expect_upright_landmark_order(const Face& face) {
  const auto& p = face.landmarks;
  EXPECT_LT(p[0].x, p[1].x) << "right eye (image left) first";
  EXPECT_LT(p[3].x, p[4].x) << "right mouth corner (image left) first";
  EXPECT_LT(std::max(p[0].y, p[1].y), p[2].y) << "eyes above the nose";
  EXPECT_LT(p[2].y, std::min(p[3].y, p[4].y)) << "nose above the mouth";
  for (const auto& point : p) EXPECT_TRUE(face.box.contains(point)) << point;
}

// The single-person photos of face_recognition_examples (everything but _group).
std::vector<fs::path> single_person_photos() {
  std::vector<fs::path> photos;
  for (const auto& person : fs::directory_iterator(shared_path(kExamples))) {
    if (!person.is_directory() || person.path().filename() == "_group") continue;
    for (const auto& file : fs::directory_iterator(person.path())) photos.push_back(file.path());
  }
  std::sort(photos.begin(), photos.end());
  return photos;
}

TEST(Detect, YunetFindsObamaWhereModelsMdSays) {
  CLIPFACE_REQUIRE_SHARED(kYunetPath);
  const cv::Mat image = read_photo(std::string(kExamples) + "/barack_obama/obama.jpg");
  ASSERT_EQ(image.size(), cv::Size(910, 1137));
  DetectorOptions options = yunet_options();
  options.max_side = 0;  // MODELS.md ran YuNet on the full-size photo
  const auto faces = make_detector(options)->detect(image);
  ASSERT_EQ(faces.size(), 1u);
  // MODELS.md: about (374, 93, 242x313), score 1.0.
  EXPECT_NEAR(faces[0].box.x, 374, 4);
  EXPECT_NEAR(faces[0].box.y, 93, 4);
  EXPECT_NEAR(faces[0].box.width, 242, 6);
  EXPECT_NEAR(faces[0].box.height, 313, 6);
  EXPECT_GT(faces[0].score, 0.95f);
  expect_upright_landmark_order(faces[0]);
}

TEST(Detect, ScrfdFindsObamaWithYunetsLandmarkOrder) {
  CLIPFACE_REQUIRE_SHARED(kScrfdPath);
  const cv::Mat image = read_photo(std::string(kExamples) + "/barack_obama/obama.jpg");
  const auto detector = make_detector(scrfd_options());
  EXPECT_EQ(detector->name(), "scrfd:scrfd_500m_kps.onnx");
  const auto faces = detector->detect(image);
  ASSERT_EQ(faces.size(), 1u);
  EXPECT_GT(box_iou(faces[0].box, cv::Rect2f(374, 93, 242, 313)), 0.7f);
  expect_upright_landmark_order(faces[0]);
}

TEST(Detect, Scrfd25gLoadsAndAgrees) {
  CLIPFACE_REQUIRE_SHARED("models/scrfd/scrfd_2.5g_kps.onnx");
  DetectorOptions options = scrfd_options();
  options.model = shared_path("models/scrfd/scrfd_2.5g_kps.onnx").string();
  const cv::Mat image = read_photo(std::string(kExamples) + "/barack_obama/obama.jpg");
  const auto faces = make_detector(options)->detect(image);
  ASSERT_EQ(faces.size(), 1u);
  EXPECT_GT(box_iou(faces[0].box, cv::Rect2f(374, 93, 242, 313)), 0.7f);
  expect_upright_landmark_order(faces[0]);
}

TEST(Detect, YunetAndScrfdAgreeOnEveryNamedPhoto) {
  CLIPFACE_REQUIRE_SHARED(kYunetPath);
  CLIPFACE_REQUIRE_SHARED(kScrfdPath);
  const auto yunet = make_detector(yunet_options());
  const auto scrfd = make_detector(scrfd_options());
  const auto photos = single_person_photos();
  ASSERT_GE(photos.size(), 17u);
  for (const auto& photo : photos) {
    SCOPED_TRACE(photo.string());
    const cv::Mat image = cv::imread(photo.string(), cv::IMREAD_COLOR);
    const auto a = yunet->detect(image);
    const auto b = scrfd->detect(image);
    ASSERT_FALSE(a.empty());
    ASSERT_FALSE(b.empty());
    // The main face (largest box) of each detector is the same face, with the same landmarks
    // (eyes and nose within 25% of the eye distance; mouth corners, which the two models place
    // differently on a broad smile, within 35%).
    const auto largest = [](const std::vector<Face>& faces) {
      return *std::max_element(faces.begin(), faces.end(), [](const Face& x, const Face& y) {
        return x.box.area() < y.box.area();
      });
    };
    const Face fa = largest(a), fb = largest(b);
    EXPECT_GE(box_iou(fa.box, fb.box), 0.5f);
    const float eye_distance = cv::norm(fa.landmarks[1] - fa.landmarks[0]);
    for (int k = 0; k < 5; ++k) {
      EXPECT_LT(cv::norm(fa.landmarks[k] - fb.landmarks[k]), (k < 3 ? 0.25f : 0.35f) * eye_distance)
          << "point " << k;
    }
  }
}

TEST(Detect, GroupPhotosHaveSeveralFacesWithBothDetectors) {
  CLIPFACE_REQUIRE_SHARED(kYunetPath);
  CLIPFACE_REQUIRE_SHARED(kScrfdPath);
  const auto yunet = make_detector(yunet_options());
  const auto scrfd = make_detector(scrfd_options());
  // At least the people named in labels.csv (BBT shots: the cast members clearly in view).
  const std::vector<std::pair<std::string, std::size_t>> groups{
      {std::string(kExamples) + "/_group/two_people.jpg", 2},
      {std::string(kExamples) + "/_group/obama_and_biden.jpg", 2},
      {std::string(kExamples) + "/_group/kit_with_rose.jpg", 2},
      {"data/faces/named/faceapi_bbt/_group/bbt4.jpg", 5},
      {"data/faces/named/facenet_pytorch_samples/_group/multiface.jpg", 5}};
  for (const auto& [file, at_least] : groups) {
    SCOPED_TRACE(file);
    const cv::Mat image = read_photo(file);
    const auto a = yunet->detect(image);
    const auto b = scrfd->detect(image);
    EXPECT_GE(a.size(), at_least);
    EXPECT_GE(b.size(), at_least);
    for (const Face& face : a) {
      EXPECT_TRUE(cv::Rect2f(-5, -5, image.cols + 10, image.rows + 10).contains(face.box.tl()));
    }
    // Every confident YuNet face is found by SCRFD too.
    for (const Face& face : a) {
      if (face.score < 0.9f) continue;
      float best = 0;
      for (const Face& other : b) best = std::max(best, box_iou(face.box, other.box));
      EXPECT_GE(best, 0.5f) << "YuNet face at " << face.box;
    }
    for (std::size_t i = 1; i < a.size(); ++i) EXPECT_GE(a[i - 1].score, a[i].score);
  }
}

TEST(Detect, GreyTightCropsOfFaceapiBbt) {
  CLIPFACE_REQUIRE_SHARED(kYunetPath);
  CLIPFACE_REQUIRE_SHARED("data/faces/named/faceapi_bbt/sheldon");
  const auto yunet = make_detector(yunet_options());
  int images = 0;
  for (const auto& person : fs::directory_iterator(shared_path("data/faces/named/faceapi_bbt"))) {
    if (person.path().filename() == "_group") continue;
    for (const auto& file : fs::directory_iterator(person.path())) {
      // One channel on purpose: the detector converts grey itself.
      const cv::Mat grey = cv::imread(file.path().string(), cv::IMREAD_GRAYSCALE);
      ASSERT_EQ(grey.channels(), 1);
      const auto faces = yunet->detect(grey);
      ASSERT_GE(faces.size(), 1u) << file.path();
      EXPECT_GT(faces[0].box.area(), 0.2f * grey.total()) << file.path();
      ++images;
    }
  }
  EXPECT_EQ(images, 40);
}

TEST(Detect, LargeImageIsScaledAndMappedBack) {
  CLIPFACE_REQUIRE_SHARED(kYunetPath);
  const cv::Mat image = read_photo(std::string(kExamples) + "/_group/kit_with_rose.jpg");
  cv::Mat large;
  cv::resize(image, large, cv::Size(), 4.0, 4.0, cv::INTER_CUBIC);  // 2004x2800
  for (const auto& options : {yunet_options(), scrfd_options()}) {
    SCOPED_TRACE(options.kind);
    if (!fs::exists(options.model)) continue;
    const auto detector = make_detector(options);
    const auto small_faces = detector->detect(image);
    const auto large_faces = detector->detect(large);
    ASSERT_EQ(small_faces.size(), 2u);
    ASSERT_EQ(large_faces.size(), 2u);
    for (const Face& face : small_faces) {
      const cv::Rect2f expected(face.box.x * 4, face.box.y * 4, face.box.width * 4,
                                face.box.height * 4);
      float best = 0;
      const Face* match = nullptr;
      for (const Face& other : large_faces) {
        if (box_iou(expected, other.box) > best)
          best = box_iou(expected, other.box), match = &other;
      }
      ASSERT_GE(best, 0.8f);
      for (int k = 0; k < 5; ++k) {
        EXPECT_LT(cv::norm(face.landmarks[k] * 4 - match->landmarks[k]), 0.05 * expected.width);
      }
    }
  }
}

TEST(Detect, MinFaceSizeAndMaxFacesAreHonoured) {
  CLIPFACE_REQUIRE_SHARED(kYunetPath);
  const cv::Mat image = read_photo("data/faces/named/faceapi_bbt/_group/bbt3.jpg");
  const auto all = make_detector(yunet_options())->detect(image);
  ASSERT_GE(all.size(), 3u);
  std::vector<float> sides;
  for (const Face& face : all) sides.push_back(std::min(face.box.width, face.box.height));
  std::sort(sides.begin(), sides.end());
  ASSERT_LT(sides.front() + 2, sides.back());

  DetectorOptions options = yunet_options();
  options.min_face_size = (sides.front() + sides.back()) / 2;
  const auto big = make_detector(options)->detect(image);
  EXPECT_LT(big.size(), all.size());
  EXPECT_FALSE(big.empty());
  for (const Face& face : big) {
    EXPECT_GE(std::min(face.box.width, face.box.height), options.min_face_size);
  }

  options = yunet_options();
  options.max_faces = 2;
  const auto top = make_detector(options)->detect(image);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].box, all[0].box);
  EXPECT_EQ(top[1].box, all[1].box);

  options = yunet_options();
  options.score_threshold = 0.999f;
  for (const Face& face : make_detector(options)->detect(image)) EXPECT_GE(face.score, 0.999f);
}

TEST(Detect, BlankImagesHaveNoFaces) {
  CLIPFACE_REQUIRE_SHARED(kYunetPath);
  CLIPFACE_REQUIRE_SHARED(kScrfdPath);
  for (const auto& options : {yunet_options(), scrfd_options()}) {
    const auto detector = make_detector(options);
    EXPECT_TRUE(detector->detect(cv::Mat(480, 640, CV_8UC3, cv::Scalar::all(0))).empty());
    EXPECT_TRUE(detector->detect(cv::Mat(300, 200, CV_8UC3, cv::Scalar(200, 180, 160))).empty());
    EXPECT_TRUE(detector->detect(cv::Mat(5, 7, CV_8UC1, cv::Scalar::all(128))).empty());
  }
}

TEST(Detect, BadInputAndMissingModels) {
  CLIPFACE_REQUIRE_SHARED(kYunetPath);
  const auto detector = make_detector(yunet_options());
  EXPECT_THROW(detector->detect(cv::Mat()), InputError);
  EXPECT_THROW(detector->detect(cv::Mat(64, 64, CV_32FC3, cv::Scalar::all(0))), InputError);

  DetectorOptions options;
  options.kind = "haar";
  EXPECT_THROW(make_detector(options), InputError);

  testing::TempDir dir;
  for (const std::string kind : {"yunet", "scrfd"}) {
    options.kind = kind;
    options.model = (dir / "missing.onnx").string();
    try {
      make_detector(options);
      ADD_FAILURE() << "no exception for a missing model";
    } catch (const ModelError& e) {
      EXPECT_NE(std::string(e.what()).find("missing.onnx"), std::string::npos) << e.what();
    }
    // A file that is not a model at all.
    const auto junk = dir / "junk.onnx";
    std::ofstream(junk) << "not an onnx file";
    options.model = junk.string();
    try {
      make_detector(options);
      ADD_FAILURE() << "no exception for a junk model";
    } catch (const ModelError& e) {
      EXPECT_NE(std::string(e.what()).find("junk.onnx"), std::string::npos) << e.what();
    }
  }
}

// Speed note for the benchmark: milliseconds per 640x480 frame (printed, not asserted).
TEST(Detect, TimePer640x480Frame) {
  CLIPFACE_REQUIRE_SHARED(kYunetPath);
  CLIPFACE_REQUIRE_SHARED(kScrfdPath);
  cv::Mat frame;
  cv::resize(read_photo(std::string(kExamples) + "/_group/obama_and_biden.jpg"), frame,
             cv::Size(640, 480), 0, 0, cv::INTER_AREA);
  for (const auto& options : {yunet_options(), scrfd_options()}) {
    const auto detector = make_detector(options);
    detector->detect(frame);  // warm-up
    constexpr int kRuns = 10;
    const auto start = std::chrono::steady_clock::now();
    std::size_t found = 0;
    for (int i = 0; i < kRuns; ++i) found += detector->detect(frame).size();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count() /
        kRuns;
    std::printf("[ timing ] %s: %.1f ms per 640x480 frame (%zu faces)\n", detector->name().c_str(),
                ms, found / kRuns);
    EXPECT_GE(found / kRuns, 2u);
  }
}

}  // namespace
}  // namespace clipface
