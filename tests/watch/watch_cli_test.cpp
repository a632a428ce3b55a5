// clipface watch as users run it: the output contract (event and frame lines, annotated video,
// snapshots, presence summaries), and every fault of the issue: sources that cannot be opened,
// truncated and corrupt files, a stream that stops part-way, unwritable outputs, a full disk and
// SIGINT. Each gives one clear line, the CLI's exit codes, and output that stays valid.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "clipface/video.hpp"
#include "support/processes.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::run_cli;
using testing::shared_path;

const std::string kExamples = "data/faces/named/face_recognition_examples/";
const std::string kObama = "data/faces/videos/obama_hieubkvn123.mp4";
const std::string kBiden = "data/faces/videos/biden_hieubkvn123.mp4";
constexpr int kPartial = 7;

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    EXPECT_FALSE(line.empty());
    lines.push_back(nlohmann::json::parse(line));  // throws (fails the test) on a broken line
  }
  return lines;
}

std::vector<nlohmann::json> events_of(const std::vector<nlohmann::json>& lines,
                                      const std::string& kind) {
  std::vector<nlohmann::json> out;
  for (const auto& j : lines) {
    if (j.value("event", "") == kind) out.push_back(j);
  }
  return out;
}

int count_lines(const std::string& text, const std::string& needle) {
  int n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

int playable_frames(const fs::path& video) {
  auto source = open_source(video.string());
  int frames = 0;
  while (source->next()) ++frames;
  return frames;
}

class WatchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SHARED(kExamples);
    CLIPFACE_REQUIRE_SHARED(kObama);
    CLIPFACE_REQUIRE_SHARED("models/dlib/dlib_face_recognition_resnet_model_v1.dat");
    env_ = {testing::make_models_home(home_.path())};
    gallery_ = (work_ / "gallery").string();
    testing::make_people_dir(work_ / "people",
                             {{"barack_obama", kExamples + "barack_obama/obama.jpg"},
                              {"barack_obama", kExamples + "barack_obama/obama1.jpg"},
                              {"joe_biden", kExamples + "joe_biden/biden.jpg"}});
    const auto r = cli({"enroll", gallery_, (work_ / "people").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  testing::CommandResult cli(std::vector<std::string> args) { return run_cli(args, env_); }
  std::string obama() const { return shared_path(kObama).string(); }

  testing::TempDir home_, work_;
  std::vector<std::string> env_;
  std::string gallery_;
};

TEST_F(WatchCli, EventsFramesVideoSnapshotsAndSummaryOfADevelopmentClip) {
  const fs::path video = work_ / "annotated.mp4", snaps = work_ / "snaps";
  const fs::path csv = work_ / "presence.csv", json = work_ / "presence.json";
  const auto r = cli({"watch", gallery_, obama(), "--every", "2", "--json-frames", "--annotate",
                      video.string(), "--snapshots", snaps.string(), "--summary-csv", csv.string(),
                      "--summary-json", json.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = json_lines(r.out);
  int frame_lines = 0;
  for (const auto& j : lines) {
    if (j.contains("event")) {
      for (const char* key : {"event", "source", "track", "frame", "time", "label"}) {
        EXPECT_TRUE(j.contains(key)) << key << " missing in " << j;
      }
      if (j["label"] != "pending") {
        EXPECT_TRUE(j.contains("score")) << j;
      }
      continue;
    }
    ++frame_lines;
    for (const char* key : {"frame", "time", "faces"}) EXPECT_TRUE(j.contains(key)) << j;
    for (const auto& face : j["faces"]) {
      for (const char* key : {"track", "box", "label", "score"})
        EXPECT_TRUE(face.contains(key)) << face;
      const auto& b = face["box"];
      EXPECT_GE(b[0].get<double>(), 0);
      EXPECT_GE(b[1].get<double>(), 0);
      EXPECT_LE(b[0].get<double>() + b[2].get<double>(), 854.01) << "clipped to the frame";
      EXPECT_LE(b[1].get<double>() + b[3].get<double>(), 480.01);
    }
  }
  EXPECT_EQ(frame_lines, 77);  // 153 frames, every second one
  const auto started = events_of(lines, "track_started");
  const auto identified = events_of(lines, "identified");
  const auto ended = events_of(lines, "track_ended");
  ASSERT_EQ(started.size(), 1u);
  ASSERT_EQ(identified.size(), 1u);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(identified[0]["label"], "barack_obama");
  EXPECT_GT(identified[0]["score"].get<double>(), 0.9);
  EXPECT_EQ(ended[0]["label"], "barack_obama");
  EXPECT_LT(ended[0]["first_time"].get<double>(), 0.3);
  EXPECT_GT(ended[0]["last_time"].get<double>(), 4.9);
  EXPECT_GE(ended[0]["frames"].get<int>(), 70);
  EXPECT_TRUE(ended[0].contains("best_score"));

  EXPECT_EQ(playable_frames(video), 77);
  EXPECT_TRUE(fs::exists(snaps / "obama_hieubkvn123-track1-barack_obama.jpg"));
  const std::string table = testing::read_text(csv);
  EXPECT_EQ(table.rfind("person,known,source,first_seen,last_seen,seconds", 0), 0u) << table;
  EXPECT_NE(table.find("barack_obama,true,"), std::string::npos) << table;
  const auto people = nlohmann::json::parse(testing::read_text(json))["people"];
  ASSERT_EQ(people.size(), 1u);
  EXPECT_EQ(people[0]["person"], "barack_obama");
  EXPECT_GT(people[0]["seconds"].get<double>(), 4.5);
  // The run's summary on stderr, nothing else there.
  EXPECT_EQ(count_lines(r.err, "77 frames in"), 1) << r.err;
}

TEST_F(WatchCli, EventsToAFileLeaveStdoutToThePresenceTable) {
  const fs::path events = work_ / "events.jsonl";
  const auto r =
      cli({"watch", gallery_, obama(), "--every", "5", "--events", events.string(), "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(events_of(json_lines(testing::read_text(events)), "track_ended").size(), 1u);
  EXPECT_NE(r.out.find("barack_obama"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('{'), std::string::npos) << "no JSON on stdout";
}

TEST_F(WatchCli, ImageFoldersAreFrames) {
  const fs::path frames = work_ / "frames";
  fs::create_directories(frames);
  const auto made = testing::run_program({"/usr/bin/ffmpeg", "-v", "error", "-i", obama(),
                                          "-frames:v", "20", (frames / "f%03d.jpg").string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const auto r = cli({"watch", gallery_, frames.string(), "--images-fps", "10", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ended = events_of(json_lines(r.out), "track_ended");
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0]["label"], "barack_obama");
  EXPECT_NEAR(ended[0]["last_time"].get<double>(), 1.9, 1e-6) << "frame 19 at 10 fps";
}

TEST_F(WatchCli, SourcesThatCannotBeOpenedGetOneLineAndTheirOwnExitCode) {
  const int port = testing::free_tcp_port();
  const std::pair<std::string, int> cases[] = {
      {(work_ / "missing.mp4").string(), 3},
      {"/dev/video57", 3},
      {"http://127.0.0.1:" + std::to_string(port) + "/live.ts", 6},
  };
  for (const auto& [source, code] : cases) {
    const auto r = cli({"watch", gallery_, source, "-q"});
    EXPECT_EQ(r.exit_code, code) << source << ": " << r.err;
    EXPECT_EQ(count_lines(r.err, "clipface: "), 1) << r.err;
    EXPECT_EQ(count_lines(r.err, "skipped " + source + ": "), 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

TEST_F(WatchCli, ASkippedSourceBesideGoodOnesGivesThePartialCodeStrictFailsFirst) {
  const std::string missing = (work_ / "missing.mkv").string();
  const auto r = cli({"watch", gallery_, obama(), missing, "--every", "10", "-q"});
  EXPECT_EQ(r.exit_code, kPartial) << r.err;
  EXPECT_EQ(count_lines(r.err, "skipped " + missing), 1) << r.err;
  EXPECT_EQ(events_of(json_lines(r.out), "track_ended").size(), 1u) << "the good source ran";

  const auto allowed =
      cli({"watch", gallery_, obama(), missing, "--every", "10", "-q", "--allow-skips"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;

  const fs::path events = work_ / "strict.jsonl";
  const auto strict =
      cli({"watch", gallery_, obama(), missing, "--strict", "--events", events.string()});
  EXPECT_EQ(strict.exit_code, 3) << strict.err;
  EXPECT_NE(strict.err.find("--strict"), std::string::npos) << strict.err;
  EXPECT_FALSE(fs::exists(events)) << "nothing written";
}

TEST_F(WatchCli, UnwritableOutputsFailWithOneClearLine) {
  const std::vector<std::vector<std::string>> cases = {
      {"--events", (work_ / "no" / "such" / "events.jsonl").string()},
      {"--annotate", (work_ / "no" / "such" / "video.mp4").string()},
      {"--annotate", (work_ / "video.gif").string()},
  };
  for (const auto& extra : cases) {
    std::vector<std::string> args = {"watch", gallery_, obama(), "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = cli(args);
    EXPECT_EQ(r.exit_code, 2) << extra[1] << ": " << r.err;
    EXPECT_EQ(count_lines(r.err, "clipface: error: cannot write"), 1) << r.err;
  }
}

TEST_F(WatchCli, AFullDiskStopsTheRunAndLeavesEveryLineAndFramePlayable) {
  {  // /dev/full: every write fails with ENOSPC
    const auto r = cli({"watch", gallery_, obama(), "--events", "/dev/full", "-q"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  }
  testing::TinyDisk disk(400 * 1024);
  if (!disk.ok()) GTEST_SKIP() << "cannot mount a small tmpfs (not root)";
  CLIPFACE_REQUIRE_SHARED(kBiden);
  const fs::path video = disk.path() / "biden.mp4", events = disk.path() / "events.jsonl";
  const auto r = cli({"watch", gallery_, shared_path(kBiden).string(), "--annotate", video.string(),
                      "--events", events.string(), "--json-frames", "-q"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_lines(r.err, "No space left on device"), 1) << r.err;
  const auto lines = json_lines(testing::read_text(events));  // every line parses
  EXPECT_GT(lines.size(), 10u);
  EXPECT_GT(playable_frames(video), 20);
}

TEST_F(WatchCli, TruncatedAndCorruptFilesAreUsedAsFarAsTheyGo) {
  const std::string bytes = testing::read_text(shared_path(kObama));
  const fs::path cut = work_ / "cut.mp4", damaged = work_ / "damaged.mp4";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::string broken = bytes;
  for (std::size_t i = 300000; i < 360000; ++i) broken[i] = static_cast<char>(i * 7919 % 251);
  std::ofstream(damaged, std::ios::binary) << broken;

  const auto truncated = cli({"watch", gallery_, cut.string(), "-q"});
  EXPECT_EQ(truncated.exit_code, kPartial) << truncated.err;
  EXPECT_EQ(count_lines(truncated.err, "truncated"), 1) << truncated.err;
  const auto lines = json_lines(truncated.out);
  ASSERT_EQ(events_of(lines, "track_ended").size(), 1u);
  EXPECT_EQ(events_of(lines, "track_ended")[0]["label"], "barack_obama");

  const auto corrupt = cli({"watch", gallery_, damaged.string(), "-q"});
  EXPECT_EQ(corrupt.exit_code, kPartial) << corrupt.err;
  EXPECT_EQ(count_lines(corrupt.err, "corrupt frames skipped"), 1) << corrupt.err;
  EXPECT_GE(count_lines(corrupt.err, "clipface: skipped frame "), 1) << corrupt.err;
  EXPECT_EQ(events_of(json_lines(corrupt.out), "identified")[0]["label"], "barack_obama");
}

TEST_F(WatchCli, AStreamThatStopsPartWayReconnectsThenEndsWithAClearMessage) {
  const int port = testing::free_tcp_port();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/live.ts";
  auto server = std::make_unique<testing::BackgroundProcess>(
      std::vector<std::string>{"/usr/bin/ffmpeg", "-v", "error", "-re", "-i", obama(), "-an", "-c",
                               "copy", "-f", "mpegts", "-listen", "1", url});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the server starts listening
  ASSERT_TRUE(server->running()) << server->err();
  const fs::path events = work_ / "events.jsonl";
  testing::BackgroundProcess watch(
      {CLIPFACE_BINARY, "watch", gallery_, url, "--events", events.string(), "--reconnect", "2",
       "--read-timeout", "2", "-q"},
      env_);
  // Once the face is named, the server goes away.
  ASSERT_TRUE(testing::wait_until(
      [&] { return testing::read_text(events).find("identified") != std::string::npos; },
      std::chrono::seconds(30)))
      << watch.err();
  server->signal(SIGKILL);
  const int code = watch.wait(std::chrono::seconds(30));
  EXPECT_EQ(code, kPartial) << watch.err();
  EXPECT_EQ(count_lines(watch.err(), "2 reconnection attempts failed"), 1) << watch.err();
  const auto lines = json_lines(testing::read_text(events));
  ASSERT_EQ(events_of(lines, "track_ended").size(), 1u) << "the track was closed at the end";
  EXPECT_EQ(events_of(lines, "track_ended")[0]["label"], "barack_obama");
}

TEST_F(WatchCli, SigintDrainsTheQueuesAndFinishesVideoEventsAndSummary) {
  const fs::path video = work_ / "live.mp4", events = work_ / "events.jsonl";
  const fs::path summary = work_ / "presence.json";
  testing::BackgroundProcess watch(
      {CLIPFACE_BINARY, "watch", gallery_, obama(), "--realtime", "--annotate", video.string(),
       "--events", events.string(), "--summary-json", summary.string(), "-q"},
      env_);
  ASSERT_TRUE(testing::wait_until(
      [&] { return testing::read_text(events).find("identified") != std::string::npos; },
      std::chrono::seconds(30)))
      << watch.err();
  watch.signal(SIGINT);
  const int code = watch.wait(std::chrono::seconds(20));
  EXPECT_EQ(code, 0) << watch.err();
  EXPECT_NE(watch.err().find("stopped"), std::string::npos) << watch.err();
  const auto lines = json_lines(testing::read_text(events));
  ASSERT_EQ(events_of(lines, "track_ended").size(), 1u);
  const double last = events_of(lines, "track_ended")[0]["last_time"].get<double>();
  EXPECT_LT(last, 4.5) << "stopped before the end of the clip";
  EXPECT_GT(playable_frames(video), 3);
  EXPECT_EQ(nlohmann::json::parse(testing::read_text(summary))["people"][0]["person"],
            "barack_obama");
}

}  // namespace
}  // namespace clipface
