#include "gallery/packed_rows.hpp"

#include <algorithm>

namespace clipface::gallery_detail {

void PackedRows::put_codes(std::size_t row, const std::int8_t* codes) {
  std::int8_t* block = &blocks_[(row / kBlockRows) * block_bytes(dim4_)];
  const std::size_t r = row % kBlockRows;
  for (std::size_t d = 0; d < dim4_; ++d) block[block_offset(r, d)] = codes[d];
}

void PackedRows::get_codes(std::size_t row, std::int8_t* codes) const {
  const std::int8_t* block = &blocks_[(row / kBlockRows) * block_bytes(dim4_)];
  const std::size_t r = row % kBlockRows;
  for (std::size_t d = 0; d < dim4_; ++d) codes[d] = block[block_offset(r, d)];
}

void PackedRows::append(const Int8Codec& codec, const float* vector, std::int64_t label) {
  thread_local std::vector<std::int8_t> codes;  // contiguous codes, before interleaving
  codes.resize(dim4_);
  const std::int32_t code_sum = codec.encode(vector, codes.data());
  const std::size_t row = size();
  if (row % kBlockRows == 0) blocks_.resize(blocks_.size() + block_bytes(dim4_), 0);
  labels_.push_back(label);
  sums_.push_back(code_sum);
  vectors_.insert(vectors_.end(), vector, vector + dim_);
  put_codes(row, codes.data());
}

void PackedRows::remove(std::size_t row) {
  const std::size_t last = size() - 1;
  std::vector<std::int8_t> codes(dim4_, 0);
  if (row != last) {
    get_codes(last, codes.data());
    put_codes(row, codes.data());
    labels_[row] = labels_[last];
    sums_[row] = sums_[last];
    std::copy_n(&vectors_[last * dim_], dim_, &vectors_[row * dim_]);
  }
  std::fill(codes.begin(), codes.end(), std::int8_t{0});
  put_codes(last, codes.data());  // unused rows stay 0
  labels_.pop_back();
  sums_.pop_back();
  vectors_.resize(last * dim_);
  blocks_.resize(nblocks() * block_bytes(dim4_));
}

void PackedRows::clear() {
  blocks_.clear();
  sums_.clear();
  labels_.clear();
  vectors_.clear();
}

void PackedRows::reserve(std::size_t rows) {
  blocks_.reserve((rows + kBlockRows - 1) / kBlockRows * block_bytes(dim4_));
  sums_.reserve(rows);
  labels_.reserve(rows);
  vectors_.reserve(rows * dim_);
}

void PackedRows::score(const Int8Kernels& kernels, const std::uint8_t* query,
                       std::int32_t* scores) const {
  if (labels_.empty()) return;
  kernels.score_blocks(query, blocks_.data(), nblocks(), dim4_, scores);
  correct(0, size(), scores);
}

void PackedRows::correct(std::size_t first, std::size_t n, std::int32_t* scores) const {
  const std::int32_t* sums = sums_.data() + first;
  for (std::size_t r = 0; r < n; ++r) scores[r] -= kQueryOffset * sums[r];
}

std::size_t PackedRows::memory_bytes() const {
  return blocks_.capacity() + sums_.capacity() * sizeof(std::int32_t) +
         labels_.capacity() * sizeof(std::int64_t) + vectors_.capacity() * sizeof(float);
}

}  // namespace clipface::gallery_detail
