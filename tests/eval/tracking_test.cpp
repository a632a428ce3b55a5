// Tracking measured: the MOT figures on hand-made truth with known answers, the synthetic clip
// generator against the detector, and watch against the per-frame loop on a generated clip.
#include <gtest/gtest.h>

#include <set>

#include "clipface/errors.hpp"
#include "clipface/eval/tracking.hpp"
#include "support/test_env.hpp"

namespace clipface::eval {
namespace {
namespace fs = std::filesystem;
using testing::shared_path;

cv::Rect2f at(float x) {
  return cv::Rect2f(x, 100, 60, 70);
}

// Two people walking apart for `frames` frames, A from x=0, B from x=300.
TrackingTruth two_walkers(int frames, float visibility_b = 1) {
  TrackingTruth t;
  t.names = {"ada", ""};  // ada is enrolled, the second person is a stranger
  for (int n = 0; n < frames; ++n) {
    t.frames.push_back({{0, at(5.0f * n), 1}, {1, at(300 + 5.0f * n), visibility_b}});
  }
  return t;
}

TEST(TrackingFigures, PerfectTracksScoreOne) {
  const TrackingTruth truth = two_walkers(20);
  std::vector<std::vector<HypothesisBox>> hyps;
  for (int n = 0; n < 20; ++n)
    hyps.push_back({{1, at(5.0f * n), "ada"}, {2, at(300 + 5.0f * n), "unknown-1"}});
  const TrackingFigures f = score_tracking(truth, hyps);
  EXPECT_TRUE(f.has_ids);
  EXPECT_EQ(f.truth_boxes, 40);
  EXPECT_EQ(f.matches, 40);
  EXPECT_EQ(f.misses + f.false_positives + f.id_switches, 0);
  EXPECT_DOUBLE_EQ(f.mota, 1.0);
  EXPECT_DOUBLE_EQ(f.idf1, 1.0);
  EXPECT_DOUBLE_EQ(f.motp, 1.0);
  EXPECT_EQ(f.named_right, 40);
  EXPECT_EQ(f.truth_tracks, 2);
  EXPECT_EQ(f.flicker(), 0);
}

TEST(TrackingFigures, ASwapHalfWayIsTwoSwitchesAndHalvesIdf1) {
  const TrackingTruth truth = two_walkers(20);
  std::vector<std::vector<HypothesisBox>> hyps;
  for (int n = 0; n < 20; ++n) {
    const std::int64_t a = n < 10 ? 1 : 2, b = n < 10 ? 2 : 1;
    hyps.push_back({{a, at(5.0f * n), "ada"}, {b, at(300 + 5.0f * n), "Unknown"}});
  }
  const TrackingFigures f = score_tracking(truth, hyps);
  EXPECT_EQ(f.id_switches, 2);
  EXPECT_DOUBLE_EQ(f.mota, 1.0 - 2.0 / 40);
  EXPECT_DOUBLE_EQ(f.idf1, 0.5);  // each trajectory shares half its frames with its best match
  EXPECT_EQ(f.idtp, 20);
}

TEST(TrackingFigures, MissesFalsePositivesAndHiddenFacesThatCountForNothing) {
  const TrackingTruth truth = two_walkers(10, /*visibility_b=*/0.3f);  // B mostly hidden
  std::vector<std::vector<HypothesisBox>> hyps;
  for (int n = 0; n < 10; ++n) {
    std::vector<HypothesisBox> frame;
    if (n % 2 == 0) frame.push_back({1, at(5.0f * n), "ada"});  // A found every other frame
    frame.push_back({2, at(300 + 5.0f * n), "Unknown"});        // on hidden B: ignored
    if (n == 3) frame.push_back({3, cv::Rect2f(600, 10, 40, 40), "Unknown"});  // background
    hyps.push_back(frame);
  }
  const TrackingFigures f = score_tracking(truth, hyps);
  EXPECT_EQ(f.truth_boxes, 10) << "B is not counted";
  EXPECT_EQ(f.matches, 5);
  EXPECT_EQ(f.misses, 5);
  EXPECT_EQ(f.false_positives, 1);
  EXPECT_EQ(f.hypotheses, 6);
  EXPECT_DOUBLE_EQ(f.mota, 1.0 - 6.0 / 10);
  EXPECT_EQ(f.truth_tracks, 1);
}

TEST(TrackingFigures, NamesRightWrongPendingAndLabelChanges) {
  TrackingTruth truth = two_walkers(6);
  const std::vector<std::string> a = {"pending", "ada", "ada", "bob", "ada", "ada"};
  const std::vector<std::string> b = {"pending", "unknown-4", "Unknown",
                                      "ada",     "unknown-4", "unknown-4"};
  std::vector<std::vector<HypothesisBox>> hyps;
  for (int n = 0; n < 6; ++n) {
    hyps.push_back({{1, at(5.0f * n), a[n]}, {2, at(300 + 5.0f * n), b[n]}});
  }
  const TrackingFigures f = score_tracking(truth, hyps);
  EXPECT_EQ(f.named_pending, 2);
  EXPECT_EQ(f.named_wrong, 2) << "bob for ada, ada for a stranger";
  EXPECT_EQ(f.named_right, 8) << "Unknown and unknown-N are right for a stranger";
  // ada: ada->bob->ada = 2; stranger: unknown-4->Unknown->ada->unknown-4 = 3.
  EXPECT_EQ(f.label_changes, 5);
  EXPECT_DOUBLE_EQ(f.flicker(), 2.5);
}

TEST(TrackingFigures, WithoutTrackIdsThereAreNoSwitchesAndNoIdf1) {
  const TrackingTruth truth = two_walkers(5);
  std::vector<std::vector<HypothesisBox>> hyps;
  for (int n = 0; n < 5; ++n)
    hyps.push_back({{-1, at(5.0f * n), "ada"}, {-1, at(300 + 5.0f * n), "Unknown"}});
  const TrackingFigures f = score_tracking(truth, hyps);
  EXPECT_FALSE(f.has_ids);
  EXPECT_EQ(f.id_switches, 0);
  EXPECT_EQ(f.idf1, 0);
  EXPECT_DOUBLE_EQ(f.mota, 1.0);
  EXPECT_THROW(score_tracking(truth, {}), InputError);
}

class SyntheticClips : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SHARED("data/faces/lfw-view1");
    CLIPFACE_REQUIRE_SHARED("models/dlib/dlib_face_recognition_resnet_model_v1.dat");
    setenv("CLIPFACE_HOME", home_.path().c_str(), 1);
    testing::make_models_home(home_.path());
    PipelineOptions o;
    o.embedder = "dlib";
    pipeline_ = std::make_unique<FacePipeline>(o);
  }

  testing::TempDir home_, work_;
  std::unique_ptr<FacePipeline> pipeline_;
};

TEST_F(SyntheticClips, TheScriptHappensAndTheTruthIsWhereTheDetectorFindsTheFaces) {
  Gallery gallery = Gallery::create(work_ / "gallery", pipeline_->embedder().info());
  const auto actors =
      cast_actors(shared_path("data/faces/lfw-view1"), gallery, *pipeline_, 3, 1, 3, 7);
  ASSERT_EQ(actors.size(), 4u);
  EXPECT_EQ(gallery.people().size(), 3u);
  SyntheticClipOptions o;
  o.seconds = 6;
  o.seed = 7;
  const SyntheticClip clip = make_synthetic_clip(actors, o, work_ / "clip.mp4");
  ASSERT_EQ(clip.truth.frames.size(), 180u);
  EXPECT_GE(clip.crossings, 1);
  EXPECT_GE(clip.occlusions, 1);
  EXPECT_GE(clip.exits, 1);
  // The same seed, the same clip.
  const SyntheticClip again = make_synthetic_clip(actors, o, work_ / "again.mp4");
  ASSERT_EQ(again.truth.frames.size(), clip.truth.frames.size());
  for (std::size_t n = 0; n < clip.truth.frames.size(); n += 17) {
    ASSERT_EQ(again.truth.frames[n].size(), clip.truth.frames[n].size());
    for (std::size_t i = 0; i < clip.truth.frames[n].size(); ++i) {
      EXPECT_EQ(again.truth.frames[n][i].box, clip.truth.frames[n][i].box);
    }
  }
  // Every clearly visible face is found by the detector at its true box.
  auto source = open_source(clip.video.string());
  EXPECT_EQ(source->info().size, cv::Size(640, 360));
  int visible = 0, found = 0;
  while (auto frame = source->next()) {
    const auto faces = pipeline_->detector().detect(frame->image);
    for (const TruthBox& t : clip.truth.frames.at(static_cast<std::size_t>(frame->index))) {
      if (t.visibility < 0.9f) continue;
      ++visible;
      for (const Face& f : faces) {
        if (box_iou(f.box, t.box) >= 0.5f) {
          ++found;
          break;
        }
      }
    }
  }
  EXPECT_GT(visible, 300);
  EXPECT_GE(found, visible * 95 / 100) << found << " of " << visible;
}

TEST_F(SyntheticClips, WatchMakesFewerNamingErrorsAndFarFewerFlickersThanThePerFrameLoop) {
  Gallery gallery = Gallery::create(work_ / "gallery", pipeline_->embedder().info());
  const auto actors =
      cast_actors(shared_path("data/faces/lfw-view1"), gallery, *pipeline_, 3, 1, 3, 1001);
  SyntheticClipOptions o;
  o.seed = 1001;
  const SyntheticClip clip = make_synthetic_clip(actors, o, work_ / "clip.mp4");
  WatchOptions options;
  options.vote = gallery.vote_rule();
  const TrackingComparison c = compare_on_clip(gallery, *pipeline_, options, clip);
  const TrackingFigures& t = c.tracked;
  const TrackingFigures& loop = c.per_frame;
  // Tracking: nearly every face found, each person one track.
  EXPECT_GE(t.mota, 0.9);
  EXPECT_GE(t.idf1, 0.9);
  EXPECT_LE(t.id_switches, 1);
  // Names: fewer wrong than naming each frame alone, labels steady along each person's track.
  EXPECT_GT(loop.named_wrong, 0) << "the clip is hard enough to trip the per-frame loop";
  EXPECT_LT(t.named_wrong, loop.named_wrong);
  EXPECT_LE(t.label_changes * 3, loop.label_changes) << "far fewer flickers";
  EXPECT_LT(t.named_pending, t.truth_boxes / 10);
}

}  // namespace
}  // namespace clipface::eval
