// `clipface detect` end to end: JSON output, saved crops, and one clear line for bad input.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "support/test_env.hpp"

namespace clipface {
namespace {

using testing::run_cli;
using testing::shared_path;

const char* kGroup = "data/faces/named/face_recognition_examples/_group/two_people.jpg";

std::vector<std::string> with_model_home(const testing::TempDir& home) {
  // The CLI finds models by name under $CLIPFACE_HOME/models: point it at the shared files.
  std::filesystem::create_directories(home / "models");
  for (const char* file :
       {"yunet/face_detection_yunet_2022mar.onnx", "scrfd/scrfd_500m_kps.onnx"}) {
    const auto target = shared_path(std::string("models/") + file);
    std::filesystem::create_symlink(target, home / "models" / target.filename());
  }
  return {"CLIPFACE_HOME=" + home.path().string()};
}

TEST(CmdDetect, JsonFacesAndSavedCrops) {
  CLIPFACE_REQUIRE_SHARED(kGroup);
  CLIPFACE_REQUIRE_SHARED("models/yunet/face_detection_yunet_2022mar.onnx");
  CLIPFACE_REQUIRE_SHARED("models/scrfd/scrfd_500m_kps.onnx");
  testing::TempDir home;
  const auto env = with_model_home(home);
  for (const std::string detector : {"yunet", "scrfd"}) {
    const auto crops = home / ("crops-" + detector);
    const auto result =
        run_cli({"detect", shared_path(kGroup).string(), "--json", "--detector", detector,
                 "--save-crops", crops.string(), "--crop-style", "tight", "--crop-size", "112"},
                env);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const auto out = nlohmann::json::parse(result.out);
    EXPECT_EQ(out["width"], 1126);
    ASSERT_EQ(out["faces"].size(), 2u) << result.out;
    for (const auto& face : out["faces"]) {
      EXPECT_EQ(face["landmarks"].size(), 5u);
      EXPECT_GT(face["score"].get<float>(), 0.6f);
      EXPECT_TRUE(std::filesystem::exists(face["crop"].get<std::string>()));
    }
    EXPECT_TRUE(std::filesystem::exists(crops / "two_people_face1.png"));
  }
}

TEST(CmdDetect, BadInputGivesOneLineAndNonZeroExit) {
  CLIPFACE_REQUIRE_SHARED("models/yunet/face_detection_yunet_2022mar.onnx");
  testing::TempDir home;
  const auto env = with_model_home(home);
  const auto missing = run_cli({"detect", (home / "nothing.jpg").string()}, env);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("nothing.jpg"), std::string::npos) << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;

  // No models at all: the error names the model file.
  testing::TempDir empty_home;
  const auto no_model = run_cli({"detect", shared_path(kGroup).string()},
                                {"CLIPFACE_HOME=" + empty_home.path().string()});
  EXPECT_NE(no_model.exit_code, 0);
  EXPECT_NE(no_model.err.find("face_detection_yunet_2022mar.onnx"), std::string::npos)
      << no_model.err;

  const auto bad_style =
      run_cli({"detect", shared_path(kGroup).string(), "--crop-style", "wide"}, env);
  EXPECT_NE(bad_style.exit_code, 0);
}

}  // namespace
}  // namespace clipface
