// AVX-512 VNNI int8 kernels. vpdpbusd multiplies 64 u8 query bytes (one 4-byte group broadcast
// 16 times) with 64 s8 code bytes (the same 4 dimensions of 16 rows) and adds each group of 4
// products into the row's int32 lane: 64 multiply-adds per instruction, no horizontal sums. The
// products fit int32 without saturation (512 dims x 255 x 127 < 2^31), so the sums are exact and
// equal the scalar kernels'. Compiled with target attributes so the rest of the build keeps the
// baseline ISA; only called after the CPU check in int8_kernels.cpp.
#include <immintrin.h>

#include <cstring>

#include "gallery/int8_kernels.hpp"

#define CLIPFACE_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

namespace clipface::gallery_detail {
namespace {

CLIPFACE_VNNI inline __m512i broadcast_group(const std::uint8_t* query) {
  std::int32_t group;
  std::memcpy(&group, query, sizeof group);
  return _mm512_set1_epi32(group);
}

// Four accumulators so that consecutive instructions do not wait on each other's result.
CLIPFACE_VNNI void score_blocks(const std::uint8_t* query, const std::int8_t* blocks,
                                std::size_t nblocks, std::size_t dim4, std::int32_t* scores) {
  constexpr std::size_t kStep = kGroupDims * kBlockRows;  // bytes per group in a block
  for (std::size_t b = 0; b < nblocks; ++b) {
    const std::int8_t* block = blocks + b * block_bytes(dim4);
    __m512i acc0 = _mm512_setzero_si512();
    __m512i acc1 = _mm512_setzero_si512();
    __m512i acc2 = _mm512_setzero_si512();
    __m512i acc3 = _mm512_setzero_si512();
    std::size_t g = 0;
    for (; g + 4 * kGroupDims <= dim4; g += 4 * kGroupDims) {
      const std::int8_t* chunk = block + g * kBlockRows;
      acc0 = _mm512_dpbusd_epi32(acc0, broadcast_group(query + g), _mm512_loadu_si512(chunk));
      acc1 = _mm512_dpbusd_epi32(acc1, broadcast_group(query + g + 4),
                                 _mm512_loadu_si512(chunk + kStep));
      acc2 = _mm512_dpbusd_epi32(acc2, broadcast_group(query + g + 8),
                                 _mm512_loadu_si512(chunk + 2 * kStep));
      acc3 = _mm512_dpbusd_epi32(acc3, broadcast_group(query + g + 12),
                                 _mm512_loadu_si512(chunk + 3 * kStep));
    }
    for (; g < dim4; g += kGroupDims) {
      acc0 = _mm512_dpbusd_epi32(acc0, broadcast_group(query + g),
                                 _mm512_loadu_si512(block + g * kBlockRows));
    }
    const __m512i sum =
        _mm512_add_epi32(_mm512_add_epi32(acc0, acc1), _mm512_add_epi32(acc2, acc3));
    _mm512_storeu_si512(scores + b * kBlockRows, sum);
  }
}

// NQ queries share each 64-byte load of the block; NQ independent accumulators hide latency.
template <std::size_t NQ>
CLIPFACE_VNNI void score_blocks_tile(const std::uint8_t* queries, const std::int8_t* blocks,
                                     std::size_t nblocks, std::size_t dim4, std::int32_t* scores) {
  for (std::size_t b = 0; b < nblocks; ++b) {
    const std::int8_t* block = blocks + b * block_bytes(dim4);
    __m512i acc[NQ];
    // Fully unrolled, so the accumulators live in registers at any optimisation level.
#pragma GCC unroll 8
    for (std::size_t q = 0; q < NQ; ++q) acc[q] = _mm512_setzero_si512();
    for (std::size_t g = 0; g < dim4; g += kGroupDims) {
      const __m512i codes = _mm512_loadu_si512(block + g * kBlockRows);
#pragma GCC unroll 8
      for (std::size_t q = 0; q < NQ; ++q) {
        acc[q] = _mm512_dpbusd_epi32(acc[q], broadcast_group(queries + q * dim4 + g), codes);
      }
    }
#pragma GCC unroll 8
    for (std::size_t q = 0; q < NQ; ++q) {
      _mm512_storeu_si512(scores + q * nblocks * kBlockRows + b * kBlockRows, acc[q]);
    }
  }
}

using TileKernel = void (*)(const std::uint8_t*, const std::int8_t*, std::size_t, std::size_t,
                            std::int32_t*);
constexpr TileKernel kTiles[Int8Kernels::kMaxQueries + 1] = {nullptr,
                                                             &score_blocks_tile<1>,
                                                             &score_blocks_tile<2>,
                                                             &score_blocks_tile<3>,
                                                             &score_blocks_tile<4>,
                                                             &score_blocks_tile<5>,
                                                             &score_blocks_tile<6>,
                                                             &score_blocks_tile<7>,
                                                             &score_blocks_tile<8>};

void score_blocks_multi(std::size_t nq, const std::uint8_t* queries, const std::int8_t* blocks,
                        std::size_t nblocks, std::size_t dim4, std::int32_t* scores) {
  if (nq >= 1 && nq <= Int8Kernels::kMaxQueries) kTiles[nq](queries, blocks, nblocks, dim4, scores);
}

}  // namespace

const Int8Kernels& avx512_vnni_int8_kernels() {
  static const Int8Kernels kernels{&score_blocks, &score_blocks_multi};
  return kernels;
}

}  // namespace clipface::gallery_detail
