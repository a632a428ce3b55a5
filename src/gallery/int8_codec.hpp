// Scalar quantization of vectors to int8 for the integer kernels: each dimension d has a scale
// s_d (its largest magnitude in the training vectors / 127), a stored vector becomes
// round(x_d / s_d) and a query becomes u8 values proportional to q_d * s_d, plus 128 so VNNI can
// treat them as unsigned. Then sum_d query_u8[d] * code[d] - 128 * sum_d code[d] is proportional
// to the inner product, with the same factor for every stored vector of one query: rankings can
// be made in integers alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace clipface::gallery_detail {

class Int8Codec {
 public:
  Int8Codec() = default;
  explicit Int8Codec(std::size_t dim);

  // Scales from these vectors (a dimension that is always 0 gets a harmless positive scale).
  void train(std::size_t n, const float* x);
  bool trained() const { return !scales_.empty(); }

  std::size_t dim() const { return dim_; }
  std::size_t dim4() const { return dim4_; }  // dim rounded up to the kernels' group of 4
  const std::vector<float>& scales() const { return scales_; }
  void set_scales(std::vector<float> scales);  // as saved; size must be dim()

  // dim4() codes (0 beyond dim); values outside the trained range are clipped. Returns the sum
  // of the codes (the offset correction).
  std::int32_t encode(const float* x, std::int8_t* codes) const;
  // dim4() query bytes (128 beyond dim).
  void encode_query(const float* q, std::uint8_t* out) const;

 private:
  std::size_t dim_ = 0;
  std::size_t dim4_ = 0;
  std::vector<float> scales_;
};

}  // namespace clipface::gallery_detail
