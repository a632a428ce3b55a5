// The tail of TF.js's fused ops (_FusedConv2D, FusedDepthwiseConv2dNative, _FusedMatMul): an
// optional bias and one activation, expanded into plain ATen ops.
#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>

#include "tfjs/ops.hpp"

namespace clipface::tfjs {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

at::Tensor fused_arguments(const OpContext& ctx, std::size_t first_arg, bool swap_without_bias,
                           Activation& activation) {
  const auto ops = ctx.node.attr_strings("fused_ops");
  const std::string extra = ops.empty() ? "" : lower(ops[0]);
  activation.kind = ops.size() > 1 ? lower(ops[1]) : "";
  if (activation.kind == "linear") activation.kind.clear();
  activation.alpha = ctx.node.attr_float("leakyrelu_alpha", 0.2);
  if (extra == "fusedbatchnorm") ctx.fail("fused batch norm is not supported (nor is it in TF.js)");
  if (!extra.empty() && extra != "biasadd") ctx.fail("unknown fused op '" + ops[0] + "'");
  static const std::vector<std::string> kKnown = {"",          "relu",  "relu6",  "elu",
                                                  "leakyrelu", "prelu", "sigmoid"};
  if (std::find(kKnown.begin(), kKnown.end(), activation.kind) == kKnown.end()) {
    ctx.fail("unknown fused activation '" + ops[1] + "'");
  }
  const std::size_t args = ctx.inputs.size() - std::min(ctx.inputs.size(), first_arg);
  const bool bias = extra == "biasadd";
  const bool prelu = activation.kind == "prelu";
  if (args < static_cast<std::size_t>(bias) + static_cast<std::size_t>(prelu)) {
    ctx.fail("has " + std::to_string(args) + " extra inputs, too few for its fused ops");
  }
  at::Tensor bias_value;
  std::size_t next = first_arg;
  // TF.js's conv executors read the PReLU weights from the first argument when there is no bias.
  if (bias || !swap_without_bias) {
    if (bias) bias_value = ctx.constant(next, "the bias");
    ++next;
  }
  if (prelu) activation.weights = ctx.constant(next, "the PReLU weights");
  return bias_value;
}

at::Tensor activate(const Activation& activation, const at::Tensor& x, bool nchw) {
  const std::string& kind = activation.kind;
  if (kind.empty()) return x;
  if (kind == "relu") return at::relu(x);
  if (kind == "relu6") return at::clamp(x, 0.0, 6.0);
  if (kind == "elu") return at::elu(x);
  if (kind == "sigmoid") return at::sigmoid(x);
  if (kind == "leakyrelu") return at::leaky_relu(x, activation.alpha);
  // prelu: x < 0 ? alpha * x : x, alpha broadcast like TF.js
  const at::Tensor alpha = nchw ? broadcast_as_nchw(activation.weights) : activation.weights;
  return at::where(x < 0, x * alpha, x);
}

}  // namespace clipface::tfjs
