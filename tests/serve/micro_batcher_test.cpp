// The micro-batcher on its own, with an embedder that writes each crop's pixel value into its row:
// concurrent callers get their own rows back, in order, from shared batches; a failing batch
// fails every caller in it; a lone caller waits for company (up to the batch wait).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "serve/micro_batcher.hpp"

namespace clipface::serve_detail {
namespace {

class PixelEmbedder final : public Embedder {
 public:
  PixelEmbedder() {
    info_.name = "pixel";
    info_.dim = 2;
  }
  const EmbedderInfo& info() const override { return info_; }
  std::vector<cv::Mat> crops(const cv::Mat&, const std::vector<Face>&) const override { return {}; }
  Matrix embed_crops(const std::vector<cv::Mat>& crops) const override {
    {
      std::lock_guard lock(mutex_);
      sizes_.push_back(crops.size());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a model takes a while
    Matrix out(crops.size(), 2);
    for (std::size_t i = 0; i < crops.size(); ++i) {
      const int v = crops[i].at<int>(0, 0);
      if (v < 0) throw std::runtime_error("bad crop");
      out.at(i, 0) = static_cast<float>(v);
      out.at(i, 1) = 1;
    }
    return out;
  }
  std::vector<std::size_t> sizes() const {
    std::lock_guard lock(mutex_);
    return sizes_;
  }

 private:
  EmbedderInfo info_;
  mutable std::mutex mutex_;
  mutable std::vector<std::size_t> sizes_;
};

std::vector<cv::Mat> crops_of(int first, int n) {
  std::vector<cv::Mat> out;
  for (int i = 0; i < n; ++i) out.push_back(cv::Mat(1, 1, CV_32S, cv::Scalar(first + i)));
  return out;
}

TEST(MicroBatcher, ConcurrentCallersShareBatchesAndGetTheirOwnRows) {
  auto inner = std::make_unique<PixelEmbedder>();
  const PixelEmbedder* probe = inner.get();
  std::atomic<std::size_t> reported = 0;
  MicroBatchingEmbedder batcher(std::move(inner), std::chrono::milliseconds(20), 16,
                                [&](std::size_t n) { reported += n; });
  EXPECT_EQ(batcher.info().name, "pixel");
  std::atomic<int> wrong = 0;
  std::vector<std::thread> callers;
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        const int first = 1000 * t + 10 * round;
        const int n = 1 + (t + round) % 3;
        const Matrix rows = batcher.embed_crops(crops_of(first, n));
        if (rows.rows != static_cast<std::size_t>(n)) ++wrong;
        for (int i = 0; i < n && i < static_cast<int>(rows.rows); ++i) {
          if (rows.at(i, 0) != static_cast<float>(first + i)) ++wrong;
        }
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(wrong.load(), 0);
  const auto sizes = probe->sizes();
  std::size_t total = 0, largest = 0;
  for (auto s : sizes) {
    total += s;
    largest = std::max(largest, s);
  }
  EXPECT_EQ(total, reported.load());
  EXPECT_EQ(static_cast<std::int64_t>(total), batcher.stats().crops);
  EXPECT_LE(largest, 16u);  // max_batch
  EXPECT_GT(largest, 3u);   // callers really shared batches (one caller sends at most 3)
  EXPECT_LT(sizes.size(), 40u);
  EXPECT_EQ(batcher.stats().queued, 0u);
}

TEST(MicroBatcher, AFailingBatchFailsItsCallersAndNoOthers) {
  MicroBatchingEmbedder batcher(std::make_unique<PixelEmbedder>(), std::chrono::milliseconds(0), 8);
  EXPECT_THROW(batcher.embed_crops(crops_of(-5, 2)), std::runtime_error);
  const Matrix ok = batcher.embed_crops(crops_of(7, 2));
  EXPECT_EQ(ok.at(1, 0), 8.0f);
  EXPECT_EQ(batcher.embed_crops({}).rows, 0u);
}

TEST(MicroBatcher, ALoneCallerWaitsForCompany) {
  MicroBatchingEmbedder batcher(std::make_unique<PixelEmbedder>(), std::chrono::milliseconds(30),
                                8);
  const auto start = std::chrono::steady_clock::now();
  batcher.embed_crops(crops_of(1, 1));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(30));
}

}  // namespace
}  // namespace clipface::serve_detail
