// `clipface models list | pull | verify` as a user runs them, with CLIPFACE_HOME in a temp folder
// and downloads from a local server named by CLIPFACE_MODEL_BASE_URL or --url.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "clipface/checksum.hpp"
#include "clipface/models.hpp"
#include "models/http_test_server.hpp"
#include "support/test_env.hpp"

namespace clipface::models {
namespace {

namespace fs = std::filesystem;
using testing::LocalHttpServer;
using testing::run_cli;
using testing::TempDir;

const char* kYunet = "models/yunet/face_detection_yunet_2022mar.onnx";

int count_lines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

class ModelsCli : public ::testing::Test {
 protected:
  TempDir home;
  std::string home_env() const { return "CLIPFACE_HOME=" + home.path().string(); }
};

TEST_F(ModelsCli, ListShowsEveryModelWithItsSum) {
  const auto result = run_cli({"models", "list"}, {home_env()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::istringstream lines(result.out);
  std::string line, vit_line;
  while (std::getline(lines, line)) {
    if (line.find("ViT-B-32.pt") != std::string::npos) vit_line = line;
  }
  EXPECT_NE(vit_line.find("ViT-B/32"), std::string::npos) << result.out;
  EXPECT_NE(vit_line.find(std::string(lookup("ViT-B-32").sha256)), std::string::npos) << vit_line;
  for (const auto& entry : registry()) {
    EXPECT_NE(result.out.find(std::string(entry.sha256)), std::string::npos) << entry.name;
  }
}

TEST_F(ModelsCli, ListJsonParsesAndShowsWhatIsInstalled) {
  CLIPFACE_REQUIRE_SHARED(kYunet);
  fs::create_directories(home / "models");
  fs::copy_file(testing::shared_path(kYunet), home / "models/face_detection_yunet_2022mar.onnx");
  const auto result = run_cli({"models", "list", "--json"}, {home_env()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto all = nlohmann::json::parse(result.out);
  ASSERT_EQ(all.size(), registry().size());
  int found = 0;
  for (const auto& model : all) {
    if (model.at("name") == "ViT-B/32") {
      EXPECT_EQ(model.at("sha256"), lookup("ViT-B/32").sha256);
      EXPECT_EQ(model.at("file"), "ViT-B-32.pt");
      EXPECT_FALSE(model.at("installed").get<bool>());
      ++found;
    }
    if (model.at("name") == "yunet-2022mar") {
      EXPECT_TRUE(model.at("installed").get<bool>());
      ++found;
    }
  }
  EXPECT_EQ(found, 2);
}

TEST_F(ModelsCli, VerifyNamesTheMatchingModel) {
  CLIPFACE_REQUIRE_SHARED(kYunet);
  const std::string path = testing::shared_path(kYunet).string();
  const auto text = run_cli({"models", "verify", path}, {home_env()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("yunet-2022mar"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(sha256_file(path)), std::string::npos) << text.out;

  const auto json = run_cli({"models", "verify", "--json", path}, {home_env()});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto parsed = nlohmann::json::parse(json.out);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].at("match"), "yunet-2022mar");
  EXPECT_TRUE(parsed[0].at("ok").get<bool>());
}

TEST_F(ModelsCli, VerifyFailsOnDamagedOrMissingFiles) {
  std::ofstream(home / "RN50.pt") << "truncated download";
  const auto damaged = run_cli({"models", "verify", (home / "RN50.pt").string()}, {home_env()});
  EXPECT_EQ(damaged.exit_code, 4);
  EXPECT_EQ(count_lines(damaged.err), 1) << damaged.err;
  EXPECT_NE(damaged.err.find("RN50.pt"), std::string::npos) << damaged.err;

  const auto missing = run_cli({"models", "verify", (home / "nope.pt").string()}, {home_env()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(count_lines(missing.err), 1) << missing.err;
}

TEST_F(ModelsCli, PullDownloadsFromTheBaseUrlIntoClipfaceHome) {
  CLIPFACE_REQUIRE_SHARED(kYunet);
  LocalHttpServer server;
  server.add_file("face_detection_yunet_2022mar.onnx",
                  testing::read_text(testing::shared_path(kYunet)));
  const auto result = run_cli({"models", "pull", "yunet-2022mar"},
                              {home_env(), "CLIPFACE_MODEL_BASE_URL=" + server.base_url()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const fs::path expected = home / "models/face_detection_yunet_2022mar.onnx";
  EXPECT_EQ(result.out, expected.string() + "\n");
  EXPECT_EQ(sha256_file(expected), lookup("yunet-2022mar").sha256);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(ModelsCli, PullTakesAnExactUrl) {
  CLIPFACE_REQUIRE_SHARED(kYunet);
  LocalHttpServer server;
  server.add_file("elsewhere/yunet.onnx", testing::read_text(testing::shared_path(kYunet)));
  const auto result =
      run_cli({"models", "pull", "face_detection_yunet_2022mar", "--url",
               server.url("elsewhere/yunet.onnx"), "--dir", (home / "mine").string(), "--json"},
              {home_env()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto parsed = nlohmann::json::parse(result.out);
  EXPECT_EQ(parsed.at(0).at("path"), (home / "mine/face_detection_yunet_2022mar.onnx").string());
  EXPECT_TRUE(fs::exists(home / "mine/face_detection_yunet_2022mar.onnx"));
}

TEST_F(ModelsCli, PullRejectsACorruptedDownload) {
  CLIPFACE_REQUIRE_SHARED(kYunet);
  LocalHttpServer server;
  server.add_file("face_detection_yunet_2022mar.onnx",
                  testing::read_text(testing::shared_path(kYunet)));
  server.set_corrupt(true);
  const auto result = run_cli({"models", "pull", "yunet-2022mar"},
                              {home_env(), "CLIPFACE_MODEL_BASE_URL=" + server.base_url()});
  EXPECT_EQ(result.exit_code, 6);
  EXPECT_EQ(count_lines(result.err), 1) << result.err;
  EXPECT_NE(result.err.find("checksum mismatch"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(home / "models/face_detection_yunet_2022mar.onnx"));
  EXPECT_FALSE(fs::exists(home / "models/face_detection_yunet_2022mar.onnx.part"));
}

TEST_F(ModelsCli, PullOfAnUnknownNameFailsWithOneLine) {
  const auto result = run_cli({"models", "pull", "ViT-Z-99"}, {home_env()});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(count_lines(result.err), 1) << result.err;
  EXPECT_NE(result.err.find("ViT-Z-99"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("ViT-B/32"), std::string::npos) << result.err;
  EXPECT_TRUE(result.out.empty());
  EXPECT_FALSE(fs::exists(home / "models"));
}

}  // namespace
}  // namespace clipface::models
