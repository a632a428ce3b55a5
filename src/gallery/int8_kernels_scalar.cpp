// Portable int8 kernels: the reference the SIMD versions must match exactly, and the path on CPUs
// without AVX-512 VNNI.
#include "gallery/int8_kernels.hpp"

namespace clipface::gallery_detail {
namespace {

void score_block(const std::uint8_t* query, const std::int8_t* block, std::size_t dim4,
                 std::int32_t* scores) {
  std::int32_t acc[kBlockRows] = {};
  for (std::size_t g = 0; g < dim4; g += kGroupDims) {
    const std::int8_t* chunk = block + g * kBlockRows;
    for (std::size_t r = 0; r < kBlockRows; ++r) {
      std::int32_t sum = 0;
      for (std::size_t j = 0; j < kGroupDims; ++j) {
        sum += std::int32_t(query[g + j]) * std::int32_t(chunk[r * kGroupDims + j]);
      }
      acc[r] += sum;
    }
  }
  for (std::size_t r = 0; r < kBlockRows; ++r) scores[r] = acc[r];
}

void score_blocks(const std::uint8_t* query, const std::int8_t* blocks, std::size_t nblocks,
                  std::size_t dim4, std::int32_t* scores) {
  for (std::size_t b = 0; b < nblocks; ++b) {
    score_block(query, blocks + b * block_bytes(dim4), dim4, scores + b * kBlockRows);
  }
}

void score_blocks_multi(std::size_t nq, const std::uint8_t* queries, const std::int8_t* blocks,
                        std::size_t nblocks, std::size_t dim4, std::int32_t* scores) {
  for (std::size_t q = 0; q < nq; ++q) {
    score_blocks(queries + q * dim4, blocks, nblocks, dim4, scores + q * nblocks * kBlockRows);
  }
}

}  // namespace

const Int8Kernels& scalar_int8_kernels() {
  static const Int8Kernels kernels{&score_blocks, &score_blocks_multi};
  return kernels;
}

}  // namespace clipface::gallery_detail
