// Face quality on real photos: a sharp frontal face clears the default bar; the same photo
// blurred, shrunk or a turned face do not, each with the reason; pose follows the landmarks.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "clipface/align.hpp"
#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/quality.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {

using testing::shared_path;

const char* const kObama = "data/faces/named/face_recognition_examples/barack_obama/obama.jpg";

Face frontal_face(float side = 112) {
  Face f;
  const auto points = crop_template(CropStyle::tight, 112);
  const float scale = side / 112;
  for (int i = 0; i < 5; ++i) f.landmarks[i] = points[i] * scale + cv::Point2f(100, 80);
  f.box = {100, 80, side, side};
  f.score = 0.95f;
  return f;
}

TEST(Pose, FrontalTemplateIsNearlyStraightAndTurnsFollowTheNose) {
  float yaw, pitch, roll;
  estimate_pose(frontal_face(), yaw, pitch, roll);
  EXPECT_NEAR(yaw, 0, 2);
  EXPECT_NEAR(roll, 0, 1);
  EXPECT_NEAR(pitch, -8, 3);  // the template's nose sits higher than YuNet's on frontal faces

  Face right = frontal_face();
  right.landmarks[2].x += 20;  // nose towards the image's right
  estimate_pose(right, yaw, pitch, roll);
  EXPECT_GT(yaw, 25);
  Face left = frontal_face();
  left.landmarks[2].x -= 20;
  float yaw_left;
  estimate_pose(left, yaw_left, pitch, roll);
  EXPECT_NEAR(yaw_left, -yaw, 0.5);

  Face down = frontal_face();
  down.landmarks[2].y += 12;
  float pitch_down;
  estimate_pose(down, yaw, pitch_down, roll);
  EXPECT_GT(pitch_down, 20);
}

TEST(Pose, RollIsTheEyeLineAngleAndDoesNotLeakIntoYaw) {
  Face f = frontal_face();
  const cv::Point2f centre = f.landmarks[0] * 0.5f + f.landmarks[1] * 0.5f;
  const float angle = 30 * 3.14159265f / 180;
  for (auto& p : f.landmarks) {
    const cv::Point2f d = p - centre;
    p = centre + cv::Point2f(std::cos(angle) * d.x - std::sin(angle) * d.y,
                             std::sin(angle) * d.x + std::cos(angle) * d.y);
  }
  float yaw, pitch, roll;
  estimate_pose(f, yaw, pitch, roll);
  EXPECT_NEAR(roll, 30, 0.5);
  EXPECT_NEAR(yaw, 0, 2);
}

class RealQuality : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SHARED(kObama);
    CLIPFACE_REQUIRE_SHARED("models/yunet/face_detection_yunet_2022mar.onnx");
    detector_ = make_detector();
    image_ = load_image(shared_path(kObama));
  }
  FaceQuality measure(const cv::Mat& image) {
    const auto faces = detector_->detect(image);
    EXPECT_EQ(faces.size(), 1u);
    return faces.empty() ? FaceQuality{} : measure_quality(image, faces[0]);
  }
  std::unique_ptr<Detector> detector_;
  cv::Mat image_;
};

TEST_F(RealQuality, SharpFrontalPhotoClearsTheDefaultBar) {
  const FaceQuality q = measure(image_);
  EXPECT_GT(q.size, 200);
  EXPECT_GT(q.sharpness, 200);
  EXPECT_LT(std::fabs(q.yaw), 10);
  EXPECT_LT(std::fabs(q.pitch), 10);
  EXPECT_GT(q.detector_score, 0.9);
  EXPECT_EQ(quality_problems(q, QualityBar{}), "");
}

TEST_F(RealQuality, BlurredPhotoIsRejectedAsBlurry) {
  cv::Mat blurred;
  cv::GaussianBlur(image_, blurred, {0, 0}, 2.0 * image_.cols / 250.0);
  const FaceQuality sharp = measure(image_);
  const FaceQuality q = measure(blurred);
  EXPECT_LT(q.sharpness, sharp.sharpness / 20);
  const std::string why = quality_problems(q, QualityBar{});
  EXPECT_NE(why.find("blurry (sharpness"), std::string::npos) << why;
  EXPECT_EQ(why.find("small"), std::string::npos) << why;
}

TEST_F(RealQuality, ShrunkPhotoIsTooSmallAndMirroredPhotoTurnsTheOtherWay) {
  cv::Mat tiny;
  cv::resize(image_, tiny, {}, 0.1, 0.1, cv::INTER_AREA);
  const FaceQuality small = measure(tiny);
  EXPECT_NE(quality_problems(small, QualityBar{}).find("too small"), std::string::npos);

  // A face of a group photo and the same face in the mirror image.
  const cv::Mat turned = load_image(
      shared_path("data/faces/named/face_recognition_examples/_group/kit_with_rose.jpg"));
  const auto faces = detector_->detect(turned);
  ASSERT_GE(faces.size(), 1u);
  cv::Mat mirrored;
  cv::flip(turned, mirrored, 1);
  const auto mirrored_faces = detector_->detect(mirrored);
  ASSERT_EQ(mirrored_faces.size(), faces.size());
  const FaceQuality a = measure_quality(turned, faces[0]);
  // The same face in the mirror: the box whose centre maps onto this one's.
  const float cx = turned.cols - (faces[0].box.x + faces[0].box.width / 2);
  const Face* match = nullptr;
  for (const auto& f : mirrored_faces) {
    if (std::fabs(f.box.x + f.box.width / 2 - cx) < f.box.width / 4) match = &f;
  }
  ASSERT_NE(match, nullptr);
  const FaceQuality b = measure_quality(mirrored, *match);
  EXPECT_NEAR(a.yaw, -b.yaw, 6) << a.yaw << " vs " << b.yaw;
  EXPECT_NEAR(a.sharpness, b.sharpness, 0.25 * a.sharpness);
}

TEST(QualityBarSpec, ParsesKeysAndRefusesNonsense) {
  const QualityBar bar = parse_quality_bar("size=48,sharpness=30,yaw=35");
  EXPECT_EQ(bar.min_size, 48);
  EXPECT_EQ(bar.min_sharpness, 30);
  EXPECT_EQ(bar.max_yaw, 35);
  EXPECT_EQ(bar.max_pitch, QualityBar{}.max_pitch);
  EXPECT_FALSE(parse_quality_bar("off").enabled);
  EXPECT_TRUE(parse_quality_bar("default").enabled);
  EXPECT_THROW(parse_quality_bar("blur=3"), InputError);
  EXPECT_THROW(parse_quality_bar("size"), InputError);
  EXPECT_THROW(parse_quality_bar("size=big"), InputError);
  EXPECT_THROW(parse_quality_bar("size=3x"), InputError);

  FaceQuality q;
  q.size = 20;
  q.sharpness = 5;
  q.yaw = 70;
  q.detector_score = 0.9f;
  const std::string why = quality_problems(q, QualityBar{});
  EXPECT_NE(why.find("too small (20 px < 32)"), std::string::npos) << why;
  EXPECT_NE(why.find("blurry"), std::string::npos) << why;
  EXPECT_NE(why.find("turned away (yaw 70"), std::string::npos) << why;
  EXPECT_EQ(quality_problems(q, parse_quality_bar("off")), "");
}

}  // namespace
}  // namespace clipface
