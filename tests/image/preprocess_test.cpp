// CLIP preprocessing against the reference tensors written by OpenAI's clip._transform (Pillow
// 9.4 + torchvision), and Pillow's bicubic resize against values Pillow computed.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <iterator>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/npy.hpp"
#include "clipface/preprocess.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {

using testing::shared_path;

struct FixtureImage {
  const char* name;
  const char* file;
};

// How gtest (and so ctest's listing) shows a case: its file, not its bytes.
void PrintTo(const FixtureImage& image, std::ostream* out) { *out << image.file; }

const FixtureImage kFixtureImages[] = {
    {"obama1", "images/obama1.jpg"},                  // JPEG baseline, landscape
    {"biden2", "images/biden2.jpg"},                  // JPEG progressive, square
    {"obama2", "images/obama2.jpg"},                  // JPEG, portrait, crop offset x.5
    {"alex_lacamoire", "images/alex_lacamoire.png"},  // RGBA PNG, crop offset 8.5
    {"att_s1_1", "images/att_s1_1.pgm"},              // greyscale PGM, upscaled
};

struct Difference {
  double mean = 0;
  double max = 0;
  double exact_share = 0;  // share of values whose uint8 level is recovered exactly
};

Difference compare(const std::vector<float>& ours, const std::vector<float>& expected) {
  Difference d;
  std::size_t exact = 0;
  const std::size_t plane = expected.size() / 3;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double diff = std::abs(double{ours[i]} - double{expected[i]});
    d.mean += diff;
    d.max = std::max(d.max, diff);
    // Recover the uint8 levels (exact by construction of the fixtures, see their README).
    const std::size_t c = i / plane;
    auto level = [&](float v) { return std::rint((v * kClipStd[c] + kClipMean[c]) * 255.0f); };
    exact += level(ours[i]) == level(expected[i]);
  }
  d.mean /= static_cast<double>(expected.size());
  d.exact_share = static_cast<double>(exact) / static_cast<double>(expected.size());
  return d;
}

class FixturePreprocess : public ::testing::TestWithParam<FixtureImage> {};

TEST_P(FixturePreprocess, MatchesReferenceTensorsWithAndWithoutCrop) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/preprocess.json");
  const FixtureImage& fixture = GetParam();
  const cv::Mat image = load_image(shared_path("fixtures/clip") / fixture.file);
  const struct {
    const char* dir;
    ImageResize mode;
  } variants[] = {{"preprocess", ImageResize::center_crop},
                  {"preprocess_nocrop", ImageResize::squash}};
  for (const auto& variant : variants) {
    SCOPED_TRACE(std::string(fixture.name) + " " + variant.dir);
    const NpyArray reference =
        read_npy(shared_path("fixtures/clip") / variant.dir / (std::string(fixture.name) + ".npy"));
    ASSERT_EQ(reference.size(), 3 * 224 * 224);
    const std::vector<float> ours = clip_pixels(image, 224, variant.mode);
    ASSERT_EQ(ours.size(), 3u * 224 * 224);
    const Difference d = compare(ours, reference.as_floats());
    std::cout << "[ preprocess ] " << fixture.name << " " << variant.dir << ": mean |diff| "
              << d.mean << ", max " << d.max << ", exact uint8 levels " << 100.0 * d.exact_share
              << "%\n";
    EXPECT_LE(d.mean, 0.01);
    EXPECT_LE(d.max, 0.1);
    // Lossless sources go through the same integer arithmetic as Pillow: bit-exact.
    if (std::string(fixture.file).ends_with(".jpg")) continue;
    EXPECT_EQ(d.max, 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(ClipFixtures, FixturePreprocess, ::testing::ValuesIn(kFixtureImages),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ClipPixels, AppendBuildsBatchesEqualToSingleImages) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/images/att_s1_1.pgm");
  const cv::Mat grey = load_image(shared_path("fixtures/clip/images/att_s1_1.pgm"));
  const cv::Mat colour = load_image(shared_path("fixtures/clip/images/alex_lacamoire.png"));
  std::vector<float> batch;
  append_clip_pixels(grey, 64, ImageResize::center_crop, batch);
  append_clip_pixels(colour, 64, ImageResize::squash, batch);
  ASSERT_EQ(batch.size(), 2u * 3 * 64 * 64);
  const std::vector<float> first = clip_pixels(grey, 64, ImageResize::center_crop);
  const std::vector<float> second = clip_pixels(colour, 64, ImageResize::squash);
  EXPECT_TRUE(std::equal(first.begin(), first.end(), batch.begin()));
  EXPECT_TRUE(std::equal(second.begin(), second.end(), batch.begin() + first.size()));
}

TEST(ClipPixels, GreyAndReplicatedGreyGiveTheSameTensor) {
  cv::Mat grey(37, 53, CV_8UC1);
  cv::randu(grey, 0, 256);
  cv::Mat bgr;
  cv::cvtColor(grey, bgr, cv::COLOR_GRAY2BGR);
  EXPECT_EQ(clip_pixels(grey, 32, ImageResize::center_crop),
            clip_pixels(bgr, 32, ImageResize::center_crop));
}

TEST(ClipPixels, ChannelsComeOutAsNormalisedRgbPlanes) {
  // A flat BGR colour: every value of a plane is (level / 255 - mean) / std of its RGB channel.
  const cv::Mat flat(50, 70, CV_8UC3, cv::Scalar(10, 128, 250));  // B, G, R
  const std::vector<float> pixels = clip_pixels(flat, 16, ImageResize::center_crop);
  const int levels[3] = {250, 128, 10};  // R, G, B
  for (int c = 0; c < 3; ++c) {
    const float expected = (levels[c] / 255.0f - kClipMean[c]) / kClipStd[c];
    for (int i = 0; i < 16 * 16; ++i) ASSERT_EQ(pixels[c * 256 + i], expected) << c << " " << i;
  }
}

TEST(ClipPixels, RejectsEmptyImagesAndBadSizes) {
  EXPECT_THROW(clip_pixels(cv::Mat(), 224, ImageResize::squash), InputError);
  EXPECT_THROW(clip_pixels(cv::Mat(10, 10, CV_8UC3), 0, ImageResize::squash), InputError);
  EXPECT_THROW(clip_pixels(cv::Mat(10, 10, CV_32FC3), 8, ImageResize::squash), InputError);
}

// Synthetic images v(x, y, c) = (x * 37 + y * 91 + c * 53) % 256 (a sawtooth: sharp edges, so
// the cubic's negative lobes overshoot and clipping is exercised) resized by Pillow 9.4.0 with
// Image.resize(size, Image.BICUBIC); list(im.getdata()) flattened and pasted here.
cv::Mat synthetic(int width, int height, int channels) {
  cv::Mat image(height, width, CV_8UC(channels));
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        image.ptr<unsigned char>(y)[x * channels + c] =
            static_cast<unsigned char>((x * 37 + y * 91 + c * 53) % 256);
      }
    }
  }
  return image;
}

const unsigned char kPillowRgb40x30To9x7[] = {
    112, 136, 133, 121, 134, 138, 124, 119, 120, 121, 124, 122, 128, 124, 120, 127, 127, 125, 128,
    130, 127, 134, 130, 125, 131, 134, 133, 128, 135, 134, 117, 136, 132, 121, 133, 138, 123, 118,
    120, 124, 123, 122, 128, 125, 122, 129, 125, 125, 130, 129, 127, 133, 131, 127, 137, 128, 130,
    129, 135, 132, 116, 137, 133, 121, 132, 138, 124, 119, 119, 124, 123, 121, 127, 125, 122, 129,
    126, 125, 129, 128, 129, 132, 133, 125, 135, 130, 130, 129, 134, 133, 117, 137, 133, 121, 131,
    137, 124, 119, 119, 123, 123, 122, 127, 126, 122, 130, 125, 125, 126, 128, 129, 133, 131, 127,
    136, 131, 130, 128, 134, 132, 117, 137, 133, 121, 130, 137, 124, 118, 118, 124, 123, 122, 127,
    128, 120, 131, 123, 124, 129, 128, 127, 132, 131, 127, 136, 131, 130, 127, 134, 133, 118, 137,
    133, 121, 129, 137, 124, 119, 118, 122, 123, 124, 125, 130, 123, 128, 125, 123, 129, 129, 126,
    130, 133, 128, 136, 130, 128, 125, 136, 132, 118, 139, 133, 121, 127, 134, 129, 119, 117,
};
const unsigned char kPillowGrey7x5To12x9[] = {
    0,   3,   28,  50,  72,  93,  114, 135, 167, 201, 226, 238, 21,  32,  57,  84,  110, 131,
    155, 178, 160, 137, 160, 176, 77,  89,  115, 143, 170, 191, 221, 247, 145, 26,  45,  69,
    142, 161, 183, 134, 98,  117, 148, 172, 113, 42,  63,  83,  179, 203, 222, 98,  0,   18,
    48,  69,  91,  113, 138, 151, 84,  102, 124, 75,  39,  57,  88,  121, 153, 181, 207, 219,
    14,  26,  52,  80,  107, 130, 145, 153, 172, 195, 220, 233, 74,  87,  112, 139, 166, 200,
    162, 60,  53,  88,  113, 126, 112, 125, 150, 172, 195, 236, 168, 5,   0,   26,  51,  64,
};
const unsigned char kPillowRgb23x6To5x11[] = {
    76,  129, 171, 115, 117, 129, 125, 149, 100, 99,  128, 128, 129, 125, 85,  102, 144, 154, 115,
    120, 133, 130, 131, 105, 113, 127, 129, 123, 119, 111, 148, 170, 120, 114, 126, 139, 139, 100,
    115, 139, 126, 129, 112, 110, 157, 137, 144, 109, 119, 134, 147, 123, 107, 120, 133, 122, 118,
    124, 132, 143, 101, 102, 113, 126, 141, 151, 102, 129, 122, 114, 119, 107, 145, 159, 104, 94,
    122, 132, 132, 141, 133, 123, 123, 122, 114, 118, 128, 151, 126, 100, 100, 150, 148, 131, 138,
    118, 143, 113, 122, 119, 122, 144, 144, 91,  109, 121, 145, 140, 112, 132, 144, 122, 113, 125,
    126, 137, 115, 108, 111, 128, 133, 134, 131, 106, 135, 156, 106, 116, 131, 131, 139, 96,  97,
    129, 138, 122, 122, 129, 132, 153, 127, 115, 124, 138, 130, 110, 115, 143, 126, 126, 116, 117,
    128, 146, 162, 110, 120, 128, 142, 130, 94,  126, 169, 124, 119,
};

void expect_pillow_bytes(const cv::Mat& ours, const unsigned char* expected, std::size_t count) {
  ASSERT_TRUE(ours.isContinuous());
  ASSERT_EQ(ours.total() * ours.channels(), count);
  int mismatches = 0;
  for (std::size_t i = 0; i < count; ++i) mismatches += ours.data[i] != expected[i];
  EXPECT_EQ(mismatches, 0);
}

TEST(PilResizeBicubic, EqualsPillowWhenShrinkingRgb) {
  expect_pillow_bytes(pil_resize_bicubic(synthetic(40, 30, 3), {9, 7}), kPillowRgb40x30To9x7,
                      std::size(kPillowRgb40x30To9x7));
}

TEST(PilResizeBicubic, EqualsPillowWhenEnlargingGreyWithClipping) {
  expect_pillow_bytes(pil_resize_bicubic(synthetic(7, 5, 1), {12, 9}), kPillowGrey7x5To12x9,
                      std::size(kPillowGrey7x5To12x9));
}

TEST(PilResizeBicubic, EqualsPillowWhenShrinkingOneAxisAndEnlargingTheOther) {
  expect_pillow_bytes(pil_resize_bicubic(synthetic(23, 6, 3), {5, 11}), kPillowRgb23x6To5x11,
                      std::size(kPillowRgb23x6To5x11));
}

TEST(PilResizeBicubic, KeepsSizeChannelsAndFlatImages) {
  // A constant image stays constant through any resize: the weights are normalised to 1.
  for (const cv::Size size : {cv::Size(3, 2), cv::Size(100, 7), cv::Size(31, 64)}) {
    const cv::Mat flat(23, 41, CV_8UC3, cv::Scalar(0, 77, 255));
    const cv::Mat resized = pil_resize_bicubic(flat, size);
    ASSERT_EQ(resized.size(), size);
    ASSERT_EQ(resized.type(), CV_8UC3);
    cv::Mat differs;
    cv::absdiff(resized, cv::Scalar(0, 77, 255), differs);
    EXPECT_EQ(cv::countNonZero(differs.reshape(1)), 0) << size;
  }
  const cv::Mat grey(9, 9, CV_8UC1, cv::Scalar(200));
  EXPECT_EQ(cv::countNonZero(pil_resize_bicubic(grey, {4, 13}) != 200), 0);
}

TEST(PilResizeBicubic, SameSizeIsACopy) {
  const cv::Mat image = synthetic(7, 5, 3);
  const cv::Mat same = pil_resize_bicubic(image, image.size());
  EXPECT_EQ(cv::norm(same, image, cv::NORM_INF), 0.0);
}

TEST(PilResizeBicubic, IsSeparableWithRoundingBetweenPasses) {
  // Pillow resizes horizontally, rounds to uint8, then vertically: doing the two axes as two
  // calls must give the same bytes.
  cv::Mat image(61, 83, CV_8UC3);
  cv::randu(image, 0, 256);
  const cv::Mat both = pil_resize_bicubic(image, {29, 40});
  const cv::Mat steps = pil_resize_bicubic(pil_resize_bicubic(image, {29, 61}), {29, 40});
  EXPECT_EQ(cv::norm(both, steps, cv::NORM_INF), 0.0);
}

TEST(PilResizeBicubic, RejectsUnsupportedInput) {
  EXPECT_THROW(pil_resize_bicubic(cv::Mat(), {4, 4}), InputError);
  EXPECT_THROW(pil_resize_bicubic(cv::Mat(4, 4, CV_8UC2), {4, 4}), InputError);
  EXPECT_THROW(pil_resize_bicubic(cv::Mat(4, 4, CV_8UC3), {0, 4}), InputError);
}

TEST(ClipPixels, PreprocessesAPhotoInAFewMilliseconds) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/images/obama1.jpg");
  const cv::Mat photo = load_image(shared_path("fixtures/clip/images/obama1.jpg"));  // 1.2 Mpx
  std::vector<float> pixels;
  clip_pixels(photo, 224, ImageResize::center_crop);  // warm-up (thread pool)
  const int runs = 20;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) {
    pixels.clear();
    append_clip_pixels(photo, 224, ImageResize::center_crop, pixels);
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() /
      runs;
  std::cout << "[ preprocess ] " << photo.cols << "x" << photo.rows << " photo: " << ms
            << " ms per image\n";
  EXPECT_LT(ms, 50.0);  // generous for a loaded 2-core machine; typically a few ms
}

}  // namespace
}  // namespace clipface
