// `clipface finetune` and `classify` end to end on a few real photos with the tiny fixture model
// (random weights: the runs test the machinery, the figures mean nothing), and their bad-input
// paths: one line on stderr, a non-zero exit, no half-written result file. The prompt study,
// `eval prompts`, is tested in tests/eval/prompts_cli_test.cpp.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <sstream>

#include "support/test_env.hpp"

namespace clipface::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> env() { return {"CLIPFACE_SHARED=" + shared_dir().string()}; }
std::string vit_tiny() { return shared_path("fixtures/clip/vit-tiny.openai.pt").string(); }
std::string yunet() {
  return shared_path("models/yunet/face_detection_yunet_2022mar.onnx").string();
}

// DIR/<person>/ with symlinks to the first `count` shared images of each person (no copies).
void link_people(const fs::path& dir, const std::string& source,
                 const std::vector<std::string>& people, std::size_t count) {
  for (const auto& person : people) {
    fs::create_directories(dir / person);
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(shared_path(source + "/" + person))) {
      files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (std::size_t i = 0; i < std::min(count, files.size()); ++i) {
      fs::create_symlink(files[i], dir / person / files[i].filename());
    }
  }
}

std::size_t line_count(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

std::vector<std::string> train_args(const fs::path& dir, const fs::path& out) {
  return {"finetune", dir.string(), "--model", vit_tiny(), "--out", out.string(), "--cropped",
          "--epochs", "2", "--lr", "1e-3"};
}

class FinetuneCli : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* needed : {"fixtures/clip/vit-tiny.openai.pt", "data/faces/named/faceapi_bbt",
                               "models/clip/bpe_simple_vocab_16e6.txt.gz"}) {
      if (!fs::exists(shared_path(needed))) GTEST_SKIP() << "shared data missing: " << needed;
    }
    link_people(tmp_ / "people", "data/faces/named/faceapi_bbt", {"amy", "howard", "raj"}, 5);
  }
  TempDir tmp_;
};

TEST_F(FinetuneCli, TrainsOnCropsThenClassifiesWithUnknown) {
  const fs::path out = tmp_ / "bbt.safetensors";
  auto args = train_args(tmp_ / "people", out);
  args.push_back("--json");
  const CommandResult train = run_cli(args, env());
  ASSERT_EQ(train.exit_code, 0) << train.err;
  ASSERT_TRUE(fs::exists(out));
  const json report = json::parse(train.out);
  EXPECT_EQ(report["classes"], json({"amy", "howard", "raj"}));
  EXPECT_EQ(report["train_images"], 12);  // 5 each, 1 each to validation
  EXPECT_EQ(report["validation_images"], 3);
  EXPECT_EQ(report["epochs"].size(), 2u);
  EXPECT_EQ(report["steps"], 2);  // 12 images in batches of 16, two epochs
  // No temporary file left beside the result.
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(tmp_.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);

  const fs::path image = shared_path("data/faces/named/faceapi_bbt/amy");
  const CommandResult named = run_cli({"classify", out.string(), image.string(), "--json"}, env());
  ASSERT_EQ(named.exit_code, 0) << named.err;
  std::istringstream lines(named.out);
  std::string line;
  int faces = 0;
  while (std::getline(lines, line)) {
    const json face = json::parse(line);
    const float confidence = face["confidence"];
    EXPECT_GT(confidence, 1.0f / 3.0f - 1e-6f);  // softmax over 3 classes: the best is >= 1/3
    EXPECT_LE(confidence, 1.0f);
    const std::string label = face["label"];
    EXPECT_EQ(label, confidence >= 0.8f ? face["best"].get<std::string>() : "Unknown");
    ++faces;
  }
  EXPECT_EQ(faces, 5);

  // An impossible minimum: every face is Unknown; a table by default; annotated images.
  const fs::path annotated = tmp_ / "annotated";
  const CommandResult strict =
      run_cli({"classify", out.string(), image.string(), "--min-confidence", "1",
               "--annotate", annotated.string()},
              env());
  ASSERT_EQ(strict.exit_code, 0) << strict.err;
  EXPECT_EQ(line_count(strict.out), 6u);  // header + 5 faces
  EXPECT_NE(strict.out.find("Unknown"), std::string::npos);
  EXPECT_EQ(std::distance(fs::directory_iterator(annotated), fs::directory_iterator()), 5);
}

TEST_F(FinetuneCli, DetectsAndAlignsPhotos) {
  CLIPFACE_REQUIRE_SHARED("models/yunet/face_detection_yunet_2022mar.onnx");
  CLIPFACE_REQUIRE_SHARED("data/faces/named/face_recognition_examples/barack_obama");
  const fs::path dir = tmp_ / "photos";
  link_people(dir, "data/faces/named/face_recognition_examples", {"barack_obama", "kit_harington"},
              3);
  const fs::path out = tmp_ / "photos.safetensors";
  const CommandResult train =
      run_cli({"finetune", dir.string(), "--model", vit_tiny(), "--out", out.string(),
               "--epochs", "1", "--detector-model", yunet(), "--json"},
              env());
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_EQ(json::parse(train.out)["train_images"].get<int>() +
                json::parse(train.out)["validation_images"].get<int>(),
            6);
  const CommandResult named =
      run_cli({"classify", out.string(),
               shared_path("data/faces/named/face_recognition_examples/_group").string(),
               "--detector-model", yunet(), "--json"},
              env());
  ASSERT_EQ(named.exit_code, 0) << named.err;
  EXPECT_GE(line_count(named.out), 3u);  // group photos: several faces each
}

// ---------------------------------------------------------------------------------------------
// Bad input: one line on stderr, non-zero exit, no result file.

void expect_clean_failure(const CommandResult& r, const std::string& needle, const fs::path& out) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(FinetuneCli, PersonFolderWithoutAFace) {
  CLIPFACE_REQUIRE_SHARED("models/yunet/face_detection_yunet_2022mar.onnx");
  const fs::path dir = tmp_ / "people";
  fs::create_directories(dir / "nobody");
  cv::imwrite((dir / "nobody" / "wall.png").string(), cv::Mat(200, 200, CV_8UC3, cv::Scalar(90, 120, 150)));
  const fs::path out = tmp_ / "x.safetensors";
  const CommandResult r = run_cli({"finetune", dir.string(), "--model", vit_tiny(), "--out",
                                   out.string(), "--detector-model", yunet()},
                                  env());
  expect_clean_failure(r, "nobody: no usable face in 1 image", out);
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(FinetuneCli, SinglePersonHasNothingToContrast) {
  const fs::path dir = tmp_ / "one";
  link_people(dir, "data/faces/named/faceapi_bbt", {"amy"}, 3);
  const fs::path out = tmp_ / "x.safetensors";
  expect_clean_failure(run_cli(train_args(dir, out), env()), "nothing to contrast", out);
}

TEST_F(FinetuneCli, UnknownTemplateField) {
  const fs::path out = tmp_ / "x.safetensors";
  auto args = train_args(tmp_ / "people", out);
  args.insert(args.end(), {"--template", "This is {nme}"});
  const CommandResult r = run_cli(args, env());
  expect_clean_failure(r, "{nme}", out);
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(FinetuneCli, UnwritableOutput) {
  const fs::path missing = tmp_ / "no" / "such" / "x.safetensors";
  expect_clean_failure(run_cli(train_args(tmp_ / "people", missing), env()), "cannot write",
                       missing);
  if (::geteuid() != 0) {
    const fs::path locked = tmp_ / "locked";
    fs::create_directory(locked);
    fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
    expect_clean_failure(run_cli(train_args(tmp_ / "people", locked / "x.safetensors"), env()),
                         "read-only", locked / "x.safetensors");
    EXPECT_TRUE(fs::is_empty(locked));
  }
}

TEST_F(FinetuneCli, TruncatedResultFile) {
  const fs::path out = tmp_ / "good.safetensors";
  ASSERT_EQ(run_cli(train_args(tmp_ / "people", out), env()).exit_code, 0);
  const fs::path cut = tmp_ / "cut.safetensors";
  fs::copy_file(out, cut);
  fs::resize_file(cut, fs::file_size(out) - 1000);
  const CommandResult r = run_cli(
      {"classify", cut.string(), shared_path("data/faces/named/faceapi_bbt/amy").string()}, env());
  EXPECT_EQ(r.exit_code, 4);  // ModelError
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(cut.string()), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST_F(FinetuneCli, OtherBaseModelIsRefused) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/rn-tiny.openai.pt");
  const fs::path out = tmp_ / "good.safetensors";
  ASSERT_EQ(run_cli(train_args(tmp_ / "people", out), env()).exit_code, 0);
  const CommandResult r =
      run_cli({"classify", out.string(), shared_path("data/faces/named/faceapi_bbt/amy").string(),
               "--model", shared_path("fixtures/clip/rn-tiny.openai.pt").string()},
              env());
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("trained over base model"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace clipface::testing
