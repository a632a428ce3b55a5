#include "gallery/int8_codec.hpp"

#include <algorithm>
#include <cmath>

#include "gallery/int8_kernels.hpp"

namespace clipface::gallery_detail {
namespace {

constexpr float kCodeMax = 127.0f;
constexpr float kQueryMax = 127.0f;  // |u8 - 128| <= 127

std::int8_t clip_code(float v) {
  return static_cast<std::int8_t>(std::clamp(std::nearbyint(v), -kCodeMax, kCodeMax));
}

}  // namespace

Int8Codec::Int8Codec(std::size_t dim)
    : dim_(dim), dim4_((dim + kGroupDims - 1) / kGroupDims * kGroupDims) {}

void Int8Codec::train(std::size_t n, const float* x) {
  std::vector<float> largest(dim_, 0.0f);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t d = 0; d < dim_; ++d) {
      largest[d] = std::max(largest[d], std::fabs(x[i * dim_ + d]));
    }
  }
  float overall = 0;
  for (float v : largest) overall = std::max(overall, v);
  if (overall <= 0) overall = 1;
  // A dimension never seen non-zero still needs a scale; a tiny one would turn any later value
  // into a clipped extreme, so borrow the largest.
  for (float& v : largest) v = (v > 0 ? v : overall) / kCodeMax;
  scales_ = std::move(largest);
}

void Int8Codec::set_scales(std::vector<float> scales) {
  scales_ = std::move(scales);
}

std::int32_t Int8Codec::encode(const float* x, std::int8_t* codes) const {
  std::int32_t sum = 0;
  for (std::size_t d = 0; d < dim_; ++d) {
    codes[d] = clip_code(x[d] / scales_[d]);
    sum += codes[d];
  }
  std::fill(codes + dim_, codes + dim4_, std::int8_t{0});
  return sum;
}

void Int8Codec::encode_query(const float* q, std::uint8_t* out) const {
  float largest = 0;
  for (std::size_t d = 0; d < dim_; ++d) largest = std::max(largest, std::fabs(q[d] * scales_[d]));
  const float factor = largest > 0 ? kQueryMax / largest : 0.0f;
  for (std::size_t d = 0; d < dim_; ++d) {
    const float v = std::clamp(std::nearbyint(q[d] * scales_[d] * factor), -kQueryMax, kQueryMax);
    out[d] = static_cast<std::uint8_t>(static_cast<int>(v) + kQueryOffset);
  }
  std::fill(out + dim_, out + dim4_, static_cast<std::uint8_t>(kQueryOffset));
}

}  // namespace clipface::gallery_detail
