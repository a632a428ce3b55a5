// Loading real photos of every kind, and one clear ImageError naming the file for every kind of
// bad input (the bad files are made at test time from real photos or from scratch).
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {

namespace fs = std::filesystem;
using testing::shared_path;
using testing::TempDir;

const char kExamples[] = "data/faces/named/face_recognition_examples";

std::vector<unsigned char> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::vector<unsigned char> encode(const std::string& ext, const cv::Mat& image) {
  std::vector<unsigned char> bytes;
  EXPECT_TRUE(cv::imencode(ext, image, bytes)) << ext;
  return bytes;
}

// Runs `load`, expects an ImageError whose message names `name` and contains `reason`.
void expect_image_error(const std::function<void()>& load, const std::string& name,
                        const std::string& reason) {
  try {
    load();
    ADD_FAILURE() << "no ImageError for " << name;
  } catch (const ImageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(name), std::string::npos) << what;
    EXPECT_NE(what.find(reason), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what;
  }
}

void expect_load_error(const fs::path& path, const std::string& reason,
                       const ImageLimits& limits = {}) {
  expect_image_error([&] { load_image(path, limits); }, path.string(), reason);
  if (fs::is_regular_file(path)) {  // the in-memory path says the same
    expect_image_error([&] { decode_image(read_file(path), "upload.bin", limits); }, "upload.bin",
                       reason);
  }
}

bool channels_equal(const cv::Mat& bgr) {
  std::vector<cv::Mat> planes;
  cv::split(bgr, planes);
  return cv::norm(planes[0], planes[1], cv::NORM_INF) == 0 &&
         cv::norm(planes[0], planes[2], cv::NORM_INF) == 0;
}

struct SharedPhoto {
  const char* path;
  int width;
  int height;
  bool grey;
};

class SharedPhotos : public ::testing::TestWithParam<SharedPhoto> {};

TEST_P(SharedPhotos, LoadAsEightBitBgr) {
  const SharedPhoto& photo = GetParam();
  CLIPFACE_REQUIRE_SHARED(photo.path);
  const cv::Mat image = load_image(shared_path(photo.path));
  EXPECT_EQ(image.type(), CV_8UC3);
  EXPECT_EQ(image.cols, photo.width);
  EXPECT_EQ(image.rows, photo.height);
  EXPECT_EQ(channels_equal(image), photo.grey);
  // Same bytes in memory give the same pixels.
  const cv::Mat decoded = decode_image(read_file(shared_path(photo.path)), "photo");
  EXPECT_EQ(cv::norm(image, decoded, cv::NORM_INF), 0.0);
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, SharedPhotos,
    ::testing::Values(
        SharedPhoto{"data/faces/named/face_recognition_examples/barack_obama/obama2.jpg", 626, 1200,
                    false},
        SharedPhoto{"data/faces/named/face_recognition_examples/joe_biden/biden2.jpg", 1200, 1200,
                    false},  // progressive JPEG
        SharedPhoto{"data/faces/named/face_recognition_examples/alex_lacamoire/alex-lacamoire.png",
                    424, 394, false},                                              // RGBA PNG
        SharedPhoto{"data/faces/named/faceapi_bbt/amy/amy1.png", 150, 150, true},  // grey PNG
        SharedPhoto{"data/faces/orl/s1/1.pgm", 92, 112, true},                     // PGM
        SharedPhoto{"data/faces/yale/subject01/glasses.png", 320, 243, true}));    // grey PNG

TEST(LoadImage, DropsAlphaOfRgbaPng) {
  const std::string png = std::string(kExamples) + "/alex_lacamoire/alex-lacamoire.png";
  CLIPFACE_REQUIRE_SHARED(png);
  const cv::Mat bgra = cv::imread(shared_path(png).string(), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(bgra.channels(), 4);
  cv::Mat expected;
  cv::cvtColor(bgra, expected, cv::COLOR_BGRA2BGR);
  EXPECT_EQ(cv::norm(load_image(shared_path(png)), expected, cv::NORM_INF), 0.0);
}

TEST(LoadImage, ScalesSixteenBitToEight) {
  TempDir dir;
  cv::Mat deep(20, 30, CV_16UC3, cv::Scalar(100 * 257, 200 * 257, 65535));
  cv::imwrite((dir / "deep.png").string(), deep);
  cv::Mat grey(20, 30, CV_16UC1, cv::Scalar(50 * 257));
  cv::imwrite((dir / "grey16.png").string(), grey);
  const cv::Mat colour = load_image(dir / "deep.png");
  ASSERT_EQ(colour.type(), CV_8UC3);
  EXPECT_EQ(colour.at<cv::Vec3b>(10, 10), cv::Vec3b(100, 200, 255));
  const cv::Mat replicated = load_image(dir / "grey16.png");
  ASSERT_EQ(replicated.type(), CV_8UC3);
  EXPECT_EQ(replicated.at<cv::Vec3b>(5, 5), cv::Vec3b(50, 50, 50));
}

// An Exif APP1 segment whose single IFD entry is Orientation (0x0112) = `orientation`.
std::vector<unsigned char> exif_segment(int orientation) {
  const unsigned char tiff[] = {'I',
                                'I',
                                42,
                                0,
                                8,
                                0,
                                0,
                                0,  // little-endian, IFD at 8
                                1,
                                0,  // one entry
                                0x12,
                                0x01,
                                3,
                                0,
                                1,
                                0,
                                0,
                                0,  // Orientation, SHORT, count 1
                                static_cast<unsigned char>(orientation),
                                0,
                                0,
                                0,
                                0,
                                0,
                                0,
                                0};  // no next IFD
  std::vector<unsigned char> payload = {'E', 'x', 'i', 'f', 0, 0};
  payload.insert(payload.end(), std::begin(tiff), std::end(tiff));
  const std::size_t length = payload.size() + 2;
  std::vector<unsigned char> segment = {0xFF, 0xE1, static_cast<unsigned char>(length >> 8),
                                        static_cast<unsigned char>(length & 0xFF)};
  segment.insert(segment.end(), payload.begin(), payload.end());
  return segment;
}

TEST(LoadImage, AppliesExifOrientation) {
  // 80x40, left half white. Orientation 6 means "rotate 90 degrees clockwise to display": the
  // upright picture is 40x80 with the white half on top.
  cv::Mat image(40, 80, CV_8UC3, cv::Scalar(0, 0, 0));
  image(cv::Rect(0, 0, 40, 40)).setTo(cv::Scalar(255, 255, 255));
  std::vector<unsigned char> jpeg = encode(".jpg", image);
  const std::vector<unsigned char> exif = exif_segment(6);
  jpeg.insert(jpeg.begin() + 2, exif.begin(), exif.end());  // right after SOI
  TempDir dir;
  write_file(dir / "rotated.jpg", jpeg);
  for (const cv::Mat& upright : {load_image(dir / "rotated.jpg"), decode_image(jpeg, "rotated")}) {
    ASSERT_EQ(upright.cols, 40);
    ASSERT_EQ(upright.rows, 80);
    EXPECT_GT(cv::mean(upright.rowRange(0, 36))[0], 250.0);
    EXPECT_LT(cv::mean(upright.rowRange(44, 80))[0], 5.0);
  }
}

TEST(LoadImage, DecodesWebpWhateverItsName) {
  cv::Mat image(48, 64, CV_8UC3, cv::Scalar(30, 90, 200));
  TempDir dir;
  write_file(dir / "really_webp.jpg", encode(".webp", image));
  const cv::Mat loaded = load_image(dir / "really_webp.jpg");
  EXPECT_EQ(loaded.size(), image.size());
  EXPECT_LT(cv::norm(loaded, image, cv::NORM_INF), 8.0);  // lossy
}

TEST(LoadImage, AcceptsBytesAfterTheJpegEnd) {
  // Some cameras append trailers after EOI; libjpeg ignores them and so do we.
  CLIPFACE_REQUIRE_SHARED(std::string(kExamples) + "/barack_obama/obama.jpg");
  std::vector<unsigned char> jpeg =
      read_file(shared_path(std::string(kExamples) + "/barack_obama/obama.jpg"));
  const cv::Mat original = decode_image(jpeg, "obama.jpg");
  jpeg.insert(jpeg.end(), 1000, 0x00);
  EXPECT_EQ(cv::norm(decode_image(jpeg, "obama+trailer.jpg"), original, cv::NORM_INF), 0.0);
}

TEST(LoadImageErrors, MissingFileAndDirectory) {
  TempDir dir;
  expect_load_error(dir / "nobody.jpg", "no such file");
  fs::create_directory(dir / "folder.jpg");
  expect_load_error(dir / "folder.jpg", "directory");
}

TEST(LoadImageErrors, EmptyFile) {
  TempDir dir;
  write_file(dir / "empty.jpg", {});
  expect_load_error(dir / "empty.jpg", "empty");
}

TEST(LoadImageErrors, TextFile) {
  TempDir dir;
  const std::string text = "this is not a photo\n";
  write_file(dir / "notes.jpg", {text.begin(), text.end()});
  expect_load_error(dir / "notes.jpg", "not an image");
}

TEST(LoadImageErrors, GifIsRefusedClearly) {
  TempDir dir;
  const std::string gif = "GIF89a\x01\x00\x01\x00\x00\x00\x00;";
  write_file(dir / "anim.gif", {gif.begin(), gif.end()});
  expect_load_error(dir / "anim.gif", "GIF");
}

TEST(LoadImageErrors, TruncatedJpegs) {
  // A cut JPEG "decodes" in libjpeg with a grey bottom and a warning: it must be refused.
  for (const char* photo : {"/barack_obama/obama.jpg", "/joe_biden/biden2.jpg"}) {  // baseline,
    CLIPFACE_REQUIRE_SHARED(std::string(kExamples) + photo);                        // progressive
    const std::vector<unsigned char> jpeg = read_file(shared_path(std::string(kExamples) + photo));
    TempDir dir;
    for (const double keep : {0.001, 0.3, 0.9}) {
      const auto cut = static_cast<std::ptrdiff_t>(static_cast<double>(jpeg.size()) * keep);
      write_file(dir / "cut.jpg", {jpeg.begin(), jpeg.begin() + cut});
      SCOPED_TRACE(std::string(photo) + " keep " + std::to_string(keep));
      expect_load_error(dir / "cut.jpg", "truncated");
    }
    write_file(dir / "no_eoi.jpg", {jpeg.begin(), jpeg.end() - 2});  // only the end marker gone
    expect_load_error(dir / "no_eoi.jpg", "truncated");
  }
}

TEST(LoadImageErrors, TruncatedPng) {
  const std::string png = std::string(kExamples) + "/alex_lacamoire/alex-lacamoire.png";
  CLIPFACE_REQUIRE_SHARED(png);
  const std::vector<unsigned char> bytes = read_file(shared_path(png));
  TempDir dir;
  for (const double keep : {0.01, 0.5, 0.999}) {
    const auto cut = static_cast<std::ptrdiff_t>(static_cast<double>(bytes.size()) * keep);
    write_file(dir / "cut.png", {bytes.begin(), bytes.begin() + cut});
    expect_load_error(dir / "cut.png", "truncated");
  }
}

TEST(LoadImageErrors, TruncatedPgmBmpAndWebp) {
  CLIPFACE_REQUIRE_SHARED("data/faces/orl/s1/1.pgm");
  const std::vector<unsigned char> pgm = read_file(shared_path("data/faces/orl/s1/1.pgm"));
  cv::Mat image(50, 60, CV_8UC3);
  cv::randu(image, 0, 256);
  TempDir dir;
  const struct {
    const char* name;
    std::vector<unsigned char> bytes;
  } files[] = {
      {"cut.pgm", pgm}, {"cut.bmp", encode(".bmp", image)}, {"cut.webp", encode(".webp", image)}};
  for (const auto& file : files) {
    for (const double keep : {0.5, 0.99}) {
      const auto cut = static_cast<std::ptrdiff_t>(static_cast<double>(file.bytes.size()) * keep);
      write_file(dir / file.name, {file.bytes.begin(), file.bytes.begin() + cut});
      SCOPED_TRACE(std::string(file.name) + " keep " + std::to_string(keep));
      expect_load_error(dir / file.name, "truncated");
    }
  }
}

TEST(LoadImageErrors, CorruptPngData) {
  cv::Mat image(64, 64, CV_8UC3);
  cv::randu(image, 0, 256);
  std::vector<unsigned char> png = encode(".png", image);
  // Scramble the compressed pixel data (structure and length stay intact).
  for (std::size_t i = 60; i < png.size() - 40; i += 7) png[i] ^= 0x5A;
  TempDir dir;
  write_file(dir / "scrambled.png", png);
  expect_load_error(dir / "scrambled.png", "corrupt");
}

// Patches the header's dimensions of a tiny real image: the file claims a huge picture.
TEST(LoadImageErrors, DecompressionBombsAreRefusedFromTheHeader) {
  const cv::Mat tiny(1, 1, CV_8UC3, cv::Scalar(1, 2, 3));
  TempDir dir;

  std::vector<unsigned char> png = encode(".png", tiny);
  ASSERT_EQ(std::string(png.begin() + 12, png.begin() + 16), "IHDR");
  for (int i : {16, 20}) {  // width, height: 0x00030D40 = 200000 each
    png[i] = 0x00, png[i + 1] = 0x03, png[i + 2] = 0x0D, png[i + 3] = 0x40;
  }
  write_file(dir / "bomb.png", png);
  expect_load_error(dir / "bomb.png", "200000x200000");

  std::vector<unsigned char> jpeg = encode(".jpg", tiny);
  bool patched = false;
  for (std::size_t i = 2; i + 9 < jpeg.size() && !patched; ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {  // SOF0: length, precision, height, width
      jpeg[i + 5] = jpeg[i + 6] = jpeg[i + 7] = jpeg[i + 8] = 0xEA;  // 60138 x 60138
      patched = true;
    }
  }
  ASSERT_TRUE(patched);
  write_file(dir / "bomb.jpg", jpeg);
  expect_load_error(dir / "bomb.jpg", "60138x60138");

  std::vector<unsigned char> bmp = encode(".bmp", tiny);
  bmp[18] = bmp[22] = 0x00, bmp[19] = bmp[23] = 0x00, bmp[20] = bmp[24] = 0x01;  // 65536 each
  write_file(dir / "bomb.bmp", bmp);
  expect_load_error(dir / "bomb.bmp", "65536x65536");

  // WebP, lossy ("VP8 ": 14-bit sizes at 26 and 28) and lossless ("VP8L": 14-bit sizes - 1
  // packed after the 0x2F signature byte).
  const cv::Mat small(8, 8, CV_8UC3, cv::Scalar(9, 9, 9));
  std::vector<unsigned char> webp;
  ASSERT_TRUE(cv::imencode(".webp", small, webp, {cv::IMWRITE_WEBP_QUALITY, 90}));
  ASSERT_EQ(std::string(webp.begin() + 12, webp.begin() + 16), "VP8 ");
  webp[26] = webp[28] = 0xFF, webp[27] = webp[29] = 0x3F;  // 16383 x 16383
  write_file(dir / "bomb.webp", webp);
  expect_load_error(dir / "bomb.webp", "16383x16383");
  std::vector<unsigned char> lossless;
  ASSERT_TRUE(cv::imencode(".webp", small, lossless, {cv::IMWRITE_WEBP_QUALITY, 101}));
  ASSERT_EQ(std::string(lossless.begin() + 12, lossless.begin() + 16), "VP8L");
  lossless[21] = lossless[22] = lossless[23] = 0xFF, lossless[24] |= 0x0F;  // 16384 x 16384
  write_file(dir / "bomb_lossless.webp", lossless);
  expect_load_error(dir / "bomb_lossless.webp", "16384x16384");

  // TIFF: ImageWidth (256) and ImageLength (257) entries of the first IFD (little-endian).
  std::vector<unsigned char> tiff = encode(".tiff", tiny);
  ASSERT_EQ(tiff[0], 'I');
  const std::size_t ifd = tiff[4] | (tiff[5] << 8) | (tiff[6] << 16) | (tiff[7] << 24);
  int dims_patched = 0;
  for (std::size_t entry = ifd + 2; entry + 12 <= tiff.size() && dims_patched < 2; entry += 12) {
    const int tag = tiff[entry] | (tiff[entry + 1] << 8);
    if (tag != 256 && tag != 257) continue;
    tiff[entry + 8] = 0x50, tiff[entry + 9] = 0xC3;  // 50000 as SHORT or LONG
    ++dims_patched;
  }
  ASSERT_EQ(dims_patched, 2);
  write_file(dir / "bomb.tiff", tiff);
  expect_load_error(dir / "bomb.tiff", "50000x50000");

  const std::string pgm = "P5\n# made by hand\n70000 70000\n255\n\x01";
  write_file(dir / "bomb.pgm", {pgm.begin(), pgm.end()});
  expect_load_error(dir / "bomb.pgm", "70000x70000");
}

TEST(LoadImageErrors, LimitsAreConfigurable) {
  const std::string photo = std::string(kExamples) + "/barack_obama/obama2.jpg";
  CLIPFACE_REQUIRE_SHARED(photo);
  ImageLimits small_pixels;
  small_pixels.max_pixels = 100'000;  // the photo is 626x1200
  expect_load_error(shared_path(photo), "626x1200", small_pixels);
  ImageLimits small_files;
  small_files.max_bytes = 1000;
  expect_load_error(shared_path(photo), "exceeds the limit", small_files);
}

TEST(ImageExtensions, KnowsTheUsualEndingsInAnyCase) {
  for (const char* name : {"a.jpg", "b.JPEG", "c.png", "d.Pgm", "e.bmp", "f.webp", "g.tif"}) {
    EXPECT_TRUE(has_image_extension(name)) << name;
  }
  for (const char* name : {"a.txt", "b", "c.jpg.part", "d.gif", "e.npy", ".png/x"}) {
    EXPECT_FALSE(has_image_extension(name)) << name;
  }
}

TEST(ListImages, SortedFilteredAndOptionallyRecursive) {
  TempDir dir;
  fs::create_directories(dir / "person_b" / "train");
  fs::create_directories(dir / ".hidden");
  for (const char* name : {"z.jpg", "a.PNG", "notes.txt", "._a.jpg", "person_b/2.jpg",
                           "person_b/1.pgm", "person_b/train/x.jpeg", ".hidden/y.jpg"}) {
    write_file(dir / name, {1});
  }
  const std::vector<fs::path> top = list_images(dir.path(), false);
  EXPECT_EQ(top, (std::vector<fs::path>{dir / "a.PNG", dir / "z.jpg"}));
  const std::vector<fs::path> all = list_images(dir.path(), true);
  EXPECT_EQ(all,
            (std::vector<fs::path>{dir / "a.PNG", dir / "person_b/1.pgm", dir / "person_b/2.jpg",
                                   dir / "person_b/train/x.jpeg", dir / "z.jpg"}));
  EXPECT_THROW(list_images(dir / "missing", true), InputError);
  EXPECT_THROW(list_images(dir / "z.jpg", false), InputError);
}

TEST(ListPersonFolders, SortedPeopleWithoutGroupHiddenOrFiles) {
  TempDir dir;
  for (const char* name : {"zoe", "amy", "_group", ".cache"}) fs::create_directories(dir / name);
  std::ofstream(dir / "notes.txt") << "not a person";
  const auto people = list_person_folders(dir.path());
  ASSERT_EQ(people.size(), 2u);
  EXPECT_EQ(people[0].filename(), "amy");
  EXPECT_EQ(people[1].filename(), "zoe");
  EXPECT_THROW(list_person_folders(dir / "notes.txt"), InputError);
  EXPECT_THROW(list_person_folders(dir / "missing"), InputError);
}

}  // namespace
}  // namespace clipface
