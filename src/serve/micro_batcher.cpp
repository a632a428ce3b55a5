#include "serve/micro_batcher.hpp"

namespace clipface::serve_detail {

MicroBatchingEmbedder::MicroBatchingEmbedder(std::unique_ptr<Embedder> inner,
                                             std::chrono::microseconds max_wait,
                                             std::size_t max_batch,
                                             std::function<void(std::size_t)> on_batch)
    : inner_(std::move(inner)),
      max_wait_(max_wait),
      max_batch_(std::max<std::size_t>(1, max_batch)),
      on_batch_(std::move(on_batch)) {
  worker_ = std::thread([this] { run(); });
}

MicroBatchingEmbedder::~MicroBatchingEmbedder() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

Matrix MicroBatchingEmbedder::embed_crops(const std::vector<cv::Mat>& crops) const {
  if (crops.empty()) return Matrix(0, static_cast<std::size_t>(info().dim));
  Request request{&crops, {}};
  std::future<Matrix> result = request.result.get_future();
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(&request);
    queued_crops_ += crops.size();
  }
  wake_.notify_all();
  return result.get();  // rethrows what the batch threw
}

MicroBatchingEmbedder::Stats MicroBatchingEmbedder::stats() const {
  std::lock_guard lock(mutex_);
  return {batches_, embedded_, queued_crops_};
}

void MicroBatchingEmbedder::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    // Give other callers up to max_wait to join this batch, unless it is full already.
    const auto deadline = std::chrono::steady_clock::now() + max_wait_;
    wake_.wait_until(lock, deadline, [&] { return stopping_ || queued_crops_ >= max_batch_; });
    // Whole requests, up to max_batch crops (a larger request goes alone).
    std::vector<Request*> batch;
    std::size_t n = 0;
    while (!queue_.empty() && (batch.empty() || n + queue_.front()->crops->size() <= max_batch_)) {
      n += queue_.front()->crops->size();
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    queued_crops_ -= n;
    lock.unlock();

    if (on_batch_) on_batch_(n);
    std::vector<cv::Mat> all;
    all.reserve(n);
    for (const Request* r : batch) all.insert(all.end(), r->crops->begin(), r->crops->end());
    // Split the rows first, then hand them out: each promise is set exactly once.
    std::vector<Matrix> parts;
    std::exception_ptr failure;
    try {
      const Matrix rows = inner_->embed_crops(all);
      std::size_t at = 0;
      for (const Request* r : batch) {
        Matrix part(r->crops->size(), rows.cols);
        std::copy(rows.data.begin() + static_cast<std::ptrdiff_t>(at * rows.cols),
                  rows.data.begin() + static_cast<std::ptrdiff_t>((at + part.rows) * rows.cols),
                  part.data.begin());
        at += part.rows;
        parts.push_back(std::move(part));
      }
    } catch (...) {
      failure = std::current_exception();
    }
    {
      std::lock_guard counted(mutex_);  // counted before anyone is answered
      ++batches_;
      embedded_ += static_cast<std::int64_t>(n);
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (failure) {
        batch[i]->result.set_exception(failure);
      } else {
        batch[i]->result.set_value(std::move(parts[i]));
      }
    }
    lock.lock();
  }
}

}  // namespace clipface::serve_detail
