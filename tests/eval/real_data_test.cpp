// The protocols end to end on real photos from ../shared with the dlib embedder and YuNet: cache
// behaviour, retrieval, LFW verification on a slice of View 1 and reports (the CLI runs in
// eval_cli_test.cpp).
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "clipface/errors.hpp"
#include "clipface/eval/dataset.hpp"
#include "clipface/eval/protocols.hpp"
#include "clipface/eval/verification.hpp"
#include "support/test_env.hpp"

namespace clipface::eval {
namespace {

using clipface::testing::shared_path;
using clipface::testing::TempDir;

constexpr const char* kFiveCelebrity = "data/faces/named/five_celebrity";
constexpr const char* kLfw = "data/faces/lfw-view1";

// Counts the crops that really go through the network.
class CountingEmbedder final : public Embedder {
 public:
  explicit CountingEmbedder(std::unique_ptr<Embedder> inner) : inner_(std::move(inner)) {}
  const EmbedderInfo& info() const override { return inner_->info(); }
  std::vector<cv::Mat> crops(const cv::Mat& image, const std::vector<Face>& faces) const override {
    return inner_->crops(image, faces);
  }
  Matrix embed_crops(const std::vector<cv::Mat>& crops) const override {
    embedded += crops.size();
    return inner_->embed_crops(crops);
  }
  mutable std::atomic<std::size_t> embedded{0};

 private:
  std::unique_ptr<Embedder> inner_;
};

// One cache for the whole binary, so each real image is embedded once per test run.
const std::filesystem::path& shared_cache() {
  static TempDir dir;
  return dir.path();
}

struct Models {
  std::unique_ptr<CountingEmbedder> embedder;
  std::unique_ptr<Detector> detector;
};

Models& models() {
  static Models m{std::make_unique<CountingEmbedder>(make_embedder("dlib")), make_detector()};
  return m;
}

ProtocolOptions quick_options() {
  ProtocolOptions options;
  options.embed.cache_dir = shared_cache();
  options.embed.progress = false;
  return options;
}

TEST(Dataset, ListsPeopleFoldersAndSkipsGroupFolders) {
  CLIPFACE_REQUIRE_SHARED("data/faces/named/face_recognition_examples");
  const auto images =
      list_labelled_images(shared_path("data/faces/named/face_recognition_examples"));
  for (const auto& image : images) EXPECT_NE(image.person, "_group");
  EXPECT_EQ(images.size(), 17u);
  EXPECT_EQ(images.front().person, "alex_lacamoire");
  EXPECT_THROW(list_labelled_images("/no/such/folder"), InputError);
  TempDir empty;
  EXPECT_THROW(list_labelled_images(empty.path()), InputError);
}

TEST(Dataset, SecondRunReadsTheCacheInsteadOfEmbedding) {
  CLIPFACE_REQUIRE_SHARED(kFiveCelebrity);
  TempDir cache;
  auto images = list_labelled_images(shared_path(kFiveCelebrity));
  images.resize(12);
  EmbedSettings settings;
  settings.cache_dir = cache.path();
  settings.progress = false;
  auto& m = models();
  const std::size_t before = m.embedder->embedded;
  const auto first = embed_images(images, *m.embedder, *m.detector, settings);
  EXPECT_EQ(first.computed, 12u);
  EXPECT_EQ(first.cached, 0u);
  EXPECT_EQ(m.embedder->embedded - before, first.size());
  const std::size_t after_first = m.embedder->embedded;
  const auto second = embed_images(images, *m.embedder, *m.detector, settings);
  EXPECT_EQ(m.embedder->embedded, after_first) << "the second run embedded again";
  EXPECT_EQ(second.computed, 0u);
  EXPECT_EQ(second.cached, 12u);
  ASSERT_EQ(second.size(), first.size());
  EXPECT_EQ(second.embeddings.data, first.embeddings.data);
  EXPECT_EQ(second.faces[0].box, first.faces[0].box);
  // Another face pick is another cache space: computed again.
  settings.pick = FacePick::largest;
  const auto third = embed_images(images, *m.embedder, *m.detector, settings);
  EXPECT_EQ(third.computed, 12u);
}

TEST(Dataset, UnreadableImagesAndImagesWithoutFacesAreReportedNotDropped) {
  CLIPFACE_REQUIRE_SHARED(kFiveCelebrity);
  TempDir tmp;
  std::filesystem::create_directories(tmp / "bob");
  std::ofstream(tmp / "bob" / "broken.jpg") << "not a jpeg";
  cv::Mat blank(200, 200, CV_8UC3, cv::Scalar(128, 128, 128));
  cv::imwrite((tmp / "bob" / "blank.png").string(), blank);
  auto images = list_labelled_images(tmp.path());
  images.push_back(list_labelled_images(shared_path(kFiveCelebrity)).front());
  EmbedSettings settings;
  settings.cache_dir = shared_cache();
  settings.progress = false;
  const auto set = embed_images(images, *models().embedder, *models().detector, settings);
  EXPECT_EQ(set.size(), 1u);
  ASSERT_EQ(set.failures.size(), 2u);
  EXPECT_EQ(set.attempted(), 3u);
  EXPECT_NEAR(set.detection_rate(), 1.0 / 3.0, 1e-12);
  for (const auto& f : set.failures) {
    if (f.image.path.filename() == "blank.png")
      EXPECT_EQ(f.reason, "no face");
    else {
      // The failure names the file in its own field, the reason says why.
      EXPECT_EQ(f.image.path.filename(), "broken.jpg");
      EXPECT_EQ(f.reason, "not an image file");
    }
  }
}

TEST(Dataset, PicksTheFaceNearestTheCentreOrTheLargest) {
  std::vector<Face> faces(2);
  faces[0].box = {0, 0, 100, 100};    // large, in the corner
  faces[1].box = {110, 110, 30, 30};  // small, at the centre of 250x250
  EXPECT_EQ(pick_face(faces, {250, 250}, FacePick::nearest_centre), 1);
  EXPECT_EQ(pick_face(faces, {250, 250}, FacePick::largest), 0);
  EXPECT_EQ(pick_face({}, {250, 250}, FacePick::largest), -1);
}

TEST(RealRetrieval, DlibFindsFiveCelebrities) {
  CLIPFACE_REQUIRE_SHARED(kFiveCelebrity);
  TempDir report;
  auto options = quick_options();
  options.report_dir = report.path();
  const auto out = run_protocol("retrieval", shared_path(kFiveCelebrity), options,
                                *models().embedder, *models().detector);
  EXPECT_EQ(out.json["dataset"]["images"], 93);
  EXPECT_GE(out.json["dataset"]["detection_rate"].get<double>(), 0.98);
  EXPECT_GE(out.json["top1"].get<double>(), 0.85) << out.text;
  EXPECT_GE(out.json["top5"].get<double>(), out.json["top1"].get<double>());
  EXPECT_TRUE(out.warning.empty());
  for (const char* file : {"index.html", "confusion.png", "per_class_accuracy.png", "pca.png",
                           "precision_recall.png"}) {
    EXPECT_TRUE(std::filesystem::exists(report / file)) << file;
  }
}

TEST(RealVerification, HundredPairsOfView1) {
  CLIPFACE_REQUIRE_SHARED(kLfw);
  auto options = quick_options();
  options.pairs = shared_path(kLfw) / "pairsDevTest.txt";  // train file found beside it
  options.max_pairs = 100;
  const auto out =
      run_protocol("verify", shared_path(kLfw), options, *models().embedder, *models().detector);
  EXPECT_EQ(out.json["pairs"], 100);
  EXPECT_GE(out.json["dataset"]["detection_rate"].get<double>(), 0.98);
  EXPECT_GE(out.json["accuracy"].get<double>(), 0.93) << out.text;
  EXPECT_GE(out.json["roc_auc"].get<double>(), 0.97) << out.text;
}

TEST(RealGrid, WritesTheCsvAndAgreesWithItsBestPoint) {
  CLIPFACE_REQUIRE_SHARED(kFiveCelebrity);
  TempDir out_dir;
  auto options = quick_options();
  options.output_dir = out_dir.path();
  options.seed = 3;
  const auto out = run_protocol("grid", shared_path(kFiveCelebrity), options, *models().embedder,
                                *models().detector);
  const std::string csv = clipface::testing::read_text(out_dir / "grid_search_results.csv");
  EXPECT_EQ(csv.rfind("k1,k2,threshold,precision,recall,f1,tp,fp,tn,fn\n", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 45 * 51);
  EXPECT_GE(out.json["best"]["f1"].get<double>(), 0.8) << out.text;
  // Same seed, same split, same answer.
  const auto again = run_protocol("grid", shared_path(kFiveCelebrity), options, *models().embedder,
                                  *models().detector);
  EXPECT_EQ(out.json["best"], again.json["best"]);
}

TEST(RealOpenSet, ReportsRatesAtTheThresholdAndACurve) {
  CLIPFACE_REQUIRE_SHARED(kFiveCelebrity);
  const auto out = run_protocol("openset", shared_path(kFiveCelebrity), quick_options(),
                                *models().embedder, *models().detector);
  EXPECT_EQ(out.json["curve"].size(), 101u);
  const auto& at = out.json["at_threshold"];
  EXPECT_GT(at["genuine"].get<int>(), 0);
  EXPECT_GT(at["impostor"].get<int>(), 0);
  // Single shot: the nearest enrolled face names most genuine probes right.
  EXPECT_GT(at["genuine_correct"].get<int>(), at["genuine"].get<int>() / 2) << out.text;
  EXPECT_DOUBLE_EQ(at["threshold"].get<double>(), 0.8);
  EXPECT_NE(out.text.find("FPR"), std::string::npos);
}

TEST(RealScale, GrowsThePeopleCount) {
  CLIPFACE_REQUIRE_SHARED(kFiveCelebrity);
  auto options = quick_options();
  options.people_counts = {2, 3, 5};
  const auto out = run_protocol("scale", shared_path(kFiveCelebrity), options, *models().embedder,
                                *models().detector);
  ASSERT_EQ(out.json["points"].size(), 3u);
  EXPECT_EQ(out.json["points"][2]["people"], 5);
  EXPECT_GT(out.json["points"][2]["images"].get<int>(), out.json["points"][0]["images"].get<int>());
  EXPECT_GT(out.json["points"][2]["embed_seconds"].get<double>(), 0);
}

}  // namespace
}  // namespace clipface::eval
