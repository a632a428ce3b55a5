#include "gallery/int8_flat_index.hpp"

#include <faiss/impl/FaissAssert.h>

#include <algorithm>
#include <cstring>

#include "gallery/exact_dot.hpp"
#include "gallery/parallel_for.hpp"
#include "gallery/top_k.hpp"

namespace clipface::gallery_detail {
namespace {

// Many queries are scored against a chunk of rows that stays in L2 (64 blocks of 512-d codes =
// 512 KB) in tiles of Int8Kernels::kMaxQueries, so each code byte is fetched from memory once per
// kQueryBatch queries instead of once per query.
constexpr std::size_t kChunkBlocks = 64;
constexpr std::size_t kQueryBatch = 64;
constexpr std::size_t kParallelQueries = 256;  // below this, one thread

using IntTop = TopK<std::int32_t>;
using FloatTop = TopK<float>;

}  // namespace

Int8FlatIndex::Int8FlatIndex(idx_t dim, idx_t rerank_depth)
    : faiss::Index(dim, faiss::METRIC_INNER_PRODUCT),
      rerank(rerank_depth),
      codec(static_cast<std::size_t>(dim)),
      rows(static_cast<std::size_t>(dim), codec.dim4()) {
  is_trained = false;
}

void Int8FlatIndex::train(idx_t n, const float* x) {
  codec.train(static_cast<std::size_t>(n), x);
  is_trained = true;
}

void Int8FlatIndex::add(idx_t n, const float* x) {
  FAISS_THROW_IF_NOT_MSG(is_trained, "Int8FlatIndex: train before adding");
  rows.reserve(rows.size() + static_cast<std::size_t>(n));
  for (idx_t i = 0; i < n; ++i) rows.append(codec, x + i * d, ntotal + i);
  ntotal += n;
}

void Int8FlatIndex::reset() {
  rows.clear();
  ntotal = 0;
}

void Int8FlatIndex::reconstruct(idx_t key, float* recons) const {
  FAISS_THROW_IF_NOT(key >= 0 && key < ntotal);
  std::memcpy(recons, rows.vector(static_cast<std::size_t>(key)), sizeof(float) * d);
}

void Int8FlatIndex::search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
                           const faiss::SearchParameters* params) const {
  FAISS_THROW_IF_NOT_MSG(!params, "Int8FlatIndex takes no search parameters object");
  search_with_rerank(n, x, k, rerank, distances, labels);
}

void Int8FlatIndex::search_with_rerank(idx_t n, const float* x, idx_t k, idx_t depth,
                                       float* distances, idx_t* labels) const {
  FAISS_THROW_IF_NOT(k > 0);
  const std::size_t dim4 = codec.dim4();
  const std::size_t keep = static_cast<std::size_t>(std::max(k, depth));
  const Int8Kernels& kernels = int8_kernels();
  const std::size_t nblocks = rows.nblocks();

  // One batch of up to kQueryBatch queries: int8 candidates, then exact re-scoring.
  auto run_batch = [&](std::size_t q0, std::size_t q1) {
    const std::size_t nq = q1 - q0;
    std::vector<std::uint8_t> codes(nq * dim4);
    for (std::size_t q = 0; q < nq; ++q) {
      codec.encode_query(x + (q0 + q) * d, &codes[q * dim4]);
    }
    std::vector<IntTop> tops(nq, IntTop(keep));
    std::vector<std::int32_t> scores(Int8Kernels::kMaxQueries * kChunkBlocks * kBlockRows);
    for (std::size_t b0 = 0; b0 < nblocks; b0 += kChunkBlocks) {
      const std::size_t nb = std::min(kChunkBlocks, nblocks - b0);
      const std::size_t first_row = b0 * kBlockRows;
      const std::size_t nrows = std::min(nb * kBlockRows, rows.size() - first_row);
      for (std::size_t t0 = 0; t0 < nq; t0 += Int8Kernels::kMaxQueries) {
        const std::size_t nt = std::min(Int8Kernels::kMaxQueries, nq - t0);
        kernels.score_blocks_multi(nt, &codes[t0 * dim4], rows.blocks() + b0 * block_bytes(dim4),
                                   nb, dim4, scores.data());
        for (std::size_t t = 0; t < nt; ++t) {
          std::int32_t* s = &scores[t * nb * kBlockRows];
          rows.correct(first_row, nrows, s);
          tops[t0 + t].push_range(s, nrows, static_cast<std::int64_t>(first_row));
        }
      }
    }
    for (std::size_t q = 0; q < nq; ++q) {
      const float* query = x + (q0 + q) * d;
      FloatTop exact(static_cast<std::size_t>(k));
      for (const auto& c : tops[q].sorted()) {
        const auto row = static_cast<std::size_t>(c.label);
        exact.push(exact_dot(query, rows.vector(row), d), rows.label(row));
      }
      const std::size_t out = (q0 + q) * static_cast<std::size_t>(k);
      exact.write(static_cast<std::size_t>(k), distances + out, labels + out);
    }
  };

  const auto total = static_cast<std::size_t>(n);
  const std::size_t batches = (total + kQueryBatch - 1) / kQueryBatch;
  parallel_for(batches, total >= kParallelQueries ? 1 : batches,
               [&](std::size_t begin, std::size_t end) {
                 for (std::size_t b = begin; b < end; ++b) {
                   run_batch(b * kQueryBatch, std::min(total, (b + 1) * kQueryBatch));
                 }
               });
}

}  // namespace clipface::gallery_detail
