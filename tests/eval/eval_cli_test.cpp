// `clipface eval` end to end: one-line errors, JSON output and the random-weights label.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "clipface/eval/protocols.hpp"
#include "support/test_env.hpp"

namespace clipface::eval {
namespace {

using clipface::testing::run_cli;
using clipface::testing::shared_path;
using clipface::testing::TempDir;

constexpr const char* kFiveCelebrity = "data/faces/named/five_celebrity";

// One embedding cache for the whole binary.
const std::filesystem::path& shared_cache() {
  static TempDir dir;
  return dir.path();
}

TEST(Cli, BadInputGivesOneLineAndNonZeroExit) {
  auto r = run_cli({"eval", "retrieval", "/no/such/folder"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/no/such/folder"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  TempDir tmp;
  r = run_cli({"eval", "verify", tmp.path().string(), "--pairs", (tmp / "missing.txt").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.txt"), std::string::npos) << r.err;
  r = run_cli({"eval", "frobnicate", "x"});
  EXPECT_NE(r.exit_code, 0);
}

TEST(Cli, RetrievalPrintsJsonWithTheEmbedder) {
  CLIPFACE_REQUIRE_SHARED(kFiveCelebrity);
  const auto r = run_cli({"eval", "retrieval", shared_path(kFiveCelebrity).string(), "--json",
                          "--max-people", "2", "--cache", shared_cache().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["protocol"], "retrieval");
  EXPECT_EQ(j["identities"], 2);
  EXPECT_EQ(j["embedder"]["spec"], "dlib");
  EXPECT_FALSE(j.contains("warning"));
}

TEST(Cli, RandomWeightsAreLabelledEverywhere) {
  CLIPFACE_REQUIRE_SHARED(kFiveCelebrity);
  TempDir report;
  const auto r = run_cli({"eval", "compare", "retrieval", shared_path(kFiveCelebrity).string(),
                          "--embedder", "clip-random:ViT-B-32", "--max-people", "2", "--report",
                          report.path().string(), "--no-cache"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(kRandomWeightsWarning), std::string::npos) << r.out;
  bool found_html = false;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(report.path())) {
    if (entry.path().filename() == "index.html") {
      found_html = true;
      EXPECT_NE(clipface::testing::read_text(entry.path()).find("RANDOM WEIGHTS"),
                std::string::npos);
    }
  }
  EXPECT_TRUE(found_html);
}

TEST(Cli, GridTakesAThresholdRange) {
  CLIPFACE_REQUIRE_SHARED(kFiveCelebrity);
  TempDir out;
  const auto r = run_cli({"eval", "grid", shared_path(kFiveCelebrity).string(), "--max-people",
                          "3", "--thresholds", "0.30", "0.40", "0.05", "--output",
                          out.path().string(), "--cache", shared_cache().string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 45 (k1 < k2) pairs x thresholds 0.30, 0.35, 0.40, plus the header.
  const std::string csv = clipface::testing::read_text(out / "grid_search_results.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 45 * 3);
  EXPECT_NE(csv.find(",0.35,"), std::string::npos);
  EXPECT_EQ(csv.find(",0.50,"), std::string::npos);

  const auto bad = run_cli({"eval", "grid", shared_path(kFiveCelebrity).string(), "--thresholds",
                            "0.6", "0.4", "0.01", "--output", out.path().string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("MIN MAX STEP"), std::string::npos) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
}

}  // namespace
}  // namespace clipface::eval
