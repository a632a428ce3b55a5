// AVX2 int8 kernels, for CPUs without AVX-512 VNNI. AVX2's byte multiply-add (vpmaddubsw)
// saturates to int16 (255 x 127 x 2 > 32767), so the codes and the query are widened to int16
// first and multiplied with vpmaddwd, whose pair sums are exact in int32: the results equal the
// scalar kernels' bit for bit. Per 4-dimension group a block holds 16 rows x 4 bytes; each 16-byte
// quarter (4 rows) widens to one register of 16 int16, so four accumulators hold two partial sums
// per row, folded into one at the end. Target attributes keep the rest of the build at the
// baseline ISA; only called after the CPU check in int8_kernels.cpp.
#include <immintrin.h>

#include <cstring>

#include "gallery/int8_kernels.hpp"

#define CLIPFACE_AVX2 __attribute__((target("avx2")))

namespace clipface::gallery_detail {
namespace {

// The 4 query bytes of a group as int16, repeated for the 4 rows of a register.
CLIPFACE_AVX2 inline __m256i query_group(const std::uint8_t* query) {
  std::int64_t packed = 0;
  for (int j = 0; j < 4; ++j) packed |= static_cast<std::int64_t>(query[j]) << (16 * j);
  return _mm256_set1_epi64x(packed);
}

// Rows r..r+3 of one group, widened: 16 bytes of codes -> 16 int16.
CLIPFACE_AVX2 inline __m256i codes16(const std::int8_t* chunk, int quarter) {
  return _mm256_cvtepi8_epi16(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(chunk + 16 * quarter)));
}

// acc[k] holds rows 4k..4k+3 as [r0 part0, r0 part1, r1 part0, ...]; writes the 16 row sums.
CLIPFACE_AVX2 inline void store_rows(const __m256i acc[4], std::int32_t* out) {
  // hadd works within 128-bit lanes: [r0 r1 r4 r5 | r2 r3 r6 r7]; the permute restores the order.
  const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
  const __m256i low = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(acc[0], acc[1]), order);
  const __m256i high = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(acc[2], acc[3]), order);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), low);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8), high);
}

// NQ queries share each widened load of a block (4 x NQ accumulators + 4 code registers fit the
// 16 ymm registers for NQ <= 2).
template <std::size_t NQ>
CLIPFACE_AVX2 void score_tile(const std::uint8_t* const* queries, const std::int8_t* blocks,
                              std::size_t nblocks, std::size_t dim4, std::int32_t* const* scores) {
  for (std::size_t b = 0; b < nblocks; ++b) {
    const std::int8_t* block = blocks + b * block_bytes(dim4);
    __m256i acc[NQ][4];
    for (std::size_t q = 0; q < NQ; ++q) {
      for (auto& a : acc[q]) a = _mm256_setzero_si256();
    }
    for (std::size_t g = 0; g < dim4; g += kGroupDims) {
      const std::int8_t* chunk = block + g * kBlockRows;
      const __m256i c0 = codes16(chunk, 0), c1 = codes16(chunk, 1), c2 = codes16(chunk, 2),
                    c3 = codes16(chunk, 3);
      for (std::size_t q = 0; q < NQ; ++q) {
        const __m256i v = query_group(queries[q] + g);
        acc[q][0] = _mm256_add_epi32(acc[q][0], _mm256_madd_epi16(c0, v));
        acc[q][1] = _mm256_add_epi32(acc[q][1], _mm256_madd_epi16(c1, v));
        acc[q][2] = _mm256_add_epi32(acc[q][2], _mm256_madd_epi16(c2, v));
        acc[q][3] = _mm256_add_epi32(acc[q][3], _mm256_madd_epi16(c3, v));
      }
    }
    for (std::size_t q = 0; q < NQ; ++q) store_rows(acc[q], scores[q] + b * kBlockRows);
  }
}

void score_blocks(const std::uint8_t* query, const std::int8_t* blocks, std::size_t nblocks,
                  std::size_t dim4, std::int32_t* scores) {
  score_tile<1>(&query, blocks, nblocks, dim4, &scores);
}

void score_blocks_multi(std::size_t nq, const std::uint8_t* queries, const std::int8_t* blocks,
                        std::size_t nblocks, std::size_t dim4, std::int32_t* scores) {
  std::size_t q = 0;
  for (; q + 2 <= nq; q += 2) {
    const std::uint8_t* pair[2] = {queries + q * dim4, queries + (q + 1) * dim4};
    std::int32_t* out[2] = {scores + q * nblocks * kBlockRows,
                            scores + (q + 1) * nblocks * kBlockRows};
    score_tile<2>(pair, blocks, nblocks, dim4, out);
  }
  if (q < nq)
    score_blocks(queries + q * dim4, blocks, nblocks, dim4, scores + q * nblocks * kBlockRows);
}

}  // namespace

const Int8Kernels& avx2_int8_kernels() {
  static const Int8Kernels kernels{&score_blocks, &score_blocks_multi};
  return kernels;
}

}  // namespace clipface::gallery_detail
