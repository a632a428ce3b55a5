// The CLI on real photos: unlabelled photos become clusters (one proposed as the person it looks
// like), clusters are named and then recognised, identify remembers what it met and reports
// quality, enrollment skips a blurred photo with the reason, and bad input (a cluster that does
// not exist, a merge into itself) fails with one line and an unchanged gallery.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <map>
#include <sstream>

#include "clipface/checksum.hpp"
#include "clipface/image.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::json_lines;
using testing::shared_path;

const std::string kExamples = "data/faces/named/face_recognition_examples";

// "#<id>" (built with += : GCC 12 warns about "#" + std::to_string(id), a known false alarm).
std::string cluster_arg(std::int64_t id) {
  std::string s = "#";
  s += std::to_string(id);
  return s;
}

int count_lines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

class ClusterCli : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SHARED(kExamples);
    CLIPFACE_REQUIRE_SHARED("models/dlib/dlib_face_recognition_resnet_model_v1.dat");
    gallery_ = (work_.path() / "gallery").string();
  }
  testing::CommandResult cli(const std::vector<std::string>& args) const { return run_(args); }
  std::string db_sha() { return sha256_file(fs::path(gallery_) / "gallery.db"); }
  void expect_clean_failure(const testing::CommandResult& r, int code, const std::string& needle) {
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }
  // Obama (named, two photos), and unlabelled photos: four more of him, Kit Harington's three,
  // Rose Leslie's two and Alex Lacamoire's three.
  void make_gallery() {
    ASSERT_EQ(cli({"add", gallery_, "--person", "barack_obama",
                   shared_path(kExamples + "/barack_obama/obama.jpg").string(),
                   shared_path(kExamples + "/barack_obama/obama2.jpg").string()})
                  .exit_code,
              0);
    testing::make_people_dir(work_.path() / "photos",
                             {{"a", kExamples + "/barack_obama/obama1.jpg"},
                              {"a", kExamples + "/barack_obama/obama3.jpg"},
                              {"a", kExamples + "/barack_obama/obama_partial_face.jpg"},
                              {"a", kExamples + "/barack_obama/obama_partial_face2.jpg"},
                              {"b", kExamples + "/kit_harington/john1.jpeg"},
                              {"b", kExamples + "/kit_harington/john2.jpeg"},
                              {"b", kExamples + "/kit_harington/johnsnow_test1.jpg"},
                              {"c", kExamples + "/rose_leslie/img1.jpg"},
                              {"c", kExamples + "/rose_leslie/img2.jpg"},
                              {"d", kExamples + "/alex_lacamoire/img1.jpg"},
                              {"d", kExamples + "/alex_lacamoire/alex_lacamoire1.jpg"},
                              {"d", kExamples + "/alex_lacamoire/alex-lacamoire.png"}});
    const auto added =
        cli({"add", gallery_, "--unlabelled", (work_.path() / "photos").string(), "--json"});
    ASSERT_EQ(added.exit_code, 0) << added.err;
    EXPECT_EQ(nlohmann::json::parse(added.out)["unlabelled_faces"], 12);
  }
  testing::Cli run_;
  testing::TempDir work_;
  std::string gallery_;
};

TEST_F(ClusterCli, UnlabelledPhotosBecomeClustersThatAreNamedAndRecognised) {
  make_gallery();
  const auto clustered = cli({"cluster", gallery_, "--json"});
  ASSERT_EQ(clustered.exit_code, 0) << clustered.err;
  const auto lines = json_lines(clustered.out);
  ASSERT_EQ(lines.size(), 12u);
  std::map<std::string, std::set<std::string>> clusters_of;  // folder -> clusters
  std::int64_t kit = 0, obama = 0;
  for (const auto& l : lines) {
    ASSERT_TRUE(l.contains("file") && l.contains("face") && l.contains("cluster"));
    EXPECT_EQ(l["face"], 0);
    const std::string folder = fs::path(l["file"].get<std::string>()).parent_path().filename();
    clusters_of[folder].insert(l["cluster"].dump());
    if (folder == "b") kit = l["cluster"].is_null() ? 0 : l["cluster"].get<std::int64_t>();
    if (folder == "a") {
      obama = l["cluster"].is_null() ? 0 : l["cluster"].get<std::int64_t>();
      EXPECT_EQ(l["proposed"], "barack_obama");
      EXPECT_GT(l["score"].get<double>(), 0.9);
    }
  }
  EXPECT_EQ(clusters_of["a"].size(), 1u);  // each person in one cluster
  EXPECT_EQ(clusters_of["b"].size(), 1u);
  ASSERT_GT(kit, 0);
  ASSERT_GT(obama, 0);
  EXPECT_NE(kit, obama);
  EXPECT_EQ(clusters_of["c"], std::set<std::string>{"null"});  // two photos: noise

  // Bad input: one line on stderr, exit 2, gallery untouched.
  const std::string before = db_sha();
  expect_clean_failure(cli({"people", gallery_, "name", "999", "someone"}), 2, "no cluster #999");
  expect_clean_failure(cli({"people", gallery_, "merge", "barack_obama", "barack_obama"}), 2,
                       "into itself");
  expect_clean_failure(cli({"people", gallery_, "merge", cluster_arg(kit), "nobody"}), 2,
                       "no person named 'nobody'");
  expect_clean_failure(cli({"people", gallery_, "split", "barack_obama", "12345"}), 2,
                       "face 12345 is not in person 'barack_obama'");
  EXPECT_EQ(db_sha(), before);

  // Name Kit's cluster, take the proposal for Obama's: both are recognised now.
  const auto named = cli({"people", gallery_, "name", std::to_string(kit), "kit_harington"});
  ASSERT_EQ(named.exit_code, 0) << named.err;
  EXPECT_NE(named.out.find("3 faces"), std::string::npos) << named.out;
  ASSERT_EQ(cli({"people", gallery_, "merge", cluster_arg(obama), "barack_obama"}).exit_code, 0);
  const auto listed = nlohmann::json::parse(cli({"people", gallery_, "list", "--json"}).out);
  std::map<std::string, int> faces;
  for (const auto& p : listed) faces[p["name"]] = p["faces"];
  EXPECT_EQ(faces["kit_harington"], 3);
  EXPECT_EQ(faces["barack_obama"], 6);
  const auto identified =
      cli({"identify", gallery_, shared_path(kExamples + "/_group/kit_with_rose.jpg").string(),
           "--json"});
  ASSERT_EQ(identified.exit_code, 0) << identified.err;
  bool kit_found = false;
  for (const auto& l : json_lines(identified.out)) kit_found |= l["label"] == "kit_harington";
  EXPECT_TRUE(kit_found) << identified.out;

  // Split one of Obama's faces out: it leaves his person, is remembered as not him.
  const auto obama_faces =
      json_lines(cli({"people", gallery_, "faces", "barack_obama", "--json"}).out);
  ASSERT_EQ(obama_faces.size(), 6u);
  const std::string face = obama_faces.back()["face_id"].dump();
  const auto split = cli({"people", gallery_, "split", "barack_obama", face});
  ASSERT_EQ(split.exit_code, 0) << split.err;
  EXPECT_NE(split.out.find("into cluster #"), std::string::npos);
  EXPECT_EQ(json_lines(cli({"people", gallery_, "faces", "barack_obama", "--json"}).out).size(),
            5u);
  // Saying a face is not someone: fine for a face of another person, refused for their own.
  const std::string kit_face =
      json_lines(cli({"people", gallery_, "faces", "kit_harington", "--json"}).out)[0]["face_id"]
          .dump();
  EXPECT_EQ(cli({"people", gallery_, "not", kit_face, "barack_obama"}).exit_code, 0);
  const std::string own = obama_faces.front()["face_id"].dump();
  expect_clean_failure(cli({"people", gallery_, "not", own, "barack_obama"}), 2,
                       "is labelled 'barack_obama'");
}

TEST_F(ClusterCli, IdentifyRemembersFacesAndReportsQualityAndEnrollmentSkipsBlur) {
  ASSERT_EQ(cli({"add", gallery_, "--person", "joe_biden",
                 shared_path(kExamples + "/joe_biden/biden.jpg").string()})
                .exit_code,
            0);
  const auto group = shared_path(kExamples + "/_group/obama_and_biden.jpg").string();
  const auto identified = cli({"identify", gallery_, group, "--json", "--remember"});
  ASSERT_EQ(identified.exit_code, 0) << identified.err;
  const auto lines = json_lines(identified.out);
  ASSERT_GE(lines.size(), 2u);
  for (const auto& l : lines) {
    ASSERT_TRUE(l.contains("quality"));
    EXPECT_GT(l["quality"]["size"].get<double>(), 20);
    EXPECT_GT(l["quality"]["sharpness"].get<double>(), 0);
    EXPECT_TRUE(l["quality"].contains("yaw"));
    EXPECT_TRUE(l.contains("threshold"));
  }
  // Remembered: every face of the photo is now an unlabelled face; a second run adds nothing.
  const auto clustered = json_lines(cli({"cluster", gallery_, "--json"}).out);
  EXPECT_EQ(clustered.size(), lines.size());
  ASSERT_EQ(cli({"identify", gallery_, group, "--remember"}).exit_code, 0);
  EXPECT_EQ(json_lines(cli({"cluster", gallery_, "--json"}).out).size(), lines.size());

  // A blurred copy of a sharp photo is skipped with the reason, the sharp one is enrolled.
  const cv::Mat sharp = load_image(shared_path(kExamples + "/kit_harington/john1.jpeg"));
  cv::Mat blurred;
  cv::GaussianBlur(sharp, blurred, {0, 0}, 2.0 * sharp.cols / 250.0);
  const fs::path blurred_path = work_.path() / "john1_blurred.jpg";
  ASSERT_TRUE(cv::imwrite(blurred_path.string(), blurred));
  const auto added =
      cli({"add", gallery_, "--person", "kit_harington", "--json", blurred_path.string(),
           shared_path(kExamples + "/kit_harington/john1.jpeg").string()});
  EXPECT_EQ(added.exit_code, 7) << added.err;  // partial: one photo used, one skipped
  EXPECT_NE(added.err.find("clipface: skipped " + blurred_path.string() + ": low quality: blurry"),
            std::string::npos)
      << added.err;
  const auto summary = nlohmann::json::parse(added.out);
  EXPECT_EQ(summary["faces"], 1);
  ASSERT_EQ(summary["skipped"].size(), 1u);
  EXPECT_NE(summary["skipped"][0]["reason"].get<std::string>().find("low quality: blurry"),
            std::string::npos)
      << summary.dump();
  // With the gate off it goes in.
  const auto forced = cli({"add", gallery_, "--person", "kit_harington", "--json", "--quality-bar",
                           "off", blurred_path.string()});
  EXPECT_EQ(nlohmann::json::parse(forced.out)["faces"], 1) << forced.out;
  expect_clean_failure(
      cli({"add", gallery_, "--person", "x", "--quality-bar", "blur=3", blurred_path.string()}), 2,
      "unknown key 'blur'");
}

}  // namespace
}  // namespace clipface
