// clipface calibrate on a real gallery: too small for the FAR asked -> one line saying how many
// faces are needed, exit 2, gallery unchanged; a FAR it can measure -> stored, plotted, and used
// by identify (whose --threshold still overrides it).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>

#include "clipface/checksum.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::json_lines;
using testing::shared_path;

const std::string kExamples = "data/faces/named/face_recognition_examples";

TEST(CalibrateCli, TooSmallIsRefusedThenCalibratedValuesReachIdentify) {
  CLIPFACE_REQUIRE_SHARED(kExamples);
  CLIPFACE_REQUIRE_SHARED("models/dlib/dlib_face_recognition_resnet_model_v1.dat");
  testing::TempDir work;
  const testing::Cli cli;
  const std::string gallery = (work.path() / "g").string();
  const auto enrolled = cli({"enroll", gallery, shared_path(kExamples).string(), "--json",
                             "--allow-skips"});  // biden2.jpg shows two faces
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.err;
  const int faces = nlohmann::json::parse(enrolled.out)["faces"];

  const std::string before = sha256_file(fs::path(gallery) / "gallery.db");
  const auto small = cli({"calibrate", gallery});  // default FAR 0.001
  EXPECT_EQ(small.exit_code, 2) << small.err;
  EXPECT_EQ(std::count(small.err.begin(), small.err.end(), '\n'), 1) << small.err;
  EXPECT_NE(small.err.find("needs at least 1000 impostor probes"), std::string::npos) << small.err;
  EXPECT_NE(small.err.find(std::to_string(faces) + " labelled faces of 6 people"),
            std::string::npos)
      << small.err;
  EXPECT_NE(small.err.find("--strangers"), std::string::npos) << small.err;
  EXPECT_EQ(sha256_file(fs::path(gallery) / "gallery.db"), before);
  EXPECT_FALSE(fs::exists(fs::path(gallery) / "calibration.png"));

  const auto calibrated = cli({"calibrate", gallery, "--far", "0.1", "--json"});
  ASSERT_EQ(calibrated.exit_code, 0) << calibrated.err;
  const auto c = nlohmann::json::parse(calibrated.out);
  EXPECT_EQ(c["stored"], true);
  EXPECT_LE(c["far"].get<double>(), 0.1);
  EXPECT_EQ(c["impostor_probes"], faces);
  const float threshold = c["threshold"];
  EXPECT_GT(threshold, 0.1f);
  EXPECT_LT(threshold, 1.2f);
  for (const auto& plot : c["plots"]) {
    EXPECT_EQ(testing::read_text(plot.get<std::string>()).substr(1, 3), "PNG") << plot;
  }

  const std::string photo = shared_path(kExamples + "/_group/obama_and_biden.jpg").string();
  const auto identified = cli({"identify", gallery, photo, "--json"});
  ASSERT_EQ(identified.exit_code, 0) << identified.err;
  std::map<std::string, float> people;
  for (const auto& p : c["people"]) people[p["person"]] = p["threshold"];
  for (const auto& l : json_lines(identified.out)) {
    const std::string label = l["label"];
    const float expected = people.count(label) ? people[label] : threshold;
    EXPECT_FLOAT_EQ(l["threshold"].get<float>(), expected) << l.dump();
  }
  const auto overridden = cli({"identify", gallery, photo, "--json", "--threshold", "0.5"});
  for (const auto& l : json_lines(overridden.out)) EXPECT_FLOAT_EQ(l["threshold"], 0.5f);
}

}  // namespace
}  // namespace clipface
