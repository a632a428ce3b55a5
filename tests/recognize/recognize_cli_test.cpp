// The CLI as users run it: enroll a folder of people, identify group photos, manage people, and
// every kind of bad input gives one line on stderr, a non-zero exit and an unchanged gallery.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include "clipface/checksum.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
using testing::run_cli;
using testing::shared_path;
namespace fs = std::filesystem;
using testing::json_lines;

const std::string kExamples = "data/faces/named/face_recognition_examples";

int count_lines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SHARED(kExamples);
    CLIPFACE_REQUIRE_SHARED("models/dlib/dlib_face_recognition_resnet_model_v1.dat");
    env_ = {testing::make_models_home(home_.path())};
    gallery_ = (work_.path() / "gallery").string();
  }

  testing::CommandResult cli(const std::vector<std::string>& args) { return run_cli(args, env_); }

  // Enrolls two people only (fast); returns the gallery's database checksum.
  std::string enroll_small() {
    testing::make_people_dir(work_.path() / "people",
                             {{"barack_obama", kExamples + "/barack_obama/obama.jpg"},
                              {"joe_biden", kExamples + "/joe_biden/biden.jpg"}});
    const auto r = cli({"enroll", gallery_, (work_.path() / "people").string(), "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return sha256_file(fs::path(gallery_) / "gallery.db");
  }

  // Exit code non-zero, exactly one line on stderr that mentions `needle`.
  void expect_clean_failure(const testing::CommandResult& r, const std::string& needle) {
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }

  testing::TempDir home_, work_;
  std::vector<std::string> env_;
  std::string gallery_;
};

TEST_F(CliTest, EnrollFolderThenIdentifyGroupPhotosWithAnnotations) {
  // biden2.jpg shows two faces: skipped, so the call is partial (exit 7) unless allowed.
  const auto enrolled =
      cli({"enroll", gallery_, shared_path(kExamples).string(), "--json", "--allow-skips"});
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.err;
  const auto summary = nlohmann::json::parse(enrolled.out);
  EXPECT_EQ(summary["people"], 6);
  EXPECT_GE(summary["faces"].get<int>(), 15);
  ASSERT_EQ(summary["skipped"].size(), 1u);
  EXPECT_EQ(summary["skipped"][0]["reason"], "2 faces");

  const fs::path annotated = work_.path() / "annotated";
  const auto identified = cli({"identify", gallery_, shared_path(kExamples + "/_group").string(),
                               "--json", "--annotate", annotated.string()});
  ASSERT_EQ(identified.exit_code, 0) << identified.err;
  std::map<std::string, std::multiset<std::string>> labels;
  for (const auto& line : json_lines(identified.out)) {
    // Bystanders (a third person in obama_and_biden.jpg) stay Unknown and are left out here.
    if (line["label"] != "Unknown") {
      labels[fs::path(line["file"].get<std::string>()).filename().string()].insert(
          line["label"].get<std::string>());
    }
    EXPECT_EQ(line["box"].size(), 4u);
    EXPECT_EQ(line["landmarks"].size(), 5u);
  }
  EXPECT_EQ(labels["obama_and_biden.jpg"], (std::multiset<std::string>{"barack_obama", "joe_biden"}));
  EXPECT_EQ(labels["kit_with_rose.jpg"], (std::multiset<std::string>{"kit_harington", "rose_leslie"}));
  EXPECT_EQ(labels["two_people.jpg"], (std::multiset<std::string>{"barack_obama", "joe_biden"}));
  EXPECT_TRUE(fs::exists(annotated / "obama_and_biden.jpg"));
  EXPECT_TRUE(fs::exists(annotated / "kit_with_rose.jpg"));

  const auto table = cli({"identify", gallery_, shared_path(kExamples + "/_group/kit_with_rose.jpg").string()});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("rose_leslie"), std::string::npos);
}

TEST_F(CliTest, PeopleListRenameRemove) {
  enroll_small();
  auto listed = cli({"people", gallery_, "list", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(nlohmann::json::parse(listed.out).size(), 2u);
  EXPECT_EQ(cli({"people", gallery_, "rename", "joe_biden", "Joe Biden"}).exit_code, 0);
  EXPECT_EQ(cli({"people", gallery_, "remove", "barack_obama"}).exit_code, 0);
  listed = cli({"people", gallery_, "list", "--json"});
  const auto people = nlohmann::json::parse(listed.out);
  ASSERT_EQ(people.size(), 1u);
  EXPECT_EQ(people[0]["name"], "Joe Biden");
  const auto identified = cli({"identify", gallery_,
                               shared_path(kExamples + "/barack_obama/obama1.jpg").string(), "--json"});
  ASSERT_EQ(identified.exit_code, 0);
  for (const auto& line : json_lines(identified.out)) EXPECT_EQ(line["label"], "Unknown");
  expect_clean_failure(cli({"people", gallery_, "remove", "nobody"}), "nobody");
}

TEST_F(CliTest, AddAndVerify) {
  const auto added = cli({"add", gallery_, "--person", "kit_harington",
                          shared_path(kExamples + "/kit_harington/john1.jpeg").string(), "--json"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_EQ(nlohmann::json::parse(added.out)["faces"], 1);
  const auto same = cli({"verify", shared_path(kExamples + "/kit_harington/john1.jpeg").string(),
                         shared_path(kExamples + "/kit_harington/john2.jpeg").string(), "--json"});
  ASSERT_EQ(same.exit_code, 0) << same.err;
  EXPECT_TRUE(nlohmann::json::parse(same.out)["same"].get<bool>());
  const auto different = cli({"verify", shared_path(kExamples + "/kit_harington/john1.jpeg").string(),
                              shared_path(kExamples + "/rose_leslie/img1.jpg").string(), "--json"});
  ASSERT_EQ(different.exit_code, 0) << different.err;
  EXPECT_FALSE(nlohmann::json::parse(different.out)["same"].get<bool>());
}

TEST_F(CliTest, BadImagesFailCleanlyAndLeaveTheGalleryUnchanged) {
  const std::string before = enroll_small();
  const fs::path bad = work_.path() / "bad";
  fs::create_directories(bad);
  std::ofstream(bad / "empty.jpg").close();
  std::ofstream(bad / "notes.jpg") << "this is not an image\n";
  {
    std::ifstream in(shared_path(kExamples + "/joe_biden/biden2.jpg"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(bad / "truncated.jpg", std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  }
  for (const char* name : {"empty.jpg", "notes.jpg", "truncated.jpg", "missing.jpg"}) {
    const std::string path = (bad / name).string();
    expect_clean_failure(cli({"identify", gallery_, path}), name);
    // Enrolling only bad photos fails as an unreadable image (3), says why, changes nothing.
    const auto added = cli({"add", gallery_, "--person", "joe_biden", path});
    expect_clean_failure(added, name);
    EXPECT_EQ(added.exit_code, 3);
  }
  expect_clean_failure(cli({"verify", (bad / "notes.jpg").string(),
                            shared_path(kExamples + "/joe_biden/biden.jpg").string()}),
                       "notes.jpg");
  // A photo without a face.
  const fs::path blank = bad / "blank.png";
  cv::imwrite(blank.string(), cv::Mat(240, 320, CV_8UC3, cv::Scalar(90, 120, 150)));
  expect_clean_failure(cli({"verify", blank.string(),
                            shared_path(kExamples + "/joe_biden/biden.jpg").string()}),
                       "no face");
  EXPECT_EQ(before, sha256_file(fs::path(gallery_) / "gallery.db"));
}

TEST_F(CliTest, MissingAndForeignGalleriesAreRefused) {
  expect_clean_failure(cli({"identify", (work_.path() / "nowhere").string(),
                            shared_path(kExamples + "/joe_biden/biden.jpg").string()}),
                       "nowhere");
  const fs::path foreign = work_.path() / "foreign";
  fs::create_directories(foreign);
  std::ofstream(foreign / "gallery.db") << "SQLite format 3? no, just text";
  const std::string before = sha256_file(foreign / "gallery.db");
  expect_clean_failure(cli({"people", foreign.string(), "list"}), "foreign");
  expect_clean_failure(cli({"add", foreign.string(), "--person", "x",
                            shared_path(kExamples + "/joe_biden/biden.jpg").string()}),
                       "foreign");
  EXPECT_EQ(before, sha256_file(foreign / "gallery.db"));
}

TEST_F(CliTest, ModelMismatchIsRefused) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.safetensors");
  const std::string before = enroll_small();
  const auto r = cli({"add", gallery_, "--person", "joe_biden", "--embedder",
                      "clip:" + shared_path("fixtures/clip/vit-tiny.safetensors").string(),
                      shared_path(kExamples + "/joe_biden/biden2.jpg").string()});
  expect_clean_failure(r, "model");
  EXPECT_EQ(before, sha256_file(fs::path(gallery_) / "gallery.db"));
}

// The same flow with a CLIP model: the random-weight fixture proves the plumbing (enroll, index,
// search, vote, output), not accuracy.
TEST_F(CliTest, ClipFixtureModelRunsTheWholeFlow) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.safetensors");
  const std::string model = "clip:" + shared_path("fixtures/clip/vit-tiny.safetensors").string();
  testing::make_people_dir(work_.path() / "people",
                           {{"barack_obama", kExamples + "/barack_obama/obama.jpg"},
                            {"barack_obama", kExamples + "/barack_obama/obama1.jpg"},
                            {"joe_biden", kExamples + "/joe_biden/biden.jpg"}});
  const auto enrolled = cli({"enroll", gallery_, (work_.path() / "people").string(), "--embedder",
                             model, "--json"});
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.err;
  EXPECT_EQ(nlohmann::json::parse(enrolled.out)["faces"], 3);
  const auto identified = cli({"identify", gallery_, "--embedder", model, "--json",
                               shared_path(kExamples + "/_group/obama_and_biden.jpg").string()});
  ASSERT_EQ(identified.exit_code, 0) << identified.err;
  const auto lines = json_lines(identified.out);
  ASSERT_GE(lines.size(), 2u);
  for (const auto& line : lines) {
    EXPECT_TRUE(line.contains("label"));
    EXPECT_LE(line["neighbours"].size(), 5u);
  }
  // A prompt classifier fine-tuned on the same base names the faces instead of the vote.
  testing::make_people_dir(work_.path() / "train",
                           {{"barack_obama", kExamples + "/barack_obama/obama.jpg"},
                            {"barack_obama", kExamples + "/barack_obama/obama1.jpg"},
                            {"kit_harington", kExamples + "/kit_harington/john1.jpeg"},
                            {"kit_harington", kExamples + "/kit_harington/john2.jpeg"}});
  const std::string classifier = (work_.path() / "people.safetensors").string();
  const auto trained =
      cli({"finetune", (work_.path() / "train").string(), "--model",
           shared_path("fixtures/clip/vit-tiny.safetensors").string(), "--out", classifier,
           "--epochs", "1"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const auto classified = cli({"identify", gallery_, "--embedder", model, "--json", "--classifier",
                               classifier, "--min-confidence", "0",
                               shared_path(kExamples + "/_group/kit_with_rose.jpg").string()});
  ASSERT_EQ(classified.exit_code, 0) << classified.err;
  for (const auto& line : json_lines(classified.out)) {
    const std::string label = line["label"];
    EXPECT_TRUE(label == "barack_obama" || label == "kit_harington") << label;
  }
  // The gallery knows its model: the dlib embedder is refused.
  expect_clean_failure(cli({"identify", gallery_, "--embedder", "dlib",
                            shared_path(kExamples + "/joe_biden/biden.jpg").string()}),
                       "model");
}

}  // namespace
}  // namespace clipface
