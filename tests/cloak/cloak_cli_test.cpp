// clipface cloak and eval cloak from the command line: results on stdout, one line per skip on
// stderr, the documented exit codes, and nothing written half-way.
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "clipface/image.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {

namespace fs = std::filesystem;
using testing::run_cli;
using testing::shared_path;

const char* kModels = "models/dlib";
const std::string kPhoto = "data/faces/lfw-view1/Colin_Powell/Colin_Powell_0038.jpg";

#define REQUIRE_DATA()                     \
  CLIPFACE_REQUIRE_SHARED(kModels);        \
  CLIPFACE_REQUIRE_SHARED("models/yunet"); \
  CLIPFACE_REQUIRE_SHARED(kPhoto)

struct Cli {
  testing::TempDir tmp;
  std::string home = testing::make_models_home(tmp / "home");

  testing::CommandResult run(std::vector<std::string> args) {
    if (args[0] == "cloak" || (args.size() > 1 && args[1] == "cloak")) {
      args.insert(args.end(), {"--threads", "1"});  // ctest runs tests side by side
    }
    return run_cli(args, {home});
  }
  std::size_t files_in(const fs::path& dir) {
    if (!fs::exists(dir)) return 0;
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), {}));
  }
};

TEST(CloakCli, CloaksAPhotoUnderItsNameAndReportsTheBudget) {
  REQUIRE_DATA();
  Cli cli;
  const auto r = cli.run({"cloak", shared_path(kPhoto).string(), "--out",
                          (cli.tmp / "out").string(), "--method", "lowkey", "--level", "low",
                          "--steps", "3", "--jpeg", "90", "--json", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["output"], (cli.tmp / "out" / "Colin_Powell_0038.png").string());
  EXPECT_LE(j["linf"].get<int>(), 4);
  EXPECT_GT(j["linf"].get<int>(), 0);
  EXPECT_EQ(cli.files_in(cli.tmp / "out"), 2u);  // .png and .jpg, no temporaries left
  const cv::Mat before = load_image(shared_path(kPhoto));
  const cv::Mat after = load_image(cli.tmp / "out" / "Colin_Powell_0038.png");
  EXPECT_LE(cv::norm(before, after, cv::NORM_INF), 4.0);
  EXPECT_TRUE(fs::exists(cli.tmp / "out" / "Colin_Powell_0038.jpg"));
}

TEST(CloakCli, SkipsAnImageWithoutAFaceWithAPartialExitCode) {
  REQUIRE_DATA();
  Cli cli;
  const fs::path grey = cli.tmp / "wall.png";
  cv::imwrite(grey.string(), cv::Mat(240, 240, CV_8UC3, cv::Scalar(120, 130, 140)));
  const auto r =
      cli.run({"cloak", shared_path(kPhoto).string(), grey.string(), "--out",
               (cli.tmp / "out").string(), "--method", "lowkey", "--steps", "1", "--quiet"});
  EXPECT_EQ(r.exit_code, 7) << r.err;  // the CLI's partial code (README, "Exit codes")
  EXPECT_NE(r.err.find("clipface: skipped " + grey.string() + ": no face found"), std::string::npos)
      << r.err;
  EXPECT_EQ(cli.files_in(cli.tmp / "out"), 1u);
  EXPECT_NE(r.out.find("Colin_Powell_0038.png"), std::string::npos);
}

TEST(CloakCli, StrictWritesNothingWhenAnInputIsSkipped) {
  REQUIRE_DATA();
  Cli cli;
  const fs::path grey = cli.tmp / "wall.png";
  cv::imwrite(grey.string(), cv::Mat(240, 240, CV_8UC3, cv::Scalar(120, 130, 140)));
  const auto r = cli.run({"cloak", shared_path(kPhoto).string(), grey.string(), "--out",
                          (cli.tmp / "out").string(), "--method", "lowkey", "--steps", "1",
                          "--strict", "--quiet"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("nothing was written"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("clipface: skipped " + grey.string() + ": no face found"), std::string::npos)
      << r.err;
  EXPECT_EQ(cli.files_in(cli.tmp / "out"), 0u);
  EXPECT_TRUE(r.out.empty());
}

TEST(CloakCli, RefusesAFaceTooSmallForTheBudget) {
  REQUIRE_DATA();
  Cli cli;
  // The photo shrunk so the face is about 25 px: YuNet still finds it, the budget cannot hold.
  cv::Mat small;
  cv::resize(load_image(shared_path(kPhoto)), small, cv::Size(64, 64), 0, 0, cv::INTER_AREA);
  cv::Mat canvas(240, 240, CV_8UC3, cv::Scalar(90, 90, 90));
  small.copyTo(canvas(cv::Rect(88, 88, 64, 64)));
  const fs::path file = cli.tmp / "far.png";
  cv::imwrite(file.string(), canvas);
  const auto r = cli.run({"cloak", file.string(), "--out", (cli.tmp / "out").string(), "--method",
                          "lowkey", "--quiet"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.err.find("face too small") != std::string::npos ||
              r.err.find("no face found") != std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("clipface: skipped " + file.string()), std::string::npos);
  EXPECT_EQ(cli.files_in(cli.tmp / "out"), 0u);
}

TEST(CloakCli, UnknownMethodLevelOrModelFailsBeforeAnyWork) {
  REQUIRE_DATA();
  Cli cli;
  const std::string out = (cli.tmp / "out").string();
  const std::string photo = shared_path(kPhoto).string();
  struct Case {
    std::vector<std::string> extra;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--method", "glaze"}, "unknown cloak method 'glaze'"},
      {{"--level", "ultra"}, "unknown cloak level 'ultra'"},
      {{"--method", "lowkey", "--models", "dlib,arcface"}, "unknown model 'arcface'"},
      {{"--method", "fawkes"}, "fawkes needs --targets DIR"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"cloak", photo, "--out", out, "--quiet"};
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    const auto r = cli.run(args);
    EXPECT_EQ(r.exit_code, 2) << c.message << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_EQ(cli.files_in(out), 0u);
  }
  const auto unreadable = cli.run(
      {"cloak", (cli.tmp / "missing.jpg").string(), "--out", out, "--method", "lowkey", "--quiet"});
  EXPECT_EQ(unreadable.exit_code, 3) << unreadable.err;
}

TEST(CloakCli, EvalCloakRefusesAFolderWithTooFewPeople) {
  REQUIRE_DATA();
  Cli cli;
  testing::make_people_dir(cli.tmp / "people", {{"Colin_Powell", kPhoto}});
  const auto r = cli.run({"eval", "cloak", (cli.tmp / "people").string(), "--output",
                          (cli.tmp / "out").string(), "--no-cache", "--quiet"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("at least 2 people"), std::string::npos) << r.err;
  const auto bad = cli.run({"eval", "cloak", (cli.tmp / "people").string(), "--methods", "glaze"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("unknown cloak method"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace clipface
