// Convolutions and pools: Conv2D, DepthwiseConv2dNative and their fused forms, MaxPool, AvgPool.
// Filters are reordered once at load (HWIO -> OIHW; depthwise HW,C,M -> C*M,1,H,W) and
// TensorFlow's SAME padding, which puts the odd pixel at the bottom and right, becomes ATen's
// symmetric padding or an explicit pad in front.
#include <ATen/ATen.h>

#include <limits>
#include <memory>

#include "tfjs/ops.hpp"

namespace clipface::tfjs {
namespace {

struct Pads {
  std::int64_t top = 0, bottom = 0, left = 0, right = 0;
  bool symmetric() const { return top == bottom && left == right; }
};

// Window geometry shared by convolutions and pools.
struct Window {
  std::int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  std::string padding;  // "SAME" | "VALID" | "EXPLICIT"
  Pads explicit_pads;

  Pads pads(std::int64_t h, std::int64_t w) const {
    if (padding == "VALID") return {};
    if (padding == "EXPLICIT") return explicit_pads;
    auto same = [](std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t d) {
      const std::int64_t out = (in + s - 1) / s;
      const std::int64_t total = std::max<std::int64_t>((out - 1) * s + (k - 1) * d + 1 - in, 0);
      return std::pair{total / 2, total - total / 2};
    };
    const auto [top, bottom] = same(h, kh, sh, dh);
    const auto [left, right] = same(w, kw, sw, dw);
    return {top, bottom, left, right};
  }
};

std::vector<std::int64_t> spatial(const OpContext& ctx, const char* key, std::int64_t fallback) {
  const auto v = ctx.node.attr_ints(key);
  if (v.empty()) return {fallback, fallback};
  if (v.size() != 4) ctx.fail(std::string("attribute '") + key + "' needs 4 values");
  if (v[0] != 1 || v[3] != 1) ctx.fail(std::string("'") + key + "' over batch or channels");
  return {v[1], v[2]};
}

Window read_window(const OpContext& ctx, bool pool) {
  const std::string format = ctx.node.attr_string("data_format", "NHWC");
  if (format != "NHWC") ctx.fail("data format " + format + " is not supported (NHWC only)");
  Window w;
  const auto strides = spatial(ctx, "strides", 1);
  w.sh = strides[0];
  w.sw = strides[1];
  if (pool) {
    const auto k = spatial(ctx, "ksize", 1);
    w.kh = k[0];
    w.kw = k[1];
  } else {
    const auto d = spatial(ctx, "dilations", 1);
    w.dh = d[0];
    w.dw = d[1];
  }
  w.padding = ctx.node.attr_string("padding", "VALID");
  if (w.padding == "EXPLICIT") {
    const auto p = ctx.node.attr_ints("explicit_paddings");
    if (p.size() != 8) ctx.fail("explicit padding needs 8 values");
    w.explicit_pads = {p[2], p[3], p[4], p[5]};
  } else if (w.padding != "SAME" && w.padding != "VALID") {
    ctx.fail("padding '" + w.padding + "' is not supported");
  }
  return w;
}

// NCHW in channels-last memory (NHWC bytes, as TensorFlow keeps them): oneDNN's fast path for
// depthwise and pointwise convolutions, ~10x faster than planar NCHW for depthwise ones.
at::Tensor nchw_input(const Value& v) {
  if (!v.nchw && v.tensor.dim() != 4) {
    throw std::invalid_argument("expects a rank-4 input, got rank " +
                                std::to_string(v.tensor.dim()));
  }
  return (v.nchw ? v.tensor : to_nchw(v.tensor)).contiguous(at::MemoryFormat::ChannelsLast);
}

// Pads `x` (NCHW) as `pads` says when ATen's symmetric padding cannot; returns the symmetric
// padding left for the op itself.
std::vector<std::int64_t> prepare_padding(at::Tensor& x, const Pads& pads, double fill) {
  if (pads.symmetric()) return {pads.top, pads.left};
  x = at::constant_pad_nd(x, {pads.left, pads.right, pads.top, pads.bottom}, fill)
          .contiguous(at::MemoryFormat::ChannelsLast);
  return {0, 0};
}

struct ConvPlan {
  Window window;
  at::Tensor weight;  // OIHW
  at::Tensor bias;    // [O] or undefined
  std::int64_t groups = 1;
  Activation activation;
};

Compiled compile_conv(const OpContext& ctx, bool depthwise, bool fused) {
  ctx.expect_inputs(2, fused ? 4 : 2);
  auto plan = std::make_shared<ConvPlan>();
  plan->window = read_window(ctx, false);
  const at::Tensor& filter = ctx.constant(1, "the filter");
  if (filter.dim() != 4) ctx.fail("filter of rank " + std::to_string(filter.dim()));
  plan->window.kh = filter.size(0);
  plan->window.kw = filter.size(1);
  if (depthwise) {  // [H, W, C, M] -> [C * M, 1, H, W]; output channel c * M + m as in TF
    const std::int64_t c = filter.size(2), m = filter.size(3);
    plan->weight = filter.permute({2, 3, 0, 1}).reshape({c * m, 1, filter.size(0), filter.size(1)});
    plan->groups = c;
  } else {  // [H, W, I, O] -> [O, I, H, W]
    plan->weight = filter.permute({3, 2, 0, 1});
  }
  plan->weight = plan->weight.contiguous(at::MemoryFormat::ChannelsLast);
  if (fused) plan->bias = fused_arguments(ctx, 2, /*swap_without_bias=*/true, plan->activation);
  if (ctx.inputs[0].rank >= 0 && ctx.inputs[0].rank != 4) {
    ctx.fail("expects a rank-4 input, got rank " + std::to_string(ctx.inputs[0].rank));
  }
  Compiled c;
  c.out = {4, true, std::nullopt};
  c.exec = [plan](const std::vector<const Value*>& in) -> Value {
    at::Tensor x = nchw_input(*in[0]);
    const Window& w = plan->window;
    const auto padding = prepare_padding(x, w.pads(x.size(2), x.size(3)), 0.0);
    at::Tensor y =
        at::conv2d(x, plan->weight, plan->bias, {w.sh, w.sw}, padding, {w.dh, w.dw}, plan->groups);
    return {activate(plan->activation, y, true), true};
  };
  return c;
}

Compiled compile_pool(const OpContext& ctx, bool max) {
  ctx.expect_inputs(1, 1);
  const Window w = read_window(ctx, true);
  Compiled c;
  c.out = {4, true, std::nullopt};
  c.exec = [w, max](const std::vector<const Value*>& in) -> Value {
    at::Tensor x = nchw_input(*in[0]);
    const Pads pads = w.pads(x.size(2), x.size(3));
    if (max) {
      // Padding never wins a max (TF pads with -inf); ATen takes at most half a window.
      const bool inline_pad = pads.symmetric() && 2 * pads.top <= w.kh && 2 * pads.left <= w.kw;
      std::vector<std::int64_t> padding = {pads.top, pads.left};
      if (!inline_pad) {
        x = at::constant_pad_nd(x, {pads.left, pads.right, pads.top, pads.bottom},
                                -std::numeric_limits<double>::infinity());
        padding = {0, 0};
      }
      return {at::max_pool2d(x, {w.kh, w.kw}, {w.sh, w.sw}, padding), true};
    }
    // TF averages over the pixels inside the image only.
    if (pads.symmetric() && 2 * pads.top <= w.kh && 2 * pads.left <= w.kw) {
      return {at::avg_pool2d(x, {w.kh, w.kw}, {w.sh, w.sw}, {pads.top, pads.left}, false,
                             /*count_include_pad=*/false),
              true};
    }
    const std::vector<std::int64_t> pad = {pads.left, pads.right, pads.top, pads.bottom};
    const at::Tensor sums = at::avg_pool2d(at::constant_pad_nd(x, pad, 0.0), {w.kh, w.kw},
                                           {w.sh, w.sw}, {0, 0}, false, true);
    const at::Tensor ones = at::ones({1, 1, x.size(2), x.size(3)}, x.options());
    const at::Tensor share = at::avg_pool2d(at::constant_pad_nd(ones, pad, 0.0), {w.kh, w.kw},
                                            {w.sh, w.sw}, {0, 0}, false, true);
    return {sums / share, true};
  };
  return c;
}

}  // namespace

void register_conv_ops(Registry& r) {
  r.emplace_back("Conv2D", [](const OpContext& c) { return compile_conv(c, false, false); });
  r.emplace_back("_FusedConv2D", [](const OpContext& c) { return compile_conv(c, false, true); });
  r.emplace_back("DepthwiseConv2dNative",
                 [](const OpContext& c) { return compile_conv(c, true, false); });
  r.emplace_back("DepthwiseConv2d",
                 [](const OpContext& c) { return compile_conv(c, true, false); });
  r.emplace_back("FusedDepthwiseConv2dNative",
                 [](const OpContext& c) { return compile_conv(c, true, true); });
  r.emplace_back("MaxPool", [](const OpContext& c) { return compile_pool(c, true); });
  r.emplace_back("AvgPool", [](const OpContext& c) { return compile_pool(c, false); });
}

}  // namespace clipface::tfjs
