// Frame sources and the video writer on real files: the development clips, copies of them cut
// short or overwritten mid-way, image folders, missing cameras, an HTTP stream served by ffmpeg
// that stops part-way, and annotated video that must stay playable when its writer dies or the
// disk fills up.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "clipface/errors.hpp"
#include "clipface/video.hpp"
#include "clipface/video_writer.hpp"
#include "support/processes.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::shared_path;

const std::string kObama = "data/faces/videos/obama_hieubkvn123.mp4";
const std::string kBiden = "data/faces/videos/biden_hieubkvn123.mp4";

struct ReadResult {
  std::vector<VideoFrame> frames;
  SourceStats stats;
};

ReadResult read_all(FrameSource& source, std::size_t keep_images = 0) {
  ReadResult r;
  while (auto frame = source.next()) {
    if (r.frames.size() >= keep_images) frame->image.release();
    r.frames.push_back(std::move(*frame));
  }
  r.stats = source.stats();
  return r;
}

ReadResult read_all(const std::string& spec, const SourceOptions& options = {}) {
  auto source = open_source(spec, options);
  return read_all(*source);
}

// A copy of `from` with `count` bytes at `offset` overwritten by a fixed pseudo-random pattern.
void damage_copy(const fs::path& from, const fs::path& to, std::size_t offset, std::size_t count) {
  std::string bytes = testing::read_text(from);
  ASSERT_LT(offset + count, bytes.size());
  std::uint32_t x = 12345;
  for (std::size_t i = 0; i < count; ++i) {
    x = x * 1664525u + 1013904223u;
    bytes[offset + i] = static_cast<char>(x >> 24);
  }
  std::ofstream(to, std::ios::binary) << bytes;
}

void truncated_copy(const fs::path& from, const fs::path& to, double fraction) {
  const std::string bytes = testing::read_text(from);
  std::ofstream(to, std::ios::binary)
      << bytes.substr(0, static_cast<std::size_t>(bytes.size() * fraction));
}

// A frame of a synthetic clip: a bright square moving right, the frame number in its pixels.
cv::Mat synthetic_frame(int i, cv::Size size = {320, 240}) {
  cv::Mat frame(size, CV_8UC3, cv::Scalar(40, 60, 80));
  cv::rectangle(frame, cv::Rect(10 + 3 * i, 80, 60, 60), cv::Scalar(240, 240, 240), cv::FILLED);
  cv::putText(frame, std::to_string(i), {20, 40}, cv::FONT_HERSHEY_SIMPLEX, 1.0,
              cv::Scalar(0, 255, 255), 2);
  return frame;
}

void write_synthetic(const fs::path& path, int frames, double fps = 30) {
  VideoWriterOptions options;
  options.fps = fps;
  VideoWriter writer(path, {320, 240}, options);
  for (int i = 0; i < frames; ++i) writer.write(synthetic_frame(i), i / fps);
  writer.close();
}

TEST(SourceKinds, ClassifiedFromTheirSpelling) {
  testing::TempDir dir;
  EXPECT_EQ(classify_source("rtsp://10.0.0.2/stream1"), SourceKind::stream);
  EXPECT_EQ(classify_source("http://127.0.0.1:8080/live.ts"), SourceKind::stream);
  EXPECT_EQ(classify_source("https://example.org/a.m3u8"), SourceKind::stream);
  EXPECT_EQ(classify_source("/dev/video0"), SourceKind::camera);
  EXPECT_EQ(classify_source("2"), SourceKind::camera);
  EXPECT_EQ(classify_source(dir.path().string()), SourceKind::images);
  EXPECT_EQ(classify_source((dir / "*.jpg").string()), SourceKind::images);
  EXPECT_EQ(classify_source("clip.mp4"), SourceKind::file);
  EXPECT_EQ(classify_source("missing.mkv"), SourceKind::file);
}

TEST(FileSource, DecodesEveryFrameOfTheDevelopmentClipsWithTheirTimes) {
  CLIPFACE_REQUIRE_SHARED(kObama);
  CLIPFACE_REQUIRE_SHARED(kBiden);
  for (const auto& [clip, frames, fps, size] :
       {std::tuple{kObama, 153, 29.97, cv::Size(854, 480)},
        std::tuple{kBiden, 210, 30.0, cv::Size(1280, 720)}}) {
    auto source = open_source(shared_path(clip).string());
    const SourceInfo info = source->info();
    EXPECT_EQ(info.kind, SourceKind::file);
    EXPECT_FALSE(info.live);
    EXPECT_NEAR(info.fps, fps, 0.01);
    EXPECT_EQ(info.size, size);
    EXPECT_EQ(info.frame_count, frames);
    const ReadResult r = read_all(*source, 1);
    ASSERT_EQ(static_cast<int>(r.frames.size()), frames) << clip;
    EXPECT_EQ(r.frames[0].image.size(), size);
    EXPECT_EQ(r.frames[0].image.type(), CV_8UC3);
    for (int i = 0; i < frames; ++i) {
      EXPECT_EQ(r.frames[i].index, i);
      EXPECT_NEAR(r.frames[i].time, i / fps, 0.002) << clip << " frame " << i;
    }
    EXPECT_EQ(r.stats.end, SourceEnd::finished);
    EXPECT_EQ(r.stats.corrupt, 0);
    EXPECT_EQ(r.stats.frames, frames);
  }
}

TEST(FileSource, CorruptBytesMidWaySkipAndCountTheDamagedFramesOnly) {
  CLIPFACE_REQUIRE_SHARED(kObama);
  testing::TempDir dir;
  const fs::path damaged = dir / "damaged.mp4";
  damage_copy(shared_path(kObama), damaged, 300000, 60000);  // about 10 frames of data
  std::vector<std::string> skipped;
  SourceOptions options;
  options.on_skip = [&](const std::string& what, const std::string& why) {
    skipped.push_back(what + ": " + why);
  };
  const ReadResult r = read_all(damaged.string(), options);
  EXPECT_GT(r.stats.corrupt, 0);
  EXPECT_EQ(static_cast<std::size_t>(r.stats.corrupt), skipped.size());
  EXPECT_GE(r.stats.frames, 120) << "decoding resumes after the damage";
  EXPECT_LE(r.stats.frames + r.stats.corrupt, 153 + 2);
  // Times stay those of the file: strictly increasing, with a gap where frames were lost.
  for (std::size_t i = 1; i < r.frames.size(); ++i) {
    EXPECT_GT(r.frames[i].time, r.frames[i - 1].time);
    EXPECT_GT(r.frames[i].index, r.frames[i - 1].index);
  }
  EXPECT_NEAR(r.frames.back().time, 152 / 29.97, 0.05);
}

TEST(FileSource, TruncatedFileEndsWithAClearReasonAfterTheFramesItHas) {
  CLIPFACE_REQUIRE_SHARED(kObama);
  testing::TempDir dir;
  const fs::path cut = dir / "cut.mp4";
  truncated_copy(shared_path(kObama), cut, 0.5);
  const ReadResult r = read_all(cut.string());
  EXPECT_GT(r.stats.frames, 40);
  EXPECT_LT(r.stats.frames, 120);
  EXPECT_EQ(r.stats.end, SourceEnd::truncated);
  EXPECT_NE(r.stats.message.find("of 153 frames"), std::string::npos) << r.stats.message;
}

TEST(FileSource, UnopenableFilesThrowImageErrorNamingTheFile) {
  testing::TempDir dir;
  std::ofstream(dir / "notes.mp4") << "these are not video frames\n";
  std::ofstream(dir / "empty.mkv");
  for (const fs::path& path : {dir / "missing.mp4", dir / "notes.mp4", dir / "empty.mkv"}) {
    try {
      open_source(path.string());
      ADD_FAILURE() << "opened " << path;
    } catch (const ImageError& e) {
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
  }
}

TEST(FileSource, AnMp4CutBeforeItsIndexCannotBeOpened) {
  testing::TempDir dir;
  // A plain (not fragmented) MP4 with its index at the end, as cameras and phones write them.
  const fs::path whole = dir / "whole.mp4";
  const auto made = testing::run_program({"/usr/bin/ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                                          "testsrc=size=160x120:rate=10", "-t", "2", "-c:v",
                                          "libx264", "-pix_fmt", "yuv420p", whole.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  truncated_copy(whole, dir / "cut.mp4", 0.6);
  try {
    open_source((dir / "cut.mp4").string());
    ADD_FAILURE() << "opened a file without its index";
  } catch (const ImageError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

TEST(CameraSource, MissingCameraIsAClearImageError) {
  for (const std::string spec : {"/dev/video57", "57"}) {
    try {
      open_source(spec);
      ADD_FAILURE() << "opened camera " << spec;
    } catch (const ImageError& e) {
      EXPECT_NE(std::string(e.what()).find("/dev/video57"), std::string::npos) << e.what();
    }
  }
}

TEST(ImageSequence, FolderAndGlobInPathOrderSkippingUnreadableImages) {
  testing::TempDir dir;
  for (int i = 0; i < 5; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "f%03d.png", i);
    ASSERT_TRUE(cv::imwrite((dir / name).string(), synthetic_frame(i)));
  }
  std::ofstream(dir / "f002b.png") << "broken";
  std::vector<std::string> skipped;
  SourceOptions options;
  options.images_fps = 10;
  options.on_skip = [&](const std::string& what, const std::string&) { skipped.push_back(what); };
  const ReadResult r = read_all(dir.path().string(), options);
  ASSERT_EQ(r.frames.size(), 5u);
  EXPECT_EQ(r.stats.corrupt, 1);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("f002b.png"), std::string::npos);
  EXPECT_NEAR(r.frames[4].time, 5 / 10.0, 1e-9) << "f002b takes a slot in path order";
  EXPECT_EQ(r.stats.end, SourceEnd::finished);

  const ReadResult globbed = read_all((dir / "f00[0-2].png").string(), options);
  EXPECT_EQ(globbed.frames.size(), 3u);
  EXPECT_THROW(open_source((dir / "*.tiff").string()), InputError);
  testing::TempDir empty;
  EXPECT_THROW(open_source(empty.path().string()), ImageError);
}

TEST(VideoWriter, WritesH264ThatReadsBackFrameForFrame) {
  testing::TempDir dir;
  for (const char* name : {"out.mp4", "out.mkv"}) {
    write_synthetic(dir / name, 45);
    auto source = open_source((dir / name).string());
    const ReadResult r = read_all(*source, 45);
    ASSERT_EQ(r.frames.size(), 45u) << name;
    EXPECT_EQ(r.frames[0].image.size(), cv::Size(320, 240));
    EXPECT_NEAR(r.frames[30].time, 1.0, 0.01);
    // Lossy, but frame 30 shows what was drawn for frame 30, not its neighbours.
    auto distance = [&](int drawn) {
      return cv::norm(r.frames[30].image, synthetic_frame(drawn), cv::NORM_L1) / (320 * 240);
    };
    EXPECT_LT(distance(30), 12.0);
    EXPECT_LT(distance(30), distance(29));
    EXPECT_LT(distance(30), distance(31));
  }
}

TEST(VideoWriter, FileStaysPlayableWhenTheWriterDiesWithoutClosing) {
  testing::TempDir dir;
  const fs::path path = dir / "killed.mp4";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    VideoWriter* writer = new VideoWriter(path, {320, 240});  // never closed
    for (int i = 0; i < 100; ++i) writer->write(synthetic_frame(i), i / 30.0);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  const ReadResult r = read_all(path.string());
  // One keyframe a second: every complete fragment (3 seconds of 3.3) plays.
  EXPECT_GE(r.frames.size(), 60u);
}

TEST(VideoWriter, UnwritablePathsAndUnknownContainersAreInputErrors) {
  testing::TempDir dir;
  EXPECT_THROW(VideoWriter(dir / "no" / "such" / "folder.mp4", {320, 240}), InputError);
  EXPECT_THROW(VideoWriter(dir / "out.gif", {320, 240}), InputError);
  fs::create_directories(dir / "ro");
  fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec);
  if (::geteuid() != 0) {  // root writes anywhere
    EXPECT_THROW(VideoWriter(dir / "ro" / "a.mp4", {320, 240}), InputError);
  }
}

TEST(VideoWriter, FullDiskIsReportedAndWhatWasWrittenStillPlays) {
  {  // /dev/full fails every write with ENOSPC
    VideoWriterOptions options;
    options.container = "mp4";
    EXPECT_THROW(
        {
          VideoWriter writer("/dev/full", {320, 240}, options);
          for (int i = 0; i < 100; ++i) writer.write(synthetic_frame(i), i / 30.0);
          writer.close();
        },
        InputError);
  }
  testing::TinyDisk disk(1024 * 1024);
  if (!disk.ok()) GTEST_SKIP() << "cannot mount a small tmpfs (not root)";
  const fs::path path = disk.path() / "full.mp4";
  std::string error;
  int written = 0;
  try {
    VideoWriter writer(path, {320, 240});
    for (int i = 0; i < 3000; ++i) {
      cv::Mat noisy = synthetic_frame(i);
      cv::randu(noisy(cv::Rect(0, 200, 320, 40)), 0, 255);  // incompressible: fills the disk
      writer.write(noisy, i / 30.0);
      ++written;
    }
    writer.close();
  } catch (const InputError& e) {
    error = e.what();
  }
  ASSERT_FALSE(error.empty()) << "the disk never filled";
  EXPECT_NE(error.find("No space left on device"), std::string::npos) << error;
  EXPECT_NE(error.find(path.string()), std::string::npos) << error;
  ASSERT_GT(written, 90);
  const ReadResult r = read_all(path.string());
  // Everything up to the last complete fragment (one second, 30 frames) plays.
  EXPECT_GE(static_cast<int>(r.frames.size()), written - 31) << "of " << written;
}

// ffmpeg serving a clip as MPEG-TS over HTTP on 127.0.0.1, at its real rate, to one client.
class StreamServer {
 public:
  StreamServer(const fs::path& clip, int port)
      : url_("http://127.0.0.1:" + std::to_string(port) + "/live.ts"),
        process_({"/usr/bin/ffmpeg", "-v", "error", "-re", "-i", clip.string(), "-an", "-c", "copy",
                  "-f", "mpegts", "-listen", "1", url_}) {}
  const std::string& url() const { return url_; }
  void signal(int sig) { process_.signal(sig); }

 private:
  std::string url_;
  testing::BackgroundProcess process_;
};

std::unique_ptr<FrameSource> connect(const std::string& url, const SourceOptions& options) {
  // The server needs a moment to listen; the first open does not retry.
  for (int attempt = 0;; ++attempt) {
    try {
      return open_source(url, options);
    } catch (const DownloadError&) {
      if (attempt == 50) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

TEST(StreamSource, ReconnectsAfterTheServerStopsThenEndsAsLostWithBoundedBackOff) {
  CLIPFACE_REQUIRE_SHARED(kObama);
  if (!fs::exists("/usr/bin/ffmpeg")) GTEST_SKIP() << "ffmpeg not installed";
  const int port = testing::free_tcp_port();
  auto server = std::make_unique<StreamServer>(shared_path(kObama), port);
  SourceOptions options;
  options.reconnect_attempts = 3;
  options.reconnect_delay = 0.2;
  options.reconnect_max_delay = 0.4;
  options.read_timeout = 2;
  auto source = connect(server->url(), options);
  EXPECT_EQ(source->info().kind, SourceKind::stream);
  EXPECT_TRUE(source->info().live);
  EXPECT_EQ(source->info().size, cv::Size(854, 480));
  int frames = 0;
  while (frames < 30 && source->next()) ++frames;
  ASSERT_EQ(frames, 30);
  server->signal(SIGKILL);
  const auto stopped = std::chrono::steady_clock::now();
  while (source->next()) ++frames;  // what was buffered, then the reconnect attempts
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped).count();
  const SourceStats stats = source->stats();
  EXPECT_EQ(stats.end, SourceEnd::lost);
  EXPECT_NE(stats.message.find("3 reconnection attempts failed"), std::string::npos)
      << stats.message;
  EXPECT_LT(waited, 6.0) << "back-off 0.2 + 0.4 + 0.4 s plus connection refusals";
  EXPECT_LT(frames, 153);
}

TEST(StreamSource, ComesBackWhenTheServerDoes) {
  CLIPFACE_REQUIRE_SHARED(kObama);
  if (!fs::exists("/usr/bin/ffmpeg")) GTEST_SKIP() << "ffmpeg not installed";
  const int port = testing::free_tcp_port();
  auto server = std::make_unique<StreamServer>(shared_path(kObama), port);
  SourceOptions options;
  options.reconnect_attempts = 20;
  options.reconnect_delay = 0.1;
  options.reconnect_max_delay = 0.2;
  auto source = connect(server->url(), options);
  int frames = 0;
  while (frames < 20 && source->next()) ++frames;
  server->signal(SIGKILL);
  server.reset();
  server = std::make_unique<StreamServer>(shared_path(kObama), port);  // back up
  double last_time = -1;
  while (auto frame = source->next()) {
    EXPECT_GT(frame->time, last_time);
    last_time = frame->time;
    if (++frames >= 60) break;
  }
  EXPECT_EQ(frames, 60);
  EXPECT_EQ(source->stats().reconnects, 1);
  source->interrupt();
  EXPECT_FALSE(source->next());
  EXPECT_EQ(source->stats().end, SourceEnd::stopped);
}

TEST(StreamSource, UnreachableStreamIsADownloadError) {
  const int port = testing::free_tcp_port();
  try {
    open_source("http://127.0.0.1:" + std::to_string(port) + "/none.ts");
    ADD_FAILURE() << "opened a stream nobody serves";
  } catch (const DownloadError& e) {
    EXPECT_NE(std::string(e.what()).find("Connection refused"), std::string::npos) << e.what();
  }
}

TEST(StreamSource, AStalledStreamTimesOutAndInterruptEndsTheWaitAtOnce) {
  CLIPFACE_REQUIRE_SHARED(kObama);
  if (!fs::exists("/usr/bin/ffmpeg")) GTEST_SKIP() << "ffmpeg not installed";
  for (const bool interrupt : {true, false}) {
    const int port = testing::free_tcp_port();
    StreamServer server(shared_path(kObama), port);
    SourceOptions options;
    options.read_timeout = 1.0;
    options.open_timeout = 2;
    options.reconnect_attempts = 1;
    options.reconnect_delay = 0.1;
    auto source = connect(server.url(), options);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(source->next());
    server.signal(SIGSTOP);  // connected, but nothing comes any more
    std::thread interrupter;
    const auto start = std::chrono::steady_clock::now();
    if (interrupt) {
      interrupter = std::thread([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        source->interrupt();
      });
    }
    while (source->next()) {
    }
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (interrupter.joinable()) interrupter.join();
    const SourceStats stats = source->stats();
    if (interrupt) {
      EXPECT_EQ(stats.end, SourceEnd::stopped) << stats.message;
      EXPECT_LT(waited, 1.0);
    } else {
      EXPECT_EQ(stats.end, SourceEnd::lost);
      EXPECT_NE(stats.message.find("stalled"), std::string::npos) << stats.message;
      EXPECT_LT(waited, 4.0);
    }
    server.signal(SIGCONT);
  }
}

TEST(FileSource, RealtimeFileIsLiveAndPacedAtItsFrameRate) {
  testing::TempDir dir;
  write_synthetic(dir / "clip.mp4", 30, 30);
  SourceOptions options;
  options.realtime = true;
  auto source = open_source((dir / "clip.mp4").string(), options);
  EXPECT_TRUE(source->info().live);
  const auto start = std::chrono::steady_clock::now();
  const ReadResult r = read_all(*source);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.frames.size(), 30u);
  EXPECT_GT(took, 0.9);  // 29 frame intervals of 1/30 s
  EXPECT_LT(took, 3.0);
}

}  // namespace
}  // namespace clipface
