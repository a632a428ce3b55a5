// `clipface serve --source`: a development clip runs through clipface watch's pipeline beside the
// service; its track events arrive on /api/v1/events (SSE) and its annotated frames on
// /api/v1/preview?source=NAME (MJPEG); SIGTERM stops it, its last events still sent; a source
// that cannot be opened is skipped with one line while the server serves, --strict refuses.
#include <gtest/gtest.h>

#include <mutex>

#include "serve/serve_support.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using testing::ServeProcess;

const std::string kObamaClip = "data/faces/videos/obama_hieubkvn123.mp4";

class ServeLiveCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SERVE_DATA(home_.path());
    CLIPFACE_REQUIRE_SHARED(kObamaClip);
    env_ = {"CLIPFACE_HOME=" + home_.path().string()};
    testing::make_small_gallery(gallery(), people_.path());
  }
  fs::path gallery() const { return tmp_.path() / "gallery"; }
  std::vector<std::string> serve_args(std::vector<std::string> extra) const {
    std::vector<std::string> args = {
        gallery().string(), "--listen", "127.0.0.1:0", "--detector-model",
        testing::shared_path("models/yunet/face_detection_yunet_2022mar.onnx").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  testing::TempDir home_, people_, tmp_;
  std::vector<std::string> env_;
};

// The events of an SSE text: (type, data as JSON).
std::vector<std::pair<std::string, json>> sse_events(const std::string& text) {
  std::vector<std::pair<std::string, json>> events;
  std::size_t at = 0;
  for (std::size_t end; (end = text.find("\n\n", at)) != std::string::npos; at = end + 2) {
    std::string type, data;
    std::istringstream block(text.substr(at, end - at));
    for (std::string line; std::getline(block, line);) {
      if (line.rfind("event: ", 0) == 0) type = line.substr(7);
      if (line.rfind("data: ", 0) == 0) data += line.substr(6);
    }
    if (!type.empty()) events.emplace_back(type, json::parse(data, nullptr, false));
  }
  return events;
}

bool has_event(const std::string& text, const std::string& type, const std::string& label) {
  for (const auto& [t, data] : sse_events(text)) {
    if (t == type && data.is_object() && data.value("label", "") == label &&
        data.value("source", "") == "door") {
      return true;
    }
  }
  return false;
}

TEST_F(ServeLiveCliTest, AClipSourceStreamsItsTrackEventsAndAnMjpegPreviewUntilSigterm) {
  // Read at its real rate (5 s), as a camera: the streams below connect while it plays, and
  // SIGTERM comes while it still plays.
  ServeProcess server(
      serve_args({"--source", "door=" + testing::shared_path(kObamaClip).string(), "--realtime"}),
      env_, tmp_.path() / "port");
  const int port = server.wait_listening();
  ASSERT_GT(port, 0) << server.stderr_text();

  std::mutex mutex;
  std::string events, preview;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto stream = [&](const std::string& path, std::string& into, auto done,
                    httplib::Headers headers) {
    return std::thread([&, path, done, headers] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(20, 0);
      c.Get(path.c_str(), headers, [&](const char* data, std::size_t n) {
        std::lock_guard lock(mutex);
        into.append(data, n);
        return !done(into) && std::chrono::steady_clock::now() < deadline;
      });
    });
  };
  // Last-Event-ID 0: every event the server still holds, also those before we connected. Read
  // until the server ends the stream.
  auto e = stream("/api/v1/events", events, [](const std::string&) { return false; },
                  {{"Last-Event-ID", "0"}});
  // One whole JPEG part: its header, the image, and the boundary after it.
  const auto whole_part = [](const std::string& t) {
    const auto head = t.find("Content-Type: image/jpeg");
    return head != std::string::npos && t.find("\r\n--frame", head) != std::string::npos;
  };
  auto p = stream("/api/v1/preview?source=door", preview, whole_part, {});
  for (;;) {
    {
      std::lock_guard lock(mutex);
      if (has_event(events, "identified", "barack_obama") && whole_part(preview)) break;
    }
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  server.signal(SIGTERM);
  e.join();
  p.join();
  const int status = server.wait();
  const std::string err = server.stderr_text();
  ASSERT_TRUE(WIFEXITED(status)) << err;
  EXPECT_EQ(WEXITSTATUS(status), 0) << err;

  EXPECT_TRUE(has_event(events, "track_started", "pending") ||
              has_event(events, "track_started", "barack_obama"))
      << events;
  EXPECT_TRUE(has_event(events, "identified", "barack_obama")) << events;
  // Stopped mid-clip: the pipeline drained, and its last events still reached the stream.
  EXPECT_NE(err.find("source door ended (stopped)"), std::string::npos) << err;
  EXPECT_TRUE(has_event(events, "track_ended", "barack_obama")) << events;
  EXPECT_NE(events.find("event: source_ended"), std::string::npos) << events;
  EXPECT_NE(events.find("event: source_started"), std::string::npos) << events;
  // The source's name, never its path, names it in the events.
  EXPECT_EQ(events.find("obama_hieubkvn123"), std::string::npos) << events;
  for (const auto& [type, data] : sse_events(events)) {
    if (type == "identified") {
      EXPECT_GT(data.value("score", 0.0), 0.0) << data;
    }
  }
  const auto head = preview.find("Content-Type: image/jpeg");
  ASSERT_NE(head, std::string::npos) << preview.substr(0, 200);
  const auto jpeg = preview.find("\r\n\r\n", head) + 4;
  EXPECT_EQ(preview.substr(jpeg, 2), "\xff\xd8");  // a JPEG's first bytes
}

TEST_F(ServeLiveCliTest, ASourceThatCannotBeOpenedIsSkippedAndTheServerServesStrictRefuses) {
  const std::string missing = (tmp_.path() / "no-such-clip.mp4").string();
  {
    ServeProcess server(serve_args({"--source", "gate=" + missing}), env_, tmp_.path() / "port");
    const int port = server.wait_listening();
    ASSERT_GT(port, 0) << server.stderr_text();
    httplib::Client c("127.0.0.1", port);
    const auto health = c.Get("/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    server.signal(SIGTERM);
    const int status = server.wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server.stderr_text();
    const std::string err = server.stderr_text();
    EXPECT_NE(err.find("clipface: skipped " + missing + ": "), std::string::npos) << err;
  }
  ServeProcess strict(serve_args({"--source", missing, "--strict"}), env_, tmp_.path() / "port2");
  EXPECT_EQ(strict.wait_listening(), 0);
  const int status = strict.wait();
  const std::string err = strict.stderr_text();
  ASSERT_TRUE(WIFEXITED(status)) << err;
  EXPECT_NE(WEXITSTATUS(status), 0) << err;
  EXPECT_NE(err.find("clipface: skipped " + missing + ": "), std::string::npos) << err;
  EXPECT_NE(err.find("--strict"), std::string::npos) << err;
}

}  // namespace
}  // namespace clipface
