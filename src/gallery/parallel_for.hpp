// Splits [0, n) into contiguous chunks run on up to omp_get_max_threads() threads (the thread
// count the user set for FAISS). Our code is not built with OpenMP, and the int8 indexes only
// need this for bulk work (training, adding many vectors); small jobs stay on the caller.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace clipface::gallery_detail {

// body(begin, end) for each chunk; `grain` is the smallest chunk worth a thread. The first
// exception thrown by a chunk is rethrown here once all have finished.
template <class Body>
void parallel_for(std::size_t n, std::size_t grain, Body&& body) {
  const std::size_t wanted = grain > 0 ? n / grain : n;
  const std::size_t threads = std::clamp<std::size_t>(
      wanted, 1, static_cast<std::size_t>(std::max(1, omp_get_max_threads())));
  if (threads <= 1) {
    if (n > 0) body(std::size_t{0}, n);
    return;
  }
  std::vector<std::exception_ptr> errors(threads);
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  auto run = [&](std::size_t t) {
    try {
      body(n * t / threads, n * (t + 1) / threads);
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(run, t);
  run(0);
  for (auto& thread : pool) thread.join();
  for (auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace clipface::gallery_detail
