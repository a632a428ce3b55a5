// An Embedder that gathers the crops of concurrent callers into one batch: the first caller of a
// batch waits at most `max_wait` for others (or until `max_batch` crops are queued), and while a
// batch runs the next one fills up, so under load the model runs few large batches instead of
// many one-face calls, and an idle server adds no more than max_wait to a request.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "clipface/embedder.hpp"

namespace clipface::serve_detail {

class MicroBatchingEmbedder final : public Embedder {
 public:
  // `on_batch` (optional) hears the size of every batch run, from the worker thread.
  MicroBatchingEmbedder(std::unique_ptr<Embedder> inner, std::chrono::microseconds max_wait,
                        std::size_t max_batch, std::function<void(std::size_t)> on_batch = {});
  ~MicroBatchingEmbedder() override;  // finishes what is queued, then stops the worker

  const EmbedderInfo& info() const override { return inner_->info(); }
  std::vector<cv::Mat> crops(const cv::Mat& image, const std::vector<Face>& faces) const override {
    return inner_->crops(image, faces);
  }
  Matrix embed_crops(const std::vector<cv::Mat>& crops) const override;

  struct Stats {
    std::int64_t batches = 0;
    std::int64_t crops = 0;
    std::size_t queued = 0;  // crops waiting now
  };
  Stats stats() const;

 private:
  struct Request {
    const std::vector<cv::Mat>* crops;
    std::promise<Matrix> result;
  };
  void run();

  std::unique_ptr<Embedder> inner_;
  std::chrono::microseconds max_wait_;
  std::size_t max_batch_;
  std::function<void(std::size_t)> on_batch_;
  mutable std::mutex mutex_;
  mutable std::condition_variable wake_;
  mutable std::deque<Request*> queue_;
  mutable std::size_t queued_crops_ = 0;
  std::int64_t batches_ = 0;
  std::int64_t embedded_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace clipface::serve_detail
