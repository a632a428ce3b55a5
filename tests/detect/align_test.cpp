// Alignment on real photos: landmarks land on the template, loose contains tight, rotation undone.
#include <cmath>
#include <fstream>
#include <numbers>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "clipface/align.hpp"
#include "clipface/errors.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {

using testing::shared_path;

const char* kYunetPath = "models/yunet/face_detection_yunet_2022mar.onnx";
const char* kObama = "data/faces/named/face_recognition_examples/barack_obama/obama.jpg";

std::unique_ptr<Detector> yunet() {
  DetectorOptions options;
  options.model = shared_path(kYunetPath).string();
  return make_detector(options);
}

Face only_face(const Detector& detector, const cv::Mat& image) {
  const auto faces = detector.detect(image);
  EXPECT_EQ(faces.size(), 1u);
  return faces.empty() ? Face{} : faces[0];
}

double eye_line_degrees(const Face& face) {
  const cv::Point2f d = face.landmarks[1] - face.landmarks[0];
  return std::atan2(d.y, d.x) * 180.0 / std::numbers::pi;
}

TEST(Align, SimilarityTransformRecoversAKnownOne) {
  const std::array<cv::Point2f, 5> from{{{10, 20}, {50, 22}, {30, 40}, {15, 60}, {45, 61}}};
  const double angle = 0.3, scale = 1.7, tx = 12.5, ty = -4;
  std::array<cv::Point2f, 5> to;
  for (int i = 0; i < 5; ++i) {
    to[i] =
        cv::Point2f(static_cast<float>(
                        scale * (std::cos(angle) * from[i].x - std::sin(angle) * from[i].y) + tx),
                    static_cast<float>(
                        scale * (std::sin(angle) * from[i].x + std::cos(angle) * from[i].y) + ty));
  }
  const cv::Mat m = similarity_transform(from, to);
  EXPECT_NEAR(m.at<double>(0, 0), scale * std::cos(angle), 1e-5);
  EXPECT_NEAR(m.at<double>(1, 0), scale * std::sin(angle), 1e-5);
  EXPECT_NEAR(m.at<double>(0, 2), tx, 1e-4);
  EXPECT_NEAR(m.at<double>(1, 2), ty, 1e-4);
}

TEST(Align, TemplatesScaleWithSizeAndLooseIsSmaller) {
  const auto tight112 = crop_template(CropStyle::tight, 112);
  EXPECT_NEAR(tight112[0].x, 38.2946f, 1e-4);
  EXPECT_NEAR(tight112[4].y, 92.2041f, 1e-4);
  const auto tight224 = crop_template(CropStyle::tight, 224);
  EXPECT_NEAR(tight224[1].x, 2 * 73.5318f, 1e-3);
  const auto loose = crop_template(CropStyle::loose, 112);
  EXPECT_NEAR(cv::norm(loose[1] - loose[0]), kLooseFaceScale * cv::norm(tight112[1] - tight112[0]),
              1e-3);
  EXPECT_EQ(parse_crop_style("tight"), CropStyle::tight);
  EXPECT_EQ(to_string(parse_crop_style("loose")), "loose");
  EXPECT_THROW(parse_crop_style("wide"), InputError);
}

TEST(Align, EyesLandOnTheTemplateInARealPhoto) {
  CLIPFACE_REQUIRE_SHARED(kYunetPath);
  const auto detector = yunet();
  const cv::Mat image = cv::imread(shared_path(kObama).string(), cv::IMREAD_COLOR);
  const Face face = only_face(*detector, image);
  for (const CropStyle style : {CropStyle::tight, CropStyle::loose}) {
    SCOPED_TRACE(to_string(style));
    const int size = style == CropStyle::tight ? 112 : 224;
    const auto target = crop_template(style, size);
    const cv::Mat crop = align_face(image, face, size, style);
    ASSERT_EQ(crop.size(), cv::Size(size, size));
    ASSERT_EQ(crop.type(), CV_8UC3);
    // Where the transform sends the detected eyes.
    const cv::Mat m = alignment_transform(face, size, style);
    std::vector<cv::Point2f> mapped(face.landmarks.begin(), face.landmarks.end());
    cv::transform(mapped, mapped, m);
    EXPECT_LT(cv::norm(mapped[0] - target[0]), 2.0 * size / 112);
    EXPECT_LT(cv::norm(mapped[1] - target[1]), 2.0 * size / 112);
    // And where a detector finds them in the crop itself (loose: the detector needs context),
    // within YuNet's own landmark noise: 12% of the eye distance (5 px here, 2.5 px at tight 112).
    if (style == CropStyle::loose) {
      const Face again = only_face(*detector, crop);
      const double tolerance = 0.12 * cv::norm(target[1] - target[0]);
      EXPECT_LT(cv::norm(again.landmarks[0] - target[0]), tolerance);
      EXPECT_LT(cv::norm(again.landmarks[1] - target[1]), tolerance);
    }
  }
}

TEST(Align, LooseCropContainsTheTightCrop) {
  CLIPFACE_REQUIRE_SHARED(kYunetPath);
  const cv::Mat image = cv::imread(shared_path(kObama).string(), cv::IMREAD_COLOR);
  const Face face = only_face(*yunet(), image);
  // The tight crop's corners, taken back into the image and then into the loose crop.
  cv::Mat to_image;
  cv::invertAffineTransform(alignment_transform(face, 112, CropStyle::tight), to_image);
  std::vector<cv::Point2f> corners{{0, 0}, {112, 0}, {0, 112}, {112, 112}};
  cv::transform(corners, corners, to_image);
  cv::transform(corners, corners, alignment_transform(face, 280, CropStyle::loose));
  for (const auto& c : corners) {
    EXPECT_GT(c.x, 0);
    EXPECT_GT(c.y, 0);
    EXPECT_LT(c.x, 280);
    EXPECT_LT(c.y, 280);
  }
  // Pixels: the loose crop's middle 60% is the tight crop (280 * 0.6 = 168 px).
  const cv::Mat loose = align_face(image, face, 280, CropStyle::loose);
  const cv::Mat tight = align_face(image, face, 112, CropStyle::tight);
  cv::Mat middle;
  cv::resize(loose(cv::Rect(56, 56, 168, 168)), middle, cv::Size(112, 112), 0, 0, cv::INTER_AREA);
  EXPECT_LT(cv::norm(middle, tight, cv::NORM_L1) / tight.total() / 3, 8.0);
  // A different face region would differ a lot: shift by a quarter of the crop.
  cv::Mat shifted;
  cv::resize(loose(cv::Rect(98, 56, 168, 168)), shifted, cv::Size(112, 112), 0, 0, cv::INTER_AREA);
  EXPECT_GT(cv::norm(shifted, tight, cv::NORM_L1) / tight.total() / 3, 15.0);
}

TEST(Align, RotatedPhotoGivesAnUprightFace) {
  CLIPFACE_REQUIRE_SHARED(kYunetPath);
  const auto detector = yunet();
  const cv::Mat image = cv::imread(shared_path(kObama).string(), cv::IMREAD_COLOR);
  for (const double degrees : {20.0, -20.0}) {
    SCOPED_TRACE(degrees);
    const cv::Point2f centre(image.cols / 2.0f, image.rows / 2.0f);
    const cv::Mat rotation = cv::getRotationMatrix2D(centre, degrees, 1.0);
    cv::Mat rotated;
    cv::warpAffine(image, rotated, rotation, image.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    const Face face = only_face(*detector, rotated);
    // OpenCV's positive angle turns the picture counter-clockwise: the eye line tilts up.
    EXPECT_NEAR(eye_line_degrees(face), -degrees, 6.0);
    const cv::Mat crop = align_face(rotated, face, 224, CropStyle::loose);
    const Face upright = only_face(*detector, crop);
    EXPECT_NEAR(eye_line_degrees(upright), 0.0, 3.0);
  }
}

TEST(Align, GreyAndFaceOutsideTheImage) {
  const cv::Mat grey(100, 100, CV_8UC1, cv::Scalar::all(90));
  Face face;
  face.landmarks = crop_template(CropStyle::tight, 112);
  const cv::Mat crop = align_face(grey, face, 64, CropStyle::tight);
  EXPECT_EQ(crop.type(), CV_8UC1);
  EXPECT_EQ(crop.size(), cv::Size(64, 64));
  for (auto& p : face.landmarks) p += cv::Point2f(5000, 5000);  // far outside: all black
  EXPECT_EQ(cv::countNonZero(align_face(grey, face, 64, CropStyle::tight)), 0);
  EXPECT_THROW(align_face(cv::Mat(), face, 64, CropStyle::tight), InputError);
  EXPECT_THROW(align_face(grey, face, 2, CropStyle::tight), InputError);
}

TEST(Align, SaveCropsWritesReadablePngsAndNamesBadFolders) {
  testing::TempDir dir;
  const std::vector<cv::Mat> crops{cv::Mat(32, 32, CV_8UC3, cv::Scalar(10, 20, 30)),
                                   cv::Mat(32, 32, CV_8UC3, cv::Scalar(40, 50, 60))};
  const auto paths = save_crops(crops, dir / "crops", "photo");
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(paths[1].filename(), "photo_face1.png");
  const cv::Mat back = cv::imread(paths[1].string(), cv::IMREAD_COLOR);
  EXPECT_EQ(cv::norm(back, crops[1], cv::NORM_INF), 0);
  // A folder that cannot exist: its parent is a file.
  std::ofstream(dir / "file") << "x";
  try {
    save_crops(crops, dir / "file" / "sub", "photo");
    ADD_FAILURE() << "no exception";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("file/sub"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace clipface
