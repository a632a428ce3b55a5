// `clipface tokenize` end to end: the real binary, the real vocabulary, openai/CLIP's ids.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "support/test_env.hpp"

namespace clipface {
namespace {

using ::clipface::testing::run_cli;
using ::clipface::testing::shared_dir;
using ::clipface::testing::shared_path;
using ::clipface::testing::TempDir;

constexpr const char* kVocab = "models/clip/bpe_simple_vocab_16e6.txt.gz";
constexpr const char* kCases = "fixtures/clip/tokenizer_cases.json";

nlohmann::json first_case() {
  std::ifstream in(shared_path(kCases));
  return nlohmann::json::parse(in).at("cases").at(0);
}

// An empty CLIPFACE_HOME, so the vocabulary must come from $CLIPFACE_SHARED/models/clip.
std::vector<std::string> env_with_shared(const TempDir& home) {
  return {"CLIPFACE_HOME=" + home.path().string(), "CLIPFACE_SHARED=" + shared_dir().string()};
}

TEST(CmdTokenize, JsonGivesTheReferenceIds) {
  CLIPFACE_REQUIRE_SHARED(kVocab);
  CLIPFACE_REQUIRE_SHARED(kCases);
  const auto expected = first_case();
  TempDir home;
  const auto result =
      run_cli({"tokenize", "--json", expected.at("text").get<std::string>(), "a second text"},
              env_with_shared(home));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::istringstream lines(result.out);
  std::string line;
  std::vector<nlohmann::json> objects;
  while (std::getline(lines, line)) objects.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(objects.size(), 2u) << result.out;
  EXPECT_EQ(objects[0].at("tokens"), expected.at("tokens"));
  EXPECT_EQ(objects[0].at("bpe"), expected.at("bpe"));
  EXPECT_EQ(objects[0].at("length"), expected.at("length"));
  EXPECT_EQ(objects[0].at("eot_index"), expected.at("eot_index"));
  EXPECT_EQ(objects[1].at("text"), "a second text");
}

TEST(CmdTokenize, TextOutputListsIdsAndContextOption) {
  CLIPFACE_REQUIRE_SHARED(kVocab);
  CLIPFACE_REQUIRE_SHARED(kCases);
  const auto expected = first_case();
  TempDir home;
  const auto result =
      run_cli({"tokenize", expected.at("text").get<std::string>()}, env_with_shared(home));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string ids;
  for (int i = 0; i < expected.at("length").get<int>(); ++i) {
    if (i > 0) ids += ' ';
    ids += std::to_string(expected.at("tokens").at(i).get<int>());
  }
  EXPECT_NE(result.out.find(ids), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("barack</w> obama</w>"), std::string::npos) << result.out;

  const auto short_result =
      run_cli({"tokenize", "--json", "--context", "4", expected.at("text").get<std::string>()},
              env_with_shared(home));
  ASSERT_EQ(short_result.exit_code, 0) << short_result.err;
  const auto object = nlohmann::json::parse(short_result.out);
  ASSERT_EQ(object.at("tokens").size(), 4u);
  EXPECT_EQ(object.at("tokens").at(3), 49407);
  EXPECT_EQ(object.at("truncated"), true);
}

TEST(CmdTokenize, BadOptionsFail) {
  TempDir home;
  const auto env = env_with_shared(home);
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"tokenize", "--bogus", "text"},
                                             {"tokenize", "--context", "0", "text"},
                                             {"tokenize", "--context", "many", "text"},
                                             {"tokenize"}}) {
    const auto result = run_cli(args, env);
    EXPECT_NE(result.exit_code, 0) << args.at(1);
    EXPECT_FALSE(result.err.empty()) << args.at(1);
  }
}

TEST(CmdTokenize, MissingVocabularyIsOneLineNamingIt) {
  TempDir home;
  TempDir empty_shared;
  const auto result = run_cli(
      {"tokenize", "hello"},
      {"CLIPFACE_HOME=" + home.path().string(), "CLIPFACE_SHARED=" + empty_shared.path().string()});
  EXPECT_EQ(result.exit_code, 4);  // ModelError
  EXPECT_NE(result.err.find("bpe_simple_vocab_16e6.txt.gz"), std::string::npos) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_TRUE(result.out.empty());
}

}  // namespace
}  // namespace clipface
