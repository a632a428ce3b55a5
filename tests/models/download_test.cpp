// Downloads against a local HTTP server: full, interrupted and resumed, corrupted, missing,
// Range ignored, stalled, bzip2-packed; pull() of registry entries through a mirror.
#include <bzlib.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "clipface/checksum.hpp"
#include "clipface/errors.hpp"
#include "clipface/models.hpp"
#include "models/http_test_server.hpp"
#include "support/test_env.hpp"

namespace clipface::models {
namespace {

namespace fs = std::filesystem;
using testing::LocalHttpServer;
using testing::read_text;
using testing::TempDir;

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string bytes(size, '\0');
  for (auto& b : bytes) b = static_cast<char>(rng() & 0xff);
  return bytes;
}

std::string bzip2_compress(const std::string& data) {
  unsigned int size = static_cast<unsigned int>(data.size() + data.size() / 100 + 600);
  std::string out(size, '\0');
  const int rc = BZ2_bzBuffToBuffCompress(out.data(), &size, const_cast<char*>(data.data()),
                                          static_cast<unsigned int>(data.size()), 9, 0, 0);
  EXPECT_EQ(rc, BZ_OK);
  out.resize(size);
  return out;
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

DownloadOptions quick_options() {
  DownloadOptions options;
  options.progress = false;
  options.max_attempts = 1;
  options.retry_delay = std::chrono::milliseconds(10);
  options.connect_timeout_s = 5;
  return options;
}

class DownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("CLIPFACE_MODEL_BASE_URL");
    server.add_file("model.bin", payload);
  }

  const std::string payload = random_bytes(1'500'000, 7);
  const std::string payload_sha = sha256_hex(payload);
  LocalHttpServer server;
  TempDir dir;
  const fs::path dest = dir / "model.bin";
  const fs::path part = partial_path(dest);
};

TEST_F(DownloadTest, FullDownloadSucceedsAndVerifies) {
  download(server.url("model.bin"), dest, payload_sha, quick_options());
  EXPECT_EQ(read_text(dest), payload);
  EXPECT_FALSE(fs::exists(part));
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].path, "/model.bin");
  EXPECT_FALSE(server.requests()[0].range_start.has_value());
}

TEST_F(DownloadTest, InterruptedDownloadLeavesOnlyPartThenResumes) {
  server.drop_after(600'000);
  EXPECT_THROW(download(server.url("model.bin"), dest, payload_sha, quick_options()),
               DownloadError);
  EXPECT_FALSE(fs::exists(dest));
  ASSERT_TRUE(fs::exists(part));
  EXPECT_EQ(fs::file_size(part), 600'000u);
  EXPECT_EQ(read_text(part), payload.substr(0, 600'000));

  download(server.url("model.bin"), dest, payload_sha, quick_options());
  EXPECT_EQ(read_text(dest), payload);
  EXPECT_FALSE(fs::exists(part));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  ASSERT_TRUE(requests[1].range_start.has_value());
  EXPECT_EQ(*requests[1].range_start, 600'000u);
}

TEST_F(DownloadTest, RetriesResumeWithinOneCall) {
  server.drop_after(400'000, 2);
  auto options = quick_options();
  options.max_attempts = 4;
  download(server.url("model.bin"), dest, payload_sha, options);
  EXPECT_EQ(read_text(dest), payload);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_FALSE(requests[0].range_start.has_value());
  EXPECT_EQ(requests[1].range_start, std::optional<std::uint64_t>(400'000));
  EXPECT_EQ(requests[2].range_start, std::optional<std::uint64_t>(800'000));
}

TEST_F(DownloadTest, ServerIgnoringRangeRestartsFromTheStart) {
  // Bytes that are not the file's prefix: appending the full body to them would fail the sum.
  write_bytes(part, random_bytes(500'000, 99));
  server.set_ignore_range(true);
  download(server.url("model.bin"), dest, payload_sha, quick_options());
  EXPECT_EQ(read_text(dest), payload);
  EXPECT_FALSE(fs::exists(part));
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].range_start, std::optional<std::uint64_t>(500'000));
}

TEST_F(DownloadTest, CompletePartialFileIsFinishedWithoutRefetching) {
  write_bytes(part, payload);  // the transfer ended just before the rename
  download(server.url("model.bin"), dest, payload_sha, quick_options());
  EXPECT_EQ(read_text(dest), payload);
  EXPECT_FALSE(fs::exists(part));
  ASSERT_EQ(server.requests().size(), 1u);  // answered 416: nothing left to send
  EXPECT_EQ(server.requests()[0].range_start, std::optional<std::uint64_t>(payload.size()));
}

TEST_F(DownloadTest, RefusesToShareAPartialFileWithAnotherDownload) {
  const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  try {
    download(server.url("model.bin"), dest, payload_sha, quick_options());
    FAIL() << "two downloads shared one .part";
  } catch (const DownloadError& e) {
    EXPECT_NE(std::string(e.what()).find("another process"), std::string::npos) << e.what();
  }
  ::close(fd);
  EXPECT_TRUE(server.requests().empty());
  download(server.url("model.bin"), dest, payload_sha, quick_options());
  EXPECT_EQ(read_text(dest), payload);
}

TEST_F(DownloadTest, CorruptedDownloadIsRejected) {
  server.set_corrupt(true);
  try {
    download(server.url("model.bin"), dest, payload_sha, quick_options());
    FAIL() << "a corrupted download was accepted";
  } catch (const DownloadError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("expected sha256 " + payload_sha), std::string::npos) << message;
    std::string corrupted = payload;
    for (std::size_t i = 0; i < corrupted.size(); i += 1000) corrupted[i] = ~corrupted[i];
    EXPECT_NE(message.find("got " + sha256_hex(corrupted)), std::string::npos) << message;
  }
  EXPECT_FALSE(fs::exists(dest));
  EXPECT_FALSE(fs::exists(part));
}

TEST_F(DownloadTest, HttpNotFoundIsADownloadError) {
  server.set_not_found(true);
  try {
    download(server.url("model.bin"), dest, payload_sha, quick_options());
    FAIL() << "404 was accepted";
  } catch (const DownloadError& e) {
    EXPECT_NE(std::string(e.what()).find("404"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dest));
  EXPECT_FALSE(fs::exists(part));
}

TEST_F(DownloadTest, NotFoundIsNotRetried) {
  auto options = quick_options();
  options.max_attempts = 3;
  EXPECT_THROW(download(server.url("missing.bin"), dest, payload_sha, options), DownloadError);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(DownloadTest, RefusedConnectionFailsAfterRetries) {
  std::string url;
  {
    LocalHttpServer gone;
    url = gone.url("model.bin");
  }  // nothing listens on that port any more
  auto options = quick_options();
  options.max_attempts = 2;
  try {
    download(url, dest, payload_sha, options);
    FAIL() << "download from a closed port succeeded";
  } catch (const DownloadError& e) {
    EXPECT_NE(std::string(e.what()).find("after 2 attempts"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dest));
}

TEST_F(DownloadTest, StalledTransferTimesOutAndKeepsThePart) {
  server.stall_after(100'000);
  auto options = quick_options();
  options.low_speed_bytes = 50'000;
  options.low_speed_time_s = 1;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(download(server.url("model.bin"), dest, payload_sha, options), DownloadError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_FALSE(fs::exists(dest));
  EXPECT_EQ(fs::file_size(part), 100'000u);
}

TEST_F(DownloadTest, RejectsMalformedExpectedSum) {
  EXPECT_THROW(download(server.url("model.bin"), dest, "abc", quick_options()), InputError);
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(DownloadTest, Bzip2DownloadIsUnpackedAndResumes) {
  const std::string packed = bzip2_compress(payload);
  server.add_file("model.bin.bz2", packed);
  auto options = quick_options();
  options.compression = Compression::bzip2;
  server.drop_after(packed.size() / 2);
  EXPECT_THROW(download(server.url("model.bin.bz2"), dest, payload_sha, options), DownloadError);
  EXPECT_FALSE(fs::exists(dest));
  EXPECT_EQ(fs::file_size(part), packed.size() / 2);

  download(server.url("model.bin.bz2"), dest, payload_sha, options);
  EXPECT_EQ(read_text(dest), payload);
  EXPECT_FALSE(fs::exists(part));
  EXPECT_EQ(server.requests().back().range_start, std::optional<std::uint64_t>(packed.size() / 2));
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path(), dest) << "left behind: " << entry.path();
  }
}

TEST_F(DownloadTest, CorruptedBzip2IsRejectedWithoutLeftovers) {
  server.add_file("model.bin.bz2", bzip2_compress(payload));
  server.set_corrupt(true);
  auto options = quick_options();
  options.compression = Compression::bzip2;
  EXPECT_THROW(download(server.url("model.bin.bz2"), dest, payload_sha, options), DownloadError);
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST_F(DownloadTest, PullsARegistryModelFromAMirror) {
  CLIPFACE_REQUIRE_SHARED("models/yunet/face_detection_yunet_2022mar.onnx");
  const auto yunet = testing::shared_path("models/yunet/face_detection_yunet_2022mar.onnx");
  server.add_file("face_detection_yunet_2022mar.onnx", read_text(yunet));
  auto options = quick_options();
  options.dest_dir = dir.path();
  options.base_url = server.base_url() + "/";
  const fs::path path = pull("yunet-2022mar", options);
  EXPECT_EQ(path, dir / "face_detection_yunet_2022mar.onnx");
  EXPECT_EQ(sha256_file(path), lookup("yunet-2022mar").sha256);

  // A verified copy is kept: no second request.
  EXPECT_EQ(pull("face_detection_yunet_2022mar", options), path);
  EXPECT_EQ(server.requests().size(), 1u);

  // A damaged copy is replaced.
  write_bytes(path, "damaged");
  EXPECT_EQ(pull("yunet-2022mar", options), path);
  EXPECT_EQ(sha256_file(path), lookup("yunet-2022mar").sha256);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(DownloadTest, PullsABzip2RegistryModelFromAMirror) {
  CLIPFACE_REQUIRE_SHARED("models/dlib/mmod_human_face_detector.dat");
  const std::string dat =
      read_text(testing::shared_path("models/dlib/mmod_human_face_detector.dat"));
  server.add_file("mmod_human_face_detector.dat.bz2", bzip2_compress(dat));
  auto options = quick_options();
  options.dest_dir = dir.path();
  ::setenv("CLIPFACE_MODEL_BASE_URL", server.base_url().c_str(), 1);
  const fs::path path = pull("dlib-mmod", options);
  ::unsetenv("CLIPFACE_MODEL_BASE_URL");
  EXPECT_EQ(server.requests().at(0).path, "/mmod_human_face_detector.dat.bz2");
  EXPECT_EQ(read_text(path), dat);
  EXPECT_FALSE(fs::exists(partial_path(path)));
}

TEST_F(DownloadTest, PullWithoutAnyUrlSaysWhereTheModelComesFrom) {
  auto options = quick_options();
  options.dest_dir = dir.path();
  try {
    pull("scrfd-500m", options);
    FAIL() << "pulled a model without a URL";
  } catch (const DownloadError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("no official download URL"), std::string::npos) << message;
    EXPECT_NE(message.find("CLIPFACE_MODEL_BASE_URL"), std::string::npos) << message;
  }
  EXPECT_THROW(pull("no-such-model", options), InputError);
}

}  // namespace
}  // namespace clipface::models
