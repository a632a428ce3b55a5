// Integer dot products between int8 codes and a u8 query, the inner loop of the int8 indexes.
// Rows are packed 16 at a time with their dimensions interleaved by 4 ("blocks"), the layout
// in which one AVX-512 VNNI instruction multiplies 4 dimensions of 16 rows at once and no
// horizontal sums are needed. Three implementations, chosen at run time from the CPU: AVX-512 VNNI,
// AVX2 (int16 multiply-adds) and portable scalar code. All compute exact int32 sums, so they give
// identical results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace clipface::gallery_detail {

inline constexpr std::size_t kBlockRows = 16;      // rows per packed block
inline constexpr std::size_t kGroupDims = 4;       // dimensions interleaved per row in a block
inline constexpr std::int32_t kQueryOffset = 128;  // u8 query byte = signed value + 128

// Bytes of one packed block for `dim4` dimensions (a multiple of kGroupDims).
constexpr std::size_t block_bytes(std::size_t dim4) {
  return dim4 * kBlockRows;
}

// Byte offset of (row r, dimension d) inside one block.
constexpr std::size_t block_offset(std::size_t r, std::size_t d) {
  return (d / kGroupDims) * kBlockRows * kGroupDims + r * kGroupDims + d % kGroupDims;
}

enum class Int8Isa { scalar, avx2, avx512_vnni };

struct Int8Kernels {
  // scores[b * 16 + r] = sum_d query[d] * row_r[d] over `blocks` packed blocks.
  void (*score_blocks)(const std::uint8_t* query, const std::int8_t* blocks, std::size_t nblocks,
                       std::size_t dim4, std::int32_t* scores);
  // The same for `nq` <= kMaxQueries queries at once (each block is read once for all of them);
  // scores[q * nblocks * 16 + b * 16 + r].
  void (*score_blocks_multi)(std::size_t nq, const std::uint8_t* queries, const std::int8_t* blocks,
                             std::size_t nblocks, std::size_t dim4, std::int32_t* scores);
  static constexpr std::size_t kMaxQueries = 8;
};

// The kernels in use: the best the CPU supports, unless CLIPFACE_INT8_ISA (scalar | avx2 |
// avx512_vnni) asks for another it supports, or a test forced one with force_int8_isa.
const Int8Kernels& int8_kernels();
Int8Isa int8_isa();
bool int8_isa_supported(Int8Isa isa);
// Throws InputError when this CPU cannot run `isa`.
void force_int8_isa(Int8Isa isa);
std::string to_string(Int8Isa isa);

// The implementations (int8_kernels_scalar.cpp, int8_kernels_avx2.cpp, int8_kernels_avx512.cpp).
const Int8Kernels& scalar_int8_kernels();
const Int8Kernels& avx2_int8_kernels();
const Int8Kernels& avx512_vnni_int8_kernels();

}  // namespace clipface::gallery_detail
