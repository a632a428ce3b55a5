// The CLI's promise on bad input (README, "Exit codes"), tried as a user would: each skipped
// input is one line on stderr with its path and reason; the exit code says whether all, some or
// none of the inputs were used; --strict writes nothing unless all can be used; stdout carries
// only results; progress reaches a log file; boxes never leave the image.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <fstream>
#include <sstream>

#include "clipface/checksum.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::CommandResult;
using testing::shared_path;

const std::string kExamples = "data/faces/named/face_recognition_examples/";
constexpr int kPartial = 7;  // README: some inputs used, some skipped

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Lines of stderr that start with `prefix`.
std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  for (auto& line : lines_of(text)) {
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  }
  return out;
}

// Every stdout line must be a JSON document (what `| jq` needs).
std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> docs;
  for (const auto& line : lines_of(out)) {
    EXPECT_TRUE(nlohmann::json::accept(line)) << "not JSON on stdout: " << line;
    if (nlohmann::json::accept(line)) docs.push_back(nlohmann::json::parse(line));
  }
  return docs;
}

class CliContract : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SHARED(kExamples);
    CLIPFACE_REQUIRE_SHARED("models/dlib/dlib_face_recognition_resnet_model_v1.dat");
    env_ = {testing::make_models_home(home_.path())};
    empty_ = (work_.path() / "empty.jpg").string();
    std::ofstream(empty_).close();
    notes_ = (work_.path() / "notes.jpg").string();
    std::ofstream(notes_) << "shopping list: milk, eggs\n";
  }

  CommandResult cli(const std::vector<std::string>& args) { return testing::run_cli(args, env_); }
  std::string photo(const std::string& relative) {
    return shared_path(kExamples + relative).string();
  }
  std::string gallery(const std::string& name) { return (work_.path() / name).string(); }

  std::string db_sha(const std::string& g) { return sha256_file(fs::path(g) / "gallery.db"); }

  testing::TempDir home_, work_;
  std::vector<std::string> env_;
  std::string empty_, notes_;
};

TEST_F(CliContract, AddOfOnlyUnreadableFilesFailsWithCode3AndCreatesNoGallery) {
  const auto r = cli({"add", gallery("g"), "--person", "mallory", empty_, notes_});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  const auto skipped = lines_starting(r.err, "clipface: skipped ");
  ASSERT_EQ(skipped.size(), 2u) << r.err;
  EXPECT_NE(skipped[0].find(empty_), std::string::npos);
  EXPECT_NE(skipped[0].find("empty"), std::string::npos) << skipped[0];
  EXPECT_NE(skipped[1].find(notes_), std::string::npos);
  EXPECT_NE(skipped[1].find("not an image"), std::string::npos) << skipped[1];
  EXPECT_TRUE(r.out.empty()) << "a failed call prints no result: " << r.out;
  EXPECT_FALSE(fs::exists(gallery("g"))) << "a call that enrolls nothing must not create a gallery";
}

TEST_F(CliContract, AddOfOneEmptyFileIntoAGalleryIsOneLineAndLeavesItByteIdentical) {
  ASSERT_EQ(
      cli({"add", gallery("g"), "--person", "obama", photo("barack_obama/obama.jpg")}).exit_code,
      0);
  const std::string before = db_sha(gallery("g"));
  const auto r = cli({"add", gallery("g"), "--person", "mallory", empty_});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_EQ(db_sha(gallery("g")), before);
  const auto people = nlohmann::json::parse(cli({"people", gallery("g"), "list", "--json"}).out);
  ASSERT_EQ(people.size(), 1u);
  EXPECT_EQ(people[0]["name"], "obama");
}

TEST_F(CliContract, SomeSkippedIsThePartialCodeUnlessAllowedAndJsonListsThem) {
  const auto r = cli({"add", gallery("partial"), "--person", "obama",
                      photo("barack_obama/obama.jpg"), notes_, "--json"});
  EXPECT_EQ(r.exit_code, kPartial) << r.err;
  const auto docs = json_lines(r.out);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0]["faces"], 1);
  ASSERT_EQ(docs[0]["skipped"].size(), 1u);
  EXPECT_EQ(docs[0]["skipped"][0]["file"], notes_);
  EXPECT_EQ(docs[0]["skipped"][0]["code"], 3);
  EXPECT_EQ(lines_starting(r.err, "clipface: skipped " + notes_).size(), 1u) << r.err;

  const auto allowed = cli({"add", gallery("allowed"), "--person", "obama",
                            photo("barack_obama/obama.jpg"), notes_, "--allow-skips"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_EQ(lines_starting(allowed.err, "clipface: skipped ").size(), 1u);
}

TEST_F(CliContract, StrictWritesNothingWhenAnyInputIsSkipped) {
  ASSERT_EQ(
      cli({"add", gallery("g"), "--person", "obama", photo("barack_obama/obama.jpg")}).exit_code,
      0);
  const std::string before = db_sha(gallery("g"));
  // biden2.jpg shows two faces: bad data (2), listed with the unreadable file (3, the first).
  const auto r = cli({"add", gallery("g"), "--person", "joe", notes_, photo("joe_biden/biden.jpg"),
                      photo("joe_biden/biden2.jpg"), "--strict"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(lines_starting(r.err, "clipface: skipped ").size(), 2u) << r.err;
  EXPECT_EQ(lines_starting(r.err, "clipface: error: ").size(), 1u) << r.err;
  EXPECT_EQ(db_sha(gallery("g")), before);

  const auto fresh = cli({"add", gallery("fresh"), "--person", "joe", photo("joe_biden/biden.jpg"),
                          photo("joe_biden/biden2.jpg"), "--strict"});
  EXPECT_EQ(fresh.exit_code, 2) << fresh.err;
  EXPECT_NE(fresh.err.find("2 faces"), std::string::npos) << fresh.err;
  EXPECT_FALSE(fs::exists(gallery("fresh")));
  // All usable: strict enrolls them in one go.
  EXPECT_EQ(cli({"add", gallery("g"), "--person", "joe", photo("joe_biden/biden.jpg"), "--strict"})
                .exit_code,
            0);
}

TEST_F(CliContract, EnrollOfAFolderWithATwoFacePhotoIsPartial) {
  testing::make_people_dir(work_.path() / "people",
                           {{"joe_biden", kExamples + "joe_biden/biden.jpg"},
                            {"joe_biden", kExamples + "joe_biden/biden2.jpg"}});
  const auto r = cli({"enroll", gallery("g"), (work_.path() / "people").string(), "--json"});
  EXPECT_EQ(r.exit_code, kPartial) << r.err;
  EXPECT_EQ(json_lines(r.out).size(), 1u);
  const auto skipped = lines_starting(r.err, "clipface: skipped ");
  ASSERT_EQ(skipped.size(), 1u) << r.err;
  EXPECT_NE(skipped[0].find("biden2.jpg: 2 faces"), std::string::npos) << skipped[0];
  // A rerun adds nothing new and skips nothing new: the enrolled photo counts as used.
  const auto again = cli({"enroll", gallery("g"), (work_.path() / "people").string(), "--json"});
  EXPECT_EQ(again.exit_code, kPartial);
  EXPECT_EQ(json_lines(again.out)[0]["already_enrolled"], 1);
}

TEST_F(CliContract, IdentifyDetectAndEmbedSkipUnreadableImagesTheSameWay) {
  ASSERT_EQ(
      cli({"add", gallery("g"), "--person", "obama", photo("barack_obama/obama.jpg")}).exit_code,
      0);
  const auto identify =
      cli({"identify", gallery("g"), photo("barack_obama/obama2.jpg"), empty_, "--json"});
  EXPECT_EQ(identify.exit_code, kPartial) << identify.err;
  bool named = false, listed = false;
  for (const auto& doc : json_lines(identify.out)) {
    named |= doc.value("label", "") == "obama";
    listed |= doc.value("file", "") == empty_ && doc.contains("skipped") && doc["code"] == 3;
  }
  EXPECT_TRUE(named && listed) << identify.out;
  EXPECT_EQ(lines_starting(identify.err, "clipface: skipped " + empty_).size(), 1u) << identify.err;
  EXPECT_EQ(cli({"identify", gallery("g"), notes_}).exit_code, 3);
  EXPECT_EQ(cli({"identify", gallery("g"), photo("barack_obama/obama2.jpg"), notes_, "--strict"})
                .exit_code,
            3);

  const auto detect = cli({"detect", photo("barack_obama/obama.jpg"), notes_, "--json"});
  EXPECT_EQ(detect.exit_code, kPartial) << detect.err;
  EXPECT_EQ(json_lines(detect.out).size(), 2u);
  EXPECT_EQ(cli({"detect", notes_}).exit_code, 3);

  const auto strict =
      cli({"detect", photo("barack_obama/obama.jpg"), notes_, "--strict", "--json"});
  EXPECT_EQ(strict.exit_code, 3);
  EXPECT_TRUE(strict.out.empty()) << "--strict prints nothing when an input is bad: " << strict.out;

  const std::string model = shared_path("fixtures/clip/vit-tiny.safetensors").string();
  if (!fs::exists(model)) GTEST_SKIP() << "shared data missing: " << model;
  const auto embed = cli(
      {"embed", "--model", model, "--image", photo("barack_obama/obama.jpg"), empty_, "--json"});
  EXPECT_EQ(embed.exit_code, kPartial) << embed.err;
  const auto docs = json_lines(embed.out);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0]["image_embeddings"].size(), 1u);
  EXPECT_EQ(docs[0]["images"][0], photo("barack_obama/obama.jpg"));
  EXPECT_EQ(docs[0]["skipped"][0]["file"], empty_);
  EXPECT_EQ(cli({"embed", "--model", model, "--image", empty_}).exit_code, 3);
}

TEST_F(CliContract, ProgressReachesALogFileAndQuietSilencesIt) {
  testing::make_people_dir(work_.path() / "people",
                           {{"obama", kExamples + "barack_obama/obama.jpg"},
                            {"obama", kExamples + "barack_obama/obama1.jpg"},
                            {"kit", kExamples + "kit_harington/john1.jpeg"}});
  // run_cli sends stderr to a file: not a terminal, so progress comes as plain lines (here one
  // per image instead of one every 5 seconds).
  env_.push_back("CLIPFACE_PROGRESS_SECONDS=0");
  const auto r = cli({"enroll", gallery("g"), (work_.path() / "people").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto progress = lines_starting(r.err, "clipface: enrolling ");
  ASSERT_GE(progress.size(), 2u) << r.err;
  EXPECT_NE(progress.front().find("/3 ("), std::string::npos) << progress.front();
  EXPECT_NE(progress.front().find("/s"), std::string::npos) << progress.front();
  EXPECT_NE(progress.back().find("3/3 (100%)"), std::string::npos) << progress.back();
  EXPECT_NE(progress.back().find("done in"), std::string::npos) << progress.back();
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << "no terminal redraws in a log";
  EXPECT_EQ(json_lines(r.out).size(), 1u) << "progress never reaches stdout";

  const auto eval = cli({"eval", "retrieval", (work_.path() / "people").string(), "--no-cache"});
  EXPECT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_FALSE(lines_starting(eval.err, "clipface: embedding ").empty()) << eval.err;

  const auto quiet = cli({"enroll", gallery("q"), (work_.path() / "people").string(), "--quiet"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_TRUE(quiet.err.empty()) << quiet.err;
}

TEST_F(CliContract, JsonOutputStaysPipeableWithVerboseLogs) {
  ASSERT_EQ(
      cli({"add", gallery("g"), "--person", "obama", photo("barack_obama/obama.jpg")}).exit_code,
      0);
  fs::remove(fs::path(gallery("g")) / "index.faiss");  // the rebuild is logged with -v
  const auto r = cli({"-v", "identify", gallery("g"), photo("barack_obama/obama1.jpg"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(json_lines(r.out).empty());
  EXPECT_FALSE(lines_starting(r.err, "clipface: info: ").empty()) << r.err;
}

TEST_F(CliContract, BadArgumentsAreExitCode2WithOneLine) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"enroll"},
                                               {"identify", "g", "x.jpg", "--k1", "abc"},
                                               {},
                                               {"nope"}}) {
    const auto r = cli(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    ASSERT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("clipface: error: ", 0), 0u) << r.err;
  }
}

TEST_F(CliContract, BoxesAreClippedToTheImageWithTheDetectorsBoxKept) {
  const std::string partial = photo("barack_obama/obama_partial_face.jpg");
  const auto r = cli({"detect", partial, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = json_lines(r.out).at(0);
  const int width = doc["width"], height = doc["height"];
  ASSERT_FALSE(doc["faces"].empty());
  bool raw_outside = false;
  for (const auto& face : doc["faces"]) {
    const auto& b = face["box"];
    EXPECT_GE(b[0].get<float>(), 0.f);
    EXPECT_GE(b[1].get<float>(), 0.f);
    EXPECT_LE(b[0].get<float>() + b[2].get<float>(), width + 1e-3f);
    EXPECT_LE(b[1].get<float>() + b[3].get<float>(), height + 1e-3f);
    raw_outside |= face["box_raw"][0].get<float>() < 0;
  }
  EXPECT_TRUE(raw_outside) << "the test photo's face is cut by the left edge: " << doc.dump();

  // The table shows the clipped box too.
  const auto table = cli({"detect", partial});
  EXPECT_NE(table.out.find(" box 0,"), std::string::npos) << table.out;

  // Annotated: the box's left edge is drawn on the image's first columns, not off the image.
  ASSERT_EQ(
      cli({"add", gallery("g"), "--person", "obama", photo("barack_obama/obama.jpg")}).exit_code,
      0);
  const fs::path annotated = work_.path() / "annotated";
  const auto id =
      cli({"identify", gallery("g"), partial, "--json", "--annotate", annotated.string()});
  ASSERT_EQ(id.exit_code, 0) << id.err;
  const auto face = json_lines(id.out).at(0);
  const cv::Mat picture = cv::imread((annotated / "obama_partial_face.jpg").string());
  const cv::Mat original = cv::imread(partial);
  ASSERT_FALSE(picture.empty());
  const int mid_y = static_cast<int>(face["box"][1].get<float>() + face["box"][3].get<float>() / 2);
  int change = 0;
  for (int x = 0; x < 2; ++x) {
    const cv::Vec3b drawn = picture.at<cv::Vec3b>(mid_y, x),
                    before = original.at<cv::Vec3b>(mid_y, x);
    change = std::max(change, std::abs(drawn[0] - before[0]) + std::abs(drawn[1] - before[1]) +
                                  std::abs(drawn[2] - before[2]));
  }
  EXPECT_GT(change, 60) << "no box edge drawn at the image's left border";
}

}  // namespace
}  // namespace clipface
