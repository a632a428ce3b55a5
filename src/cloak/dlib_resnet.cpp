#include "cloak/dlib_resnet.hpp"

#include "clipface/errors.hpp"

namespace clipface::cloak {
namespace {

namespace F = torch::nn::functional;

torch::Tensor tensor_of(const std::vector<float>& values, std::vector<long> shape) {
  std::vector<int64_t> sizes(shape.begin(), shape.end());
  return torch::from_blob(const_cast<float*>(values.data()), sizes, torch::kFloat).clone();
}

torch::Tensor pad_to(const torch::Tensor& t, int64_t channels, int64_t rows, int64_t cols) {
  if (t.size(1) == channels && t.size(2) == rows && t.size(3) == cols) return t;
  // F::pad takes (left, right) pairs from the last dimension back.
  return F::pad(
      t, F::PadFuncOptions({0, cols - t.size(3), 0, rows - t.size(2), 0, channels - t.size(1)}));
}

}  // namespace

torch::Tensor add_zero_padded(const torch::Tensor& a, const torch::Tensor& b) {
  const int64_t c = std::max(a.size(1), b.size(1));
  const int64_t r = std::max(a.size(2), b.size(2));
  const int64_t w = std::max(a.size(3), b.size(3));
  return pad_to(a, c, r, w) + pad_to(b, c, r, w);
}

DlibResnet::DlibResnet(const DlibResnetWeights& weights) {
  const auto& layers = weights.layers;
  const std::string file = weights.path.string();
  // stem (con, affine), 14 blocks x (con, affine, con, affine), fc
  if (layers.size() != 2 + 14 * 4 + 1) {
    throw ModelError("not dlib's face ResNet (" + std::to_string(layers.size()) +
                     " parametrised layers, expected 59): " + file);
  }
  std::size_t next = 0;
  auto take_conv = [&]() {
    const DlibLayer& con = layers[next++];
    const DlibLayer& affine = layers[next++];
    if (con.kind != "con" || affine.kind != "affine" || affine.shape[0] != con.shape[0]) {
      throw ModelError("unexpected layer '" + con.kind + "'/'" + affine.kind + "' at " +
                       std::to_string(next - 2) + " in " + file);
    }
    Conv c;
    c.weight = tensor_of(con.weights, con.shape);
    if (!con.biases.empty()) c.bias = tensor_of(con.biases, {con.shape[0]});
    c.stride = con.stride;
    c.padding = con.padding;
    c.gamma = tensor_of(affine.weights, {1, affine.shape[0], 1, 1});
    c.beta = tensor_of(affine.biases, {1, affine.shape[0], 1, 1});
    return c;
  };
  stem_ = take_conv();
  for (int b = 0; b < 14; ++b) {
    Conv first = take_conv();
    Conv second = take_conv();
    blocks_.emplace_back(std::move(first), std::move(second));
  }
  const DlibLayer& fc = layers[next];
  if (fc.kind != "fc" || fc.shape.size() != 2 || fc.shape[1] != 128) {
    throw ModelError("expected the 128-d fc layer last in " + file);
  }
  fc_ = tensor_of(fc.weights, fc.shape);
  mean_ = torch::tensor({weights.mean_rgb[0], weights.mean_rgb[1], weights.mean_rgb[2]})
              .reshape({1, 3, 1, 1});
}

torch::Tensor DlibResnet::conv_affine(const torch::Tensor& x, const Conv& c) const {
  torch::Tensor y = torch::conv2d(x, c.weight, c.bias, c.stride, c.padding);
  return y * c.gamma + c.beta;
}

torch::Tensor DlibResnet::forward(const torch::Tensor& rgb01) const {
  // dlib's input layer: (pixel - mean) / 256 on the 0-255 scale.
  torch::Tensor x = (rgb01 * 255.0 - mean_) / 256.0;
  x = torch::relu(conv_affine(x, stem_));
  x = torch::max_pool2d(x, 3, 2);
  for (const auto& [first, second] : blocks_) {
    torch::Tensor y = torch::relu(conv_affine(x, first));
    y = conv_affine(y, second);
    // A strided first convolution marks a down-sampling block: its shortcut is a 2x2 average
    // pool, whose size and channel count may differ from the block's (see the header).
    torch::Tensor shortcut = first.stride == 1 ? x : torch::avg_pool2d(x, 2, 2);
    x = torch::relu(add_zero_padded(y, shortcut));
  }
  x = x.mean({2, 3});
  return torch::matmul(x, fc_);
}

DlibResnet DlibResnet::to(torch::ScalarType type) const {
  DlibResnet out;
  auto convert = [type](const Conv& c) {
    Conv d = c;
    d.weight = c.weight.to(type);
    if (c.bias.defined()) d.bias = c.bias.to(type);
    d.gamma = c.gamma.to(type);
    d.beta = c.beta.to(type);
    return d;
  };
  out.mean_ = mean_.to(type);
  out.stem_ = convert(stem_);
  for (const auto& [a, b] : blocks_) out.blocks_.emplace_back(convert(a), convert(b));
  out.fc_ = fc_.to(type);
  return out;
}

}  // namespace clipface::cloak
