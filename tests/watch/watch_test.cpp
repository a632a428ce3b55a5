// The watch pipeline through the library: the development clips named and tracked with the
// face_recognition people enrolled (dlib), both clips at once with one shared embedder; live
// sources drop frames when the pipeline is behind while files never do; sampling, region of
// interest, stop() and a failing sink.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <thread>

#include "clipface/errors.hpp"
#include "clipface/recognizer.hpp"
#include "clipface/video_writer.hpp"
#include "clipface/watch.hpp"
#include "clipface/watch_sinks.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::shared_path;

const std::string kExamples = "data/faces/named/face_recognition_examples/";
const std::string kObama = "data/faces/videos/obama_hieubkvn123.mp4";
const std::string kBiden = "data/faces/videos/biden_hieubkvn123.mp4";

// Everything a run produced, without the images.
class Recorder final : public WatchSink {
 public:
  void event(const WatchEvent& e) override {
    std::lock_guard lock(mutex);
    events.push_back(e);
  }
  void frame(const WatchFrame& f, const cv::Mat& image, const cv::Mat&) override {
    std::lock_guard lock(mutex);
    frames.push_back(f);
    if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    if (fail_at >= 0 && static_cast<int>(frames.size()) > fail_at) {
      throw InputError("recorder: failing on purpose");
    }
    EXPECT_EQ(image.size(), f.size);
  }
  std::vector<WatchEvent> of(int source, WatchEventKind kind) const {
    std::vector<WatchEvent> out;
    for (const auto& e : events) {
      if (e.source == source && e.kind == kind) out.push_back(e);
    }
    return out;
  }
  std::mutex mutex;
  std::vector<WatchEvent> events;
  std::vector<WatchFrame> frames;
  int delay_ms = 0;
  int fail_at = -1;
};

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SHARED(kExamples);
    CLIPFACE_REQUIRE_SHARED(kObama);
    CLIPFACE_REQUIRE_SHARED("models/dlib/dlib_face_recognition_resnet_model_v1.dat");
    setenv("CLIPFACE_HOME", home_.path().c_str(), 1);
    testing::make_models_home(home_.path());
    PipelineOptions o;
    o.embedder = "dlib";
    pipeline_ = std::make_unique<FacePipeline>(o);
  }

  // A gallery of the given people folders under face_recognition_examples (all when empty).
  Gallery enroll(const std::vector<std::string>& people = {}) {
    fs::path dir = shared_path(kExamples);
    if (!people.empty()) {
      dir = work_ / "people";
      std::vector<std::pair<std::string, std::string>> entries;
      for (const auto& person : people) {
        for (const auto& f : fs::directory_iterator(shared_path(kExamples + person))) {
          entries.push_back({person, kExamples + person + "/" + f.path().filename().string()});
        }
      }
      testing::make_people_dir(dir, entries);
    }
    Gallery gallery = Gallery::create(work_ / ("gallery" + std::to_string(galleries_++)),
                                      pipeline_->embedder().info());
    EnrollOptions options;
    options.progress = false;
    enroll_people(gallery, *pipeline_, list_people(dir), options);
    return gallery;
  }

  WatchOptions options(const Gallery& gallery) const {
    WatchOptions o;
    o.vote = gallery.vote_rule();
    return o;
  }

  testing::TempDir home_, work_;
  std::unique_ptr<FacePipeline> pipeline_;
  int galleries_ = 0;
};

struct ClipFigures {
  int frames_with_face = 0;  // a confident detection in the frame
  int named_right = 0;
  std::set<std::int64_t> tracks;
  std::set<std::string> labels;  // decided labels shown
};

ClipFigures figures(const Recorder& r, int source, const std::string& person) {
  ClipFigures f;
  for (const WatchFrame& frame : r.frames) {
    if (frame.source != source || frame.detected == 0) continue;
    ++f.frames_with_face;
    bool right = false;
    for (const WatchFace& face : frame.faces) {
      f.tracks.insert(face.track);
      if (face.label != kPending) f.labels.insert(face.label);
      right |= face.label == person;
    }
    f.named_right += right;
  }
  return f;
}

TEST_F(WatchTest, DevelopmentClipsAreNamedInNearlyEveryFrameWithOneTrackEach) {
  CLIPFACE_REQUIRE_SHARED(kBiden);
  const Gallery gallery = enroll();
  Watch watch(gallery, pipeline_->embedder(), options(gallery));
  auto recorder = std::make_shared<Recorder>();
  watch.add_sink(recorder);
  // Both clips in one process: one pipeline each, one embedder for both.
  EXPECT_EQ(watch.add_source(shared_path(kObama).string()), 0);
  EXPECT_EQ(watch.add_source(shared_path(kBiden).string()), 1);
  const WatchReport report = watch.run();
  ASSERT_EQ(report.sources.size(), 2u);
  const std::pair<int, std::string> clips[] = {{0, "barack_obama"}, {1, "joe_biden"}};
  for (const auto& [source, person] : clips) {
    const SourceReport& s = report.sources[source];
    EXPECT_EQ(s.processed, source == 0 ? 153 : 210);
    EXPECT_EQ(s.dropped, 0);
    EXPECT_EQ(s.stats.end, SourceEnd::finished);
    const ClipFigures f = figures(*recorder, source, person);
    EXPECT_GE(f.frames_with_face, s.processed * 9 / 10) << person;
    EXPECT_GE(f.named_right, f.frames_with_face * 95 / 100)
        << person << ": " << f.named_right << " of " << f.frames_with_face << " frames";
    EXPECT_EQ(f.tracks.size(), 1u) << person << ": one confirmed track";
    EXPECT_EQ(f.labels, std::set<std::string>{person}) << "no identity switch";
    EXPECT_EQ(recorder->of(source, WatchEventKind::track_started).size(), 1u);
    EXPECT_EQ(recorder->of(source, WatchEventKind::identified).size(), 1u);
    const auto ended = recorder->of(source, WatchEventKind::track_ended);
    ASSERT_EQ(ended.size(), 1u);
    EXPECT_EQ(ended[0].label, person);
    EXPECT_GT(ended[0].best_score, 0.9f);
    EXPECT_GE(ended[0].frames_seen, f.named_right);
    // Embedded every few frames, not every frame.
    EXPECT_LT(s.embeddings, s.faces / 4);
    EXPECT_GT(s.embeddings, 4);
  }
}

TEST_F(WatchTest, WithOnlyObamaEnrolledTheBidenClipStaysUnknownInEveryDecidedFrame) {
  CLIPFACE_REQUIRE_SHARED(kBiden);
  const Gallery gallery = enroll({"barack_obama"});
  Watch watch(gallery, pipeline_->embedder(), options(gallery));
  auto recorder = std::make_shared<Recorder>();
  watch.add_source(shared_path(kBiden).string(), {recorder});
  watch.run();
  int decided = 0;
  for (const WatchFrame& frame : recorder->frames) {
    for (const WatchFace& face : frame.faces) {
      if (face.label == kPending) continue;
      ++decided;
      EXPECT_FALSE(face.known) << "frame " << frame.frame << ": " << face.label;
      EXPECT_EQ(face.label, "unknown-1");
    }
  }
  EXPECT_GE(decided, 190);
}

// A clip without faces (a moving square), for the pipeline's own behaviour.
fs::path plain_clip(const fs::path& dir, int frames, double fps = 30) {
  const fs::path path = dir / "plain.mp4";
  VideoWriterOptions o;
  o.fps = fps;
  VideoWriter writer(path, {320, 240}, o);
  for (int i = 0; i < frames; ++i) {
    cv::Mat frame(240, 320, CV_8UC3, cv::Scalar(30, 90, 60));
    cv::rectangle(frame, cv::Rect(5 + 2 * (i % 120), 100, 40, 40), cv::Scalar(250, 250, 250),
                  cv::FILLED);
    writer.write(frame, i / fps);
  }
  writer.close();
  return path;
}

TEST_F(WatchTest, ALiveSourceDropsFramesWhenBehindAFileNever) {
  const Gallery gallery = enroll({"barack_obama"});
  const fs::path clip = plain_clip(work_.path(), 60);
  for (const bool live : {true, false}) {
    WatchOptions o = options(gallery);
    o.source.realtime = live;  // read at 30 fps, like a camera
    Watch watch(gallery, pipeline_->embedder(), o);
    auto slow = std::make_shared<Recorder>();
    slow->delay_ms = 80;  // the pipeline manages ~12 fps
    watch.add_source(clip.string(), {slow});
    const SourceReport r = watch.run().sources.at(0);
    EXPECT_EQ(r.decoded, 60);
    if (live) {
      EXPECT_TRUE(r.info.live);
      EXPECT_GT(r.dropped, 20) << "dropped instead of lagging";
      EXPECT_EQ(r.processed + r.dropped, r.decoded);
      // Never more behind than the queues hold.
      EXPECT_LT(r.latency_p95_ms, 1000);
    } else {
      EXPECT_EQ(r.dropped, 0);
      EXPECT_EQ(r.processed, 60);
    }
    EXPECT_EQ(static_cast<std::int64_t>(slow->frames.size()), r.processed);
    for (std::size_t i = 1; i < slow->frames.size(); ++i) {
      EXPECT_GT(slow->frames[i].frame, slow->frames[i - 1].frame) << "in order";
    }
  }
}

TEST_F(WatchTest, EveryAndMaxFpsSampleFrames) {
  const Gallery gallery = enroll({"barack_obama"});
  const fs::path clip = plain_clip(work_.path(), 60);
  for (const auto& [every, max_fps, expected] : {std::tuple{3, 0.0, 20}, std::tuple{1, 10.0, 20}}) {
    WatchOptions o = options(gallery);
    o.every = every;
    o.max_fps = max_fps;
    Watch watch(gallery, pipeline_->embedder(), o);
    auto recorder = std::make_shared<Recorder>();
    watch.add_source(clip.string(), {recorder});
    const SourceReport r = watch.run().sources.at(0);
    EXPECT_EQ(r.processed, expected);
    EXPECT_EQ(r.sampled_out, 60 - expected);
    EXPECT_EQ(r.dropped, 0);
    EXPECT_EQ(recorder->frames[1].frame, 3);
  }
}

TEST_F(WatchTest, StopEndsALiveRunSoonAndFinishesTheSinks) {
  const Gallery gallery = enroll({"barack_obama"});
  const fs::path clip = plain_clip(work_.path(), 300);  // 10 s at its real rate
  WatchOptions o = options(gallery);
  o.source.realtime = true;
  Watch watch(gallery, pipeline_->embedder(), o);
  auto video = std::make_shared<AnnotatedVideoSink>(work_ / "stopped.mp4");
  watch.add_source(clip.string(), {video});
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    watch.stop();
  });
  const auto start = std::chrono::steady_clock::now();
  const WatchReport report = watch.run();
  stopper.join();
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(report.stopped);
  EXPECT_LT(took, 3.0);
  const SourceReport& r = report.sources.at(0);
  EXPECT_EQ(r.stats.end, SourceEnd::stopped);
  EXPECT_GT(r.processed, 5);
  EXPECT_LT(r.processed, 100);
  // The video was finished: every processed frame plays.
  auto written = open_source((work_ / "stopped.mp4").string());
  int frames = 0;
  while (written->next()) ++frames;
  EXPECT_EQ(frames, r.processed);
}

TEST_F(WatchTest, AFailingSinkStopsTheRunAndTheOtherSinksStillFinish) {
  const Gallery gallery = enroll({"barack_obama"});
  const fs::path clip = plain_clip(work_.path(), 90);
  Watch watch(gallery, pipeline_->embedder(), options(gallery));
  auto failing = std::make_shared<Recorder>();
  failing->fail_at = 10;
  auto video = std::make_shared<AnnotatedVideoSink>(work_ / "partial.mp4");
  watch.add_source(clip.string(), {video, failing});
  EXPECT_THROW(watch.run(), InputError);
  auto written = open_source((work_ / "partial.mp4").string());
  int frames = 0;
  while (written->next()) ++frames;
  EXPECT_GE(frames, 10);
  EXPECT_LT(frames, 90);
}

TEST_F(WatchTest, OnlyFacesInsideTheRegionOfInterestCount) {
  const Gallery gallery = enroll({"barack_obama"});
  // Obama's face is around x 385..490 of 854, y 60..195 of 480.
  for (const auto& [roi, expect_faces] : {std::pair{cv::Rect2f(0, 0, 0.3f, 1), false},
                                          std::pair{cv::Rect2f(300, 0, 300, 300), true}}) {
    WatchOptions o = options(gallery);
    o.roi = roi;
    o.every = 5;
    Watch watch(gallery, pipeline_->embedder(), o);
    auto recorder = std::make_shared<Recorder>();
    watch.add_source(shared_path(kObama).string(), {recorder});
    watch.run();
    int faces = 0;
    for (const auto& f : recorder->frames) {
      for (const auto& face : f.faces) {
        ++faces;
        EXPECT_TRUE(cv::Rect2f(roi).contains(face.box.tl())) << "outside the region";
      }
    }
    EXPECT_EQ(faces > 0, expect_faces);
  }
  WatchOptions bad = options(gallery);
  bad.roi = cv::Rect2f(0, 0, -1, 10);
  EXPECT_THROW(Watch(gallery, pipeline_->embedder(), bad), InputError);
}

TEST(WatchJson, EventAndFrameLinesCarryTheFieldsOfTheContract) {
  WatchEvent e;
  e.kind = WatchEventKind::identified;
  e.source_name = "door.mp4";
  e.track = 3;
  e.frame = 42;
  e.time = 1.4000000001;
  e.label = "ada";
  e.known = true;
  e.score = 0.93215f;
  e.previous = kPending;
  const auto j = nlohmann::json::parse(to_json(e));
  EXPECT_EQ(j["event"], "identified");
  EXPECT_EQ(j["source"], "door.mp4");
  EXPECT_EQ(j["track"], 3);
  EXPECT_EQ(j["frame"], 42);
  EXPECT_EQ(j["time"], 1.4);
  EXPECT_EQ(j["label"], "ada");
  EXPECT_NEAR(j["score"].get<double>(), 0.9322, 1e-9);
  EXPECT_EQ(j["previous"], "pending");
  e.kind = WatchEventKind::track_started;
  e.label = kPending;
  EXPECT_FALSE(nlohmann::json::parse(to_json(e)).contains("score")) << "no score while pending";

  WatchFrame f;
  f.source_name = "door.mp4";
  f.frame = 42;
  f.time = 1.4;
  WatchFace face;
  face.track = 3;
  face.box = cv::Rect2f(0, 10, 50.04f, 60);
  face.box_raw = cv::Rect2f(-8, 10, 58.04f, 60);
  face.label = "ada";
  face.score = 0.9f;
  f.faces.push_back(face);
  const auto fj = nlohmann::json::parse(to_json(f));
  EXPECT_EQ(fj["frame"], 42);
  EXPECT_EQ(fj["time"], 1.4);
  ASSERT_EQ(fj["faces"].size(), 1u);
  EXPECT_EQ(fj["faces"][0]["track"], 3);
  EXPECT_EQ(fj["faces"][0]["box"], (nlohmann::json{0.0, 10.0, 50.0, 60.0}));
  EXPECT_EQ(fj["faces"][0]["box_raw"][0], -8.0);
  EXPECT_EQ(fj["faces"][0]["label"], "ada");
  EXPECT_NEAR(fj["faces"][0]["score"].get<double>(), 0.9, 1e-6);
}

TEST(WatchNames, SourceStemsAreFileNameSafe) {
  EXPECT_EQ(source_stem("clips/obama.mp4"), "obama");
  EXPECT_EQ(source_stem("/dev/video2"), "camera2");
  EXPECT_EQ(source_stem("0"), "camera0");
  EXPECT_EQ(source_stem("rtsp://user:pw@10.0.0.2:554/live/main?x=1"), "10.0.0.2_554_live_main");
  EXPECT_EQ(source_stem("frames/door/*.jpg"), "door");
}

}  // namespace
}  // namespace clipface
