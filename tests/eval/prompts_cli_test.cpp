// `clipface eval openset --classifier prompts` and `clipface eval prompts` end to end on a few real
// photos (the tiny fixture model or random weights: the runs test the machinery, the figures mean
// nothing), the random-weights label, and bad input: one line on stderr and a non-zero exit.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "clipface/eval/dataset.hpp"
#include "support/test_env.hpp"

namespace clipface::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kFiveCelebrity = "data/faces/named/five_celebrity";

std::vector<std::string> env() {
  return {"CLIPFACE_SHARED=" + shared_dir().string()};
}
std::string vit_tiny() {
  return "clip:" + shared_path("fixtures/clip/vit-tiny.safetensors").string();
}

const fs::path& shared_cache() {
  static TempDir dir;
  return dir.path();
}

std::size_t line_count(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

class PromptsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* needed : {kFiveCelebrity, "fixtures/clip/vit-tiny.safetensors",
                               "models/clip/bpe_simple_vocab_16e6.txt.gz",
                               "models/yunet/face_detection_yunet_2022mar.onnx"}) {
      if (!fs::exists(shared_path(needed))) GTEST_SKIP() << "shared data missing: " << needed;
    }
  }
  // `eval PROTOCOL` over the first three people with quick training, plus `extra`.
  static CommandResult eval(const std::string& protocol, std::vector<std::string> extra) {
    std::vector<std::string> args{
        "eval",
        protocol,
        shared_path(kFiveCelebrity).string(),
        "--max-people",
        "3",
        "--epochs",
        "1",
        "--lr",
        "1e-3",
        "--detector-model",
        shared_path("models/yunet/face_detection_yunet_2022mar.onnx").string(),
        "--cache",
        shared_cache().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args, env());
  }
};

TEST_F(PromptsCli, StudyComparesTemplatesAndLossesOnTheOpenSetSplit) {
  const CommandResult study = eval("prompts", {"--embedder", vit_tiny(), "--loss", "ce", "arcface",
                                               "--template", "a photo of {}", "--json"});
  ASSERT_EQ(study.exit_code, 0) << study.err;
  const json j = json::parse(study.out);
  EXPECT_EQ(j["protocol"], "prompts");
  const auto& rows = j["rows"];
  ASSERT_EQ(rows.size(), 4u * 2u);  // the paper's three templates + one, times two losses
  EXPECT_EQ(rows[0]["template"], "This is the image of a person named {}");
  EXPECT_EQ(rows[0]["loss"], "ce");
  EXPECT_EQ(rows[1]["loss"], "arcface");
  EXPECT_EQ(rows[2]["template"], "This is the image of {}");
  EXPECT_EQ(rows[7]["template"], "a photo of {}");
  EXPECT_EQ(j["known_people"].size(), 2u);
  for (const auto& row : rows) {
    EXPECT_EQ(row["open_set"]["genuine"], j["genuine"]);
    EXPECT_EQ(row["open_set"]["impostor"], j["impostor"]);
    EXPECT_GT(row["open_set"]["impostor"].get<int>(), 0);
    EXPECT_TRUE(row.contains("train_accuracy"));
  }
  // The same variant on the same split from the same base gives the same numbers: each row
  // starts from the base weights, not from the previous row's.
  const CommandResult again =
      eval("prompts", {"--embedder", vit_tiny(), "--only-given", "--template",
                       "This is the image of a person named {}", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const json first = json::parse(again.out)["rows"][0];
  EXPECT_EQ(first["train_accuracy"], rows[0]["train_accuracy"]);
  EXPECT_EQ(first["open_set"], rows[0]["open_set"]);
  // The table: one line per variant with the open-set columns.
  const CommandResult table = eval("prompts", {"--embedder", vit_tiny(), "--loss", "triplet"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("FNR"), std::string::npos) << table.out;
  std::size_t variant_lines = 0;
  for (std::size_t at = table.out.find("\n\""); at != std::string::npos;
       at = table.out.find("\n\"", at + 1)) {
    ++variant_lines;
  }
  EXPECT_EQ(variant_lines, 3u) << table.out;  // one per template of the paper, loss triplet
  EXPECT_NE(table.out.find("\n\"{}\" "), std::string::npos) << table.out;
}

TEST_F(PromptsCli, RandomWeightsAreLabelledInJsonAndReport) {
  // Three people with four photos each keep the full-size random model quick.
  TempDir people;
  std::vector<std::pair<std::string, std::string>> links;
  for (const char* person : {"ben_afflek", "elton_john", "madonna"}) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(shared_path(kFiveCelebrity) / person))
      files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (std::size_t i = 0; i < 4; ++i) {
      links.push_back({person, fs::relative(files[i], shared_dir()).string()});
    }
  }
  make_people_dir(people.path(), links);
  TempDir report;
  const CommandResult r = run_cli(
      {"eval", "openset", people.path().string(), "--classifier", "prompts", "--embedder",
       "clip-random:ViT-B-32", "--epochs", "1", "--report", report.path().string(), "--json"},
      env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["warning"], eval::kRandomWeightsWarning);
  EXPECT_TRUE(j["training"].contains("train_accuracy"));
  EXPECT_NE(read_text(report / "index.html").find("RANDOM WEIGHTS"), std::string::npos);
  EXPECT_NE(read_text(report / "index.html").find("training accuracy"), std::string::npos);
  EXPECT_TRUE(fs::exists(report / "training.png"));
}

void expect_one_line_failure(const CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST_F(PromptsCli, BadInputGivesOneLineAndNonZeroExit) {
  expect_one_line_failure(eval("openset", {"--classifier", "prompts", "--embedder", "dlib"}),
                          "give a CLIP embedder");
  expect_one_line_failure(eval("prompts", {"--embedder", "dlib"}), "give a CLIP embedder");
  expect_one_line_failure(eval("openset", {"--classifier", "nearest"}),
                          "unknown classifier 'nearest'");
  expect_one_line_failure(eval("openset", {"--classifier", "prompts", "--embedder", vit_tiny(),
                                           "--loss", "ce", "triplet"}),
                          "eval prompts compares several");
  expect_one_line_failure(eval("prompts", {"--embedder", vit_tiny(), "--template", "who? {nme}"}),
                          "{nme}");
  // A single person: nothing to contrast.
  TempDir one;
  fs::create_directories(one / "solo");
  for (const auto& e : fs::directory_iterator(shared_path(kFiveCelebrity) / "madonna"))
    fs::create_symlink(e.path(), one / "solo" / e.path().filename());
  const CommandResult single =
      run_cli({"eval", "openset", one.path().string(), "--classifier", "prompts", "--embedder",
               vit_tiny(), "--cache", shared_cache().string()},
              env());
  expect_one_line_failure(single, "at least two enrolled people");
}

}  // namespace
}  // namespace clipface::testing
