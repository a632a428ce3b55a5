// clipface doctor GALLERY: the report as JSON, text and an HTML page with crops; exit 1 when it
// finds problems (a vector from another model), 0 otherwise; bad input in one line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "health/tamper.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::shared_path;

const std::string kExamples = "data/faces/named/face_recognition_examples";

TEST(DoctorCli, ReportsFindingsWithFixesAsJsonTextAndHtml) {
  CLIPFACE_REQUIRE_SHARED(kExamples);
  CLIPFACE_REQUIRE_SHARED("models/dlib/dlib_face_recognition_resnet_model_v1.dat");
  testing::TempDir work;
  const testing::Cli cli;
  // Rose's photo filed under Kit.
  testing::make_people_dir(work.path() / "people",
                           {{"kit_harington", kExamples + "/kit_harington/john1.jpeg"},
                            {"kit_harington", kExamples + "/kit_harington/john2.jpeg"},
                            {"kit_harington", kExamples + "/kit_harington/johnsnow_test1.jpg"},
                            {"kit_harington", kExamples + "/rose_leslie/img1.jpg"},
                            {"rose_leslie", kExamples + "/rose_leslie/img2.jpg"}});
  const std::string gallery = (work.path() / "g").string();
  ASSERT_EQ(cli({"enroll", gallery, (work.path() / "people").string()}).exit_code, 0);

  const auto json = cli({"doctor", gallery, "--json", "--html", (work.path() / "html").string()});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto report = nlohmann::json::parse(json.out);
  EXPECT_EQ(report["problems"], 0);
  bool mislabelled = false;
  for (const auto& f : report["findings"]) {
    EXPECT_TRUE(f.contains("fix") && f.contains("faces") && f.contains("files"));
    if (f["kind"] == "mislabelled") {
      mislabelled = true;
      EXPECT_NE(f["fix"].get<std::string>().find("--to rose_leslie"), std::string::npos);
      EXPECT_NE(f["files"][0].get<std::string>().find("img1.jpg"), std::string::npos);
    }
  }
  EXPECT_TRUE(mislabelled) << json.out;
  EXPECT_TRUE(fs::exists(report["html"].get<std::string>()));

  const auto text = cli({"doctor", gallery});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("[warning] mislabelled"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("fix: clipface people"), std::string::npos);

  // A vector from elsewhere is a problem: exit 1.
  testing::overwrite_vector(fs::path(gallery) / "gallery.db", 1, 128, 3);
  const auto problem = cli({"doctor", gallery, "--json"});
  EXPECT_EQ(problem.exit_code, 1) << problem.err;
  EXPECT_GE(nlohmann::json::parse(problem.out)["problems"].get<int>(), 1);

  const auto missing = cli({"doctor", (work.path() / "nothing").string()});
  EXPECT_EQ(missing.exit_code, 5);
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
  EXPECT_EQ(cli({"doctor"}).exit_code, 2);
}

}  // namespace
}  // namespace clipface
