// A growable set of int8-coded vectors in the kernels' block layout (16 rows per block, each
// row's dimensions interleaved by 4), with what scoring and re-ranking need beside the codes:
// each row's code sum (the u8 offset correction), its label and its original fp32 vector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "gallery/int8_codec.hpp"
#include "gallery/int8_kernels.hpp"

namespace clipface::gallery_detail {

class PackedRows {
 public:
  PackedRows() = default;
  PackedRows(std::size_t dim, std::size_t dim4) : dim_(dim), dim4_(dim4) {}

  std::size_t size() const { return labels_.size(); }
  std::size_t nblocks() const { return (size() + kBlockRows - 1) / kBlockRows; }

  // Codes `vector` (dim values) with `codec`, whose dimensions these rows have, and appends it.
  void append(const Int8Codec& codec, const float* vector, std::int64_t label);
  // Moves the last row into `row`'s place (order is not kept).
  void remove(std::size_t row);
  void clear();
  void reserve(std::size_t rows);

  // scores[r] for every row (room for nblocks() * 16 values): proportional to the inner product
  // with the query the u8 bytes were made from (see Int8Codec).
  void score(const Int8Kernels& kernels, const std::uint8_t* query, std::int32_t* scores) const;
  // Turns raw kernel sums of rows [first, first + n) into such scores (the u8 offset removed).
  void correct(std::size_t first, std::size_t n, std::int32_t* scores) const;

  std::int64_t label(std::size_t row) const { return labels_[row]; }
  std::int32_t code_sum(std::size_t row) const { return sums_[row]; }
  const std::vector<std::int64_t>& labels() const { return labels_; }
  const float* vector(std::size_t row) const { return &vectors_[row * dim_]; }
  const std::int8_t* blocks() const { return blocks_.data(); }
  std::size_t memory_bytes() const;

 private:
  void put_codes(std::size_t row, const std::int8_t* codes);
  void get_codes(std::size_t row, std::int8_t* codes) const;

  std::size_t dim_ = 0;
  std::size_t dim4_ = 0;
  std::vector<std::int8_t> blocks_;  // nblocks() * block_bytes(dim4_); unused rows are 0
  std::vector<std::int32_t> sums_;
  std::vector<std::int64_t> labels_;
  std::vector<float> vectors_;
};

}  // namespace clipface::gallery_detail
