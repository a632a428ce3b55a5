// The tracker's parts on scripted detections with known answers: the assignment against brute
// force, the Kalman filter on constant motion, and ByteTrack's life cycle (confirmation, weak
// detections, occlusion, removal, crossings, skipped frames).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <opencv2/imgproc.hpp>
#include <random>

#include "clipface/assignment.hpp"
#include "clipface/errors.hpp"
#include "clipface/track.hpp"
#include "track/kalman.hpp"

namespace clipface {
namespace {

// Objective of lap.lapjv with cost_limit: pairs made cost c, pairs not made cost max_cost.
double objective(const std::vector<std::vector<float>>& cost, const std::vector<int>& assignment,
                 float max_cost) {
  double total = 0;
  for (std::size_t i = 0; i < assignment.size(); ++i) {
    if (assignment[i] >= 0) total += cost[i][assignment[i]] - max_cost;
  }
  return total;
}

double brute_force_best(const std::vector<std::vector<float>>& cost, float max_cost) {
  const std::size_t rows = cost.size(), cols = cost[0].size();
  std::vector<int> best(rows, -1), current(rows, -1);
  double best_value = 0;
  std::vector<bool> used(cols, false);
  std::function<void(std::size_t, double)> go = [&](std::size_t i, double value) {
    if (i == rows) {
      best_value = std::min(best_value, value);
      return;
    }
    go(i + 1, value);  // row i unassigned
    for (std::size_t j = 0; j < cols; ++j) {
      if (used[j] || cost[i][j] > max_cost) continue;
      used[j] = true;
      go(i + 1, value + cost[i][j] - max_cost);
      used[j] = false;
    }
  };
  go(0, 0);
  return best_value;
}

TEST(Assignment, MatchesBruteForceOnRandomRectangularMatrices) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(0, 1);
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t rows = 1 + rng() % 6, cols = 1 + rng() % 6;
    std::vector<std::vector<float>> cost(rows, std::vector<float>(cols));
    for (auto& row : cost) {
      for (float& c : row) c = uniform(rng);
    }
    const float max_cost = 0.3f + 0.6f * uniform(rng);
    const std::vector<int> a = min_cost_assignment(cost, max_cost);
    ASSERT_EQ(a.size(), rows);
    std::vector<int> columns;
    for (std::size_t i = 0; i < rows; ++i) {
      if (a[i] < 0) continue;
      EXPECT_LE(cost[i][a[i]], max_cost);
      columns.push_back(a[i]);
    }
    std::sort(columns.begin(), columns.end());
    EXPECT_EQ(std::adjacent_find(columns.begin(), columns.end()), columns.end())
        << "a column twice";
    EXPECT_NEAR(objective(cost, a, max_cost), brute_force_best(cost, max_cost), 1e-5)
        << "trial " << trial;
  }
  EXPECT_TRUE(min_cost_assignment({}, 1).empty());
  EXPECT_EQ(min_cost_assignment({{}}, 1), std::vector<int>{-1});
}

TEST(Assignment, PrefersTheCheaperPairingNotTheGreedyOne) {
  // Greedy would take (0,0) = 0.1 and leave row 1 with nothing allowed.
  const std::vector<std::vector<float>> cost = {{0.1f, 0.2f}, {0.15f, 0.9f}};
  EXPECT_EQ(min_cost_assignment(cost, 0.5f), (std::vector<int>{1, 0}));
}

TEST(Kalman, FollowsConstantMotionAndPredictsOverGaps) {
  detail::BoxKalman filter(cv::Rect2f(100, 100, 50, 60));
  for (int i = 1; i <= 20; ++i) {
    filter.predict();
    filter.update(cv::Rect2f(100 + 4.0f * i, 100 - 2.0f * i, 50, 60));
  }
  EXPECT_NEAR(filter.velocity().x, 4, 0.3);
  EXPECT_NEAR(filter.velocity().y, -2, 0.3);
  filter.predict(5);  // five frames unseen
  const cv::Rect2f b = filter.box();
  EXPECT_NEAR(b.x, 100 + 4 * 25, 3);
  EXPECT_NEAR(b.y, 100 - 2 * 25, 3);
  EXPECT_NEAR(b.width, 50, 1);
  EXPECT_NEAR(b.height, 60, 1);
}

Face face_at(float x, float y, float side = 60, float score = 0.9f) {
  Face f;
  f.box = cv::Rect2f(x, y, side, side * 1.2f);
  f.score = score;
  f.landmarks = {cv::Point2f(x + 0.3f * side, y + 0.4f * side),
                 cv::Point2f(x + 0.7f * side, y + 0.4f * side),
                 cv::Point2f(x + 0.5f * side, y + 0.6f * side),
                 cv::Point2f(x + 0.35f * side, y + 0.85f * side),
                 cv::Point2f(x + 0.65f * side, y + 0.85f * side)};
  return f;
}

const TrackedFace* find(const std::vector<TrackedFace>& tracks, std::int64_t id) {
  for (const auto& t : tracks) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

TEST(Tracker, OneMovingFaceIsTentativeThenConfirmedWithOneIdThroughout) {
  Tracker tracker;
  for (int frame = 0; frame < 100; ++frame) {
    const auto tracks = tracker.update({face_at(50 + 3.0f * frame, 100)}, frame);
    ASSERT_EQ(tracks.size(), 1u) << "frame " << frame;
    EXPECT_EQ(tracks[0].id, 1);
    EXPECT_TRUE(tracks[0].matched);
    EXPECT_EQ(tracks[0].detection, 0);
    EXPECT_EQ(tracks[0].state, frame < 2 ? TrackState::tentative : TrackState::confirmed);
    EXPECT_EQ(tracks[0].hits, frame + 1);
    EXPECT_EQ(tracks[0].first_frame, 0);
    EXPECT_EQ(tracks[0].last_frame, frame);
  }
}

TEST(Tracker, AFlickeringFalseDetectionIsNeverConfirmed) {
  Tracker tracker;
  std::vector<TrackedFace> tracks;
  for (int frame = 0; frame < 20; ++frame) {
    std::vector<Face> dets = {face_at(100, 100)};
    if (frame % 3 == 0) dets.push_back(face_at(400, 300, 40, 0.8f));  // one frame in three
    tracks = tracker.update(dets, frame);
    for (const auto& t : tracks) {
      if (t.id != 1) {
        EXPECT_NE(t.state, TrackState::confirmed) << "frame " << frame;
      }
    }
  }
}

TEST(Tracker, WeakDetectionsKeepATrackAliveButNeverStartOne) {
  Tracker tracker;
  for (int frame = 0; frame < 10; ++frame)
    tracker.update({face_at(100 + 2.0f * frame, 100)}, frame);
  for (int frame = 10; frame < 20; ++frame) {
    // Half occluded: score 0.45, between low_score and high_score.
    const auto tracks = tracker.update(
        {face_at(100 + 2.0f * frame, 100, 60, 0.45f), face_at(500, 50, 60, 0.45f)}, frame);
    const TrackedFace* t = find(tracks, 1);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->state, TrackState::confirmed);
    EXPECT_TRUE(t->matched);
    EXPECT_EQ(tracks.size(), 1u) << "a weak detection started a track";
  }
}

TEST(Tracker, ATrackSurvivesAShortOcclusionAndIsRemovedAfterALongOne) {
  TrackerOptions options;
  options.lost_frames = 15;
  Tracker tracker(options);
  auto x_at = [](int frame) { return 40 + 4.0f * frame; };
  for (int frame = 0; frame < 20; ++frame) tracker.update({face_at(x_at(frame), 100)}, frame);
  for (int frame = 20; frame < 30; ++frame) {  // behind a pillar for 10 frames
    const auto tracks = tracker.update({}, frame);
    ASSERT_EQ(tracks.size(), 1u);
    EXPECT_EQ(tracks[0].state, TrackState::lost);
    EXPECT_FALSE(tracks[0].matched);
    EXPECT_NEAR(tracks[0].box.x, x_at(frame), 8) << "predicted on";
  }
  auto tracks = tracker.update({face_at(x_at(30), 100)}, 30);
  ASSERT_EQ(tracks.size(), 1u);
  EXPECT_EQ(tracks[0].id, 1) << "same track after the occlusion";
  EXPECT_EQ(tracks[0].state, TrackState::confirmed);

  bool removed = false;
  for (int frame = 31; frame < 60; ++frame) {
    tracks = tracker.update({}, frame);
    for (const auto& t : tracks) {
      if (t.state == TrackState::removed) {
        EXPECT_EQ(frame, 30 + 16) << "removed once lost for more than lost_frames";
        removed = true;
      }
    }
  }
  EXPECT_TRUE(removed);
  EXPECT_TRUE(tracker.update({}, 60).empty()) << "removed tracks are reported once";
  tracks = tracker.update({face_at(100, 100)}, 61);
  ASSERT_EQ(tracks.size(), 1u);
  EXPECT_EQ(tracks[0].id, 2);
}

TEST(Tracker, TwoFacesCrossingKeepTheirIdsWhileOneHidesTheOther) {
  Tracker tracker;
  std::int64_t left_id = 0, right_id = 0;
  for (int frame = 0; frame < 80; ++frame) {
    const float a = 50 + 5.0f * frame, b = 450 - 5.0f * frame;  // meet at frame 40
    std::vector<Face> dets;
    if (std::abs(a - b) > 45) {
      dets = {face_at(a, 100), face_at(b, 104)};
    } else {
      dets = {face_at(a, 100)};  // a passes in front: b is hidden
    }
    const auto tracks = tracker.update(dets, frame);
    if (frame == 10) {
      for (const auto& t : tracks) (t.face.box.x < 250 ? left_id : right_id) = t.id;
    }
    if (frame == 79) {
      ASSERT_NE(left_id, 0);
      for (const auto& t : tracks) {
        if (t.state != TrackState::confirmed) continue;
        EXPECT_EQ(t.id, t.face.box.x > 250 ? left_id : right_id) << "ids swapped";
      }
    }
  }
}

TEST(Tracker, ALostTrackFoundAgainAsANewTrackIsDroppedAsADuplicate) {
  Tracker tracker;  // lost_frames 30
  for (int frame = 0; frame < 10; ++frame)
    tracker.update({face_at(100 + 10.0f * frame, 100)}, frame);
  // Missed for two frames, then found standing still too far from the prediction: a new track
  // (2) starts, while lost track 1's prediction keeps moving right, onto track 2 at frame ~21.
  tracker.update({}, 10);
  tracker.update({}, 11);
  std::int64_t removed_at = -1;
  for (int frame = 12; frame < 40; ++frame) {
    const auto tracks = tracker.update({face_at(310, 100)}, frame);
    for (const auto& t : tracks) {
      if (t.id == 1 && t.state == TrackState::removed) removed_at = frame;
      if (t.matched) {
        EXPECT_EQ(t.id, 2) << "frame " << frame << ": the lost track took the face";
      }
    }
  }
  EXPECT_GE(removed_at, 18);
  EXPECT_LE(removed_at, 24) << "dropped as a duplicate, long before lost_frames ran out";
}

TEST(Tracker, SkippedFramesArePredictedOver) {
  Tracker tracker;
  std::vector<TrackedFace> tracks;
  for (int frame = 0; frame <= 90; frame += 3) {  // --every 3: 15 px per processed frame
    tracks = tracker.update({face_at(20 + 5.0f * frame, 100)}, frame);
  }
  ASSERT_EQ(tracks.size(), 1u);
  EXPECT_EQ(tracks[0].id, 1);
  EXPECT_NEAR(tracks[0].velocity.x, 5, 0.5) << "pixels per source frame";
  EXPECT_THROW(tracker.update({}, 90), InputError);
}

TEST(TrackFaceQuality, LargerSharperAndMoreFrontalScoreHigher) {
  cv::Mat sharp(200, 200, CV_8UC3);
  for (int y = 0; y < 200; ++y) {
    for (int x = 0; x < 200; ++x)
      sharp.at<cv::Vec3b>(y, x) = cv::Vec3b::all(((x / 4 + y / 4) % 2) * 200);
  }
  cv::Mat blurred;
  cv::GaussianBlur(sharp, blurred, cv::Size(0, 0), 6);
  const Face frontal = face_at(20, 20, 120);
  Face turned = frontal;
  turned.landmarks[2].x += 30;  // nose towards one eye
  const TrackFaceQuality q = face_quality(sharp, frontal);
  EXPECT_GT(q.sharpness, 0.8f);
  EXPECT_GT(q.frontal, 0.95f);
  EXPECT_LT(face_quality(blurred, frontal).sharpness, 0.3f);
  EXPECT_LT(face_quality(sharp, turned).frontal, 0.5f);
  EXPECT_GT(q.score(), face_quality(blurred, frontal).score());
  EXPECT_GT(q.score(), face_quality(sharp, turned).score());
  EXPECT_GT(q.score(), face_quality(sharp, face_at(20, 20, 40)).score());
  EXPECT_NEAR(q.side, std::sqrt(120.0f * 144.0f), 1e-3);
}

}  // namespace
}  // namespace clipface
