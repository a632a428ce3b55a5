// Element-wise ops, reductions, softmax and matrix products. Element-wise ops keep the layout
// of their activation input; a constant operand is reshaped once at load to broadcast against
// NCHW, and reductions and softmax map their TensorFlow axes onto the NCHW dimensions.
#include <ATen/ATen.h>

#include <algorithm>
#include <memory>
#include <numeric>

#include "tfjs/ops.hpp"

namespace clipface::tfjs {
namespace {

using Unary = std::function<at::Tensor(const at::Tensor&)>;
using Binary = std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>;

Compiled compile_unary(const OpContext& ctx, Unary fn) {
  ctx.expect_inputs(1, 1);
  Compiled c;
  c.out = {ctx.inputs[0].rank, ctx.inputs[0].nchw, std::nullopt};
  c.exec = [fn](const std::vector<const Value*>& in) -> Value {
    return {fn(in[0]->tensor), in[0]->nchw};
  };
  return c;
}

// One operand of an element-wise op whose other operand may be NCHW.
struct Operand {
  bool nchw = false;
  at::Tensor constant;  // already in the layout it meets (defined for constants)
};

Compiled compile_binary(const OpContext& ctx, Binary fn) {
  ctx.expect_inputs(2, 2);
  const ValueInfo& a = ctx.inputs[0];
  const ValueInfo& b = ctx.inputs[1];
  Compiled c;
  const bool known_ranks = a.rank >= 0 && b.rank >= 0;
  const bool as_nchw = (a.nchw || b.nchw) && known_ranks && a.rank <= 4 && b.rank <= 4;
  if (!as_nchw) {
    c.out = {known_ranks ? std::max(a.rank, b.rank) : -1, false, std::nullopt};
    c.exec = [fn](const std::vector<const Value*>& in) -> Value {
      return {fn(logical(*in[0]), logical(*in[1])), false};
    };
    return c;
  }
  // The result is a rank-4 NCHW value; a logical operand is reshaped to broadcast against it.
  std::array<Operand, 2> ops;
  for (std::size_t i = 0; i < 2; ++i) {
    ops[i].nchw = ctx.inputs[i].nchw;
    if (!ops[i].nchw && ctx.inputs[i].constant) {
      ops[i].constant = broadcast_as_nchw(*ctx.inputs[i].constant).contiguous();
    }
  }
  c.out = {4, true, std::nullopt};
  c.exec = [fn, ops](const std::vector<const Value*>& in) -> Value {
    auto operand = [&](std::size_t i) -> at::Tensor {
      if (ops[i].nchw) return in[i]->tensor;
      if (ops[i].constant.defined()) return ops[i].constant;
      return broadcast_as_nchw(in[i]->tensor);
    };
    return {fn(operand(0), operand(1)), true};
  };
  return c;
}

// Maps TensorFlow reduction axes onto the value's layout; `rank` is the logical rank.
struct Reduction {
  std::vector<std::int64_t> dims;     // in the tensor as stored
  std::vector<std::int64_t> restore;  // permutation back to logical order (empty = none)
  bool keep = false;
};

Reduction plan_reduction(const OpContext& ctx, std::vector<std::int64_t> axes, bool keep) {
  const ValueInfo& x = ctx.inputs[0];
  Reduction r;
  r.keep = keep;
  const int rank = x.rank;
  for (auto& axis : axes) {
    if (axis < 0) {
      if (rank < 0) ctx.fail("negative axis on an input of unknown rank");
      axis += rank;
    }
    if (rank >= 0 && (axis < 0 || axis >= rank)) ctx.fail("axis out of range");
  }
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  if (!x.nchw) {
    r.dims = axes;
    return r;
  }
  for (const auto axis : axes) r.dims.push_back(nchw_axis(axis));
  if (keep) return r;
  // The kept logical axes come out in NCHW order; put them back in logical order.
  std::vector<std::pair<std::int64_t, std::int64_t>> kept;  // (stored position, logical axis)
  for (std::int64_t axis = 0; axis < 4; ++axis) {
    if (std::find(axes.begin(), axes.end(), axis) == axes.end()) {
      kept.emplace_back(nchw_axis(axis), axis);
    }
  }
  std::sort(kept.begin(), kept.end());
  std::vector<std::int64_t> order;  // logical axis of each stored result dim
  for (const auto& [position, axis] : kept) order.push_back(axis);
  if (!std::is_sorted(order.begin(), order.end())) {
    r.restore.resize(order.size());
    std::iota(r.restore.begin(), r.restore.end(), 0);
    std::sort(r.restore.begin(), r.restore.end(),
              [&](std::int64_t i, std::int64_t j) { return order[i] < order[j]; });
  }
  return r;
}

using Reducer = std::function<at::Tensor(const at::Tensor&, at::IntArrayRef, bool)>;

Compiled compile_reduction(const OpContext& ctx, Reducer reducer) {
  ctx.expect_inputs(2, 2);
  const bool keep = ctx.node.attr_bool("keep_dims", false);
  const Reduction r = plan_reduction(ctx, ctx.constant_ints(1, "the axes"), keep);
  const ValueInfo& x = ctx.inputs[0];
  Compiled c;
  const bool stays_nchw = x.nchw && keep;
  c.out = {x.rank < 0 ? -1
           : keep     ? x.rank
                      : x.rank - static_cast<int>(r.dims.size()),
           stays_nchw, std::nullopt};
  c.exec = [reducer, r](const std::vector<const Value*>& in) -> Value {
    const Value& x = *in[0];
    if (r.dims.empty()) return x;  // TensorFlow: no axes, no reduction
    at::Tensor y = reducer(x.tensor, r.dims, r.keep);
    if (!r.restore.empty()) y = y.permute(r.restore);
    return {y, x.nchw && r.keep};
  };
  return c;
}

Compiled compile_softmax(const OpContext& ctx, bool log) {
  ctx.expect_inputs(1, 1);
  Compiled c;
  c.out = {ctx.inputs[0].rank, ctx.inputs[0].nchw, std::nullopt};
  c.exec = [log](const std::vector<const Value*>& in) -> Value {
    const std::int64_t dim = in[0]->nchw ? 1 : -1;  // TensorFlow's last axis
    return {log ? at::log_softmax(in[0]->tensor, dim) : at::softmax(in[0]->tensor, dim),
            in[0]->nchw};
  };
  return c;
}

Compiled compile_matmul(const OpContext& ctx, bool fused, bool batch) {
  ctx.expect_inputs(2, fused ? 4 : 2);
  const bool ta = ctx.node.attr_bool(batch ? "adj_x" : "transpose_a", false);
  const bool tb = ctx.node.attr_bool(batch ? "adj_y" : "transpose_b", false);
  Activation activation;
  at::Tensor bias;
  if (fused) bias = fused_arguments(ctx, 2, /*swap_without_bias=*/false, activation);
  // A constant right-hand side (the usual weight matrix) is transposed once here.
  at::Tensor weight;
  if (ctx.inputs[1].constant) {
    weight = *ctx.inputs[1].constant;
    if (tb) weight = weight.transpose(-2, -1);
    weight = weight.contiguous();
  }
  Compiled c;
  c.out = {ctx.inputs[0].rank, false, std::nullopt};
  c.exec = [=](const std::vector<const Value*>& in) -> Value {
    at::Tensor a = logical(*in[0]);
    if (ta) a = a.transpose(-2, -1);
    at::Tensor b = weight.defined() ? weight : logical(*in[1]);
    if (!weight.defined() && tb) b = b.transpose(-2, -1);
    at::Tensor y = bias.defined() && a.dim() == 2 ? at::addmm(bias, a, b) : at::matmul(a, b);
    if (bias.defined() && a.dim() != 2) y = y + bias;
    return {activate(activation, y, false), false};
  };
  return c;
}

// y = (x - mean) / sqrt(variance + epsilon) * scale + offset, folded into one multiply-add.
Compiled compile_batch_norm(const OpContext& ctx) {
  ctx.expect_inputs(5, 5);
  if (ctx.node.attr_string("data_format", "NHWC") != "NHWC") ctx.fail("NHWC only");
  const double epsilon = ctx.node.attr_float("epsilon", 1e-3);
  const at::Tensor scale = ctx.constant(1, "the scale");
  const at::Tensor offset = ctx.constant(2, "the offset");
  const at::Tensor mean = ctx.constant(3, "the mean");
  const at::Tensor variance = ctx.constant(4, "the variance");
  const at::Tensor multiplier = scale * at::rsqrt(variance + epsilon);
  const at::Tensor shift = offset - mean * multiplier;
  const bool nchw = ctx.inputs[0].nchw;
  const at::Tensor m = nchw ? broadcast_as_nchw(multiplier) : multiplier;
  const at::Tensor s = nchw ? broadcast_as_nchw(shift) : shift;
  Compiled c;
  c.out = {ctx.inputs[0].rank, nchw, std::nullopt};
  c.exec = [m, s](const std::vector<const Value*>& in) -> Value {
    return {at::addcmul(s, in[0]->tensor, m), in[0]->nchw};
  };
  return c;
}

// AddN: a chain of element-wise additions, with the same layout rules.
Compiled compile_add_n(const OpContext& ctx) {
  if (ctx.inputs.empty()) ctx.fail("has no inputs");
  bool all_nchw = true;
  for (const auto& in : ctx.inputs) all_nchw = all_nchw && in.nchw;
  Compiled c;
  c.out = {ctx.inputs[0].rank, all_nchw, std::nullopt};
  c.exec = [all_nchw](const std::vector<const Value*>& in) -> Value {
    at::Tensor sum = all_nchw ? in[0]->tensor : logical(*in[0]);
    for (std::size_t i = 1; i < in.size(); ++i)
      sum = sum + (all_nchw ? in[i]->tensor : logical(*in[i]));
    return {sum, all_nchw};
  };
  return c;
}

void unary(Registry& r, const char* name, Unary fn) {
  r.emplace_back(name, [fn](const OpContext& c) { return compile_unary(c, fn); });
}

void binary(Registry& r, const char* name, Binary fn) {
  r.emplace_back(name, [fn](const OpContext& c) { return compile_binary(c, fn); });
}

void reduction(Registry& r, const char* name, Reducer fn) {
  r.emplace_back(name, [fn](const OpContext& c) { return compile_reduction(c, fn); });
}

}  // namespace

void register_math_ops(Registry& r) {
  unary(r, "Relu", [](const at::Tensor& x) { return at::relu(x); });
  unary(r, "Relu6", [](const at::Tensor& x) { return at::clamp(x, 0.0, 6.0); });
  unary(r, "Elu", [](const at::Tensor& x) { return at::elu(x); });
  unary(r, "Selu", [](const at::Tensor& x) { return at::selu(x); });
  unary(r, "Sigmoid", [](const at::Tensor& x) { return at::sigmoid(x); });
  unary(r, "Tanh", [](const at::Tensor& x) { return at::tanh(x); });
  unary(r, "Softplus", [](const at::Tensor& x) { return at::softplus(x); });
  unary(r, "Abs", [](const at::Tensor& x) { return at::abs(x); });
  unary(r, "Neg", [](const at::Tensor& x) { return at::neg(x); });
  unary(r, "Square", [](const at::Tensor& x) { return x * x; });
  unary(r, "Sqrt", [](const at::Tensor& x) { return at::sqrt(x); });
  unary(r, "Rsqrt", [](const at::Tensor& x) { return at::rsqrt(x); });
  unary(r, "Reciprocal", [](const at::Tensor& x) { return at::reciprocal(x); });
  unary(r, "Exp", [](const at::Tensor& x) { return at::exp(x); });
  unary(r, "Log", [](const at::Tensor& x) { return at::log(x); });
  unary(r, "Floor", [](const at::Tensor& x) { return at::floor(x); });
  unary(r, "Ceil", [](const at::Tensor& x) { return at::ceil(x); });
  unary(r, "Sign", [](const at::Tensor& x) { return at::sign(x); });
  unary(r, "Erf", [](const at::Tensor& x) { return at::erf(x); });
  r.emplace_back("LeakyRelu", [](const OpContext& c) {
    const double alpha = c.node.attr_float("alpha", 0.2);
    return compile_unary(c, [alpha](const at::Tensor& x) { return at::leaky_relu(x, alpha); });
  });

  binary(r, "Add", [](const at::Tensor& a, const at::Tensor& b) { return a + b; });
  binary(r, "AddV2", [](const at::Tensor& a, const at::Tensor& b) { return a + b; });
  binary(r, "BiasAdd", [](const at::Tensor& a, const at::Tensor& b) { return a + b; });
  binary(r, "Sub", [](const at::Tensor& a, const at::Tensor& b) { return a - b; });
  binary(r, "Mul", [](const at::Tensor& a, const at::Tensor& b) { return a * b; });
  binary(r, "RealDiv", [](const at::Tensor& a, const at::Tensor& b) { return a / b; });
  binary(r, "Div", [](const at::Tensor& a, const at::Tensor& b) { return a / b; });
  binary(r, "DivNoNan", [](const at::Tensor& a, const at::Tensor& b) {
    return at::where(b == 0, at::zeros_like(a / b), a / b);
  });
  binary(r, "FloorDiv",
         [](const at::Tensor& a, const at::Tensor& b) { return at::div(a, b, "floor"); });
  binary(r, "Maximum", [](const at::Tensor& a, const at::Tensor& b) { return at::maximum(a, b); });
  binary(r, "Minimum", [](const at::Tensor& a, const at::Tensor& b) { return at::minimum(a, b); });
  binary(r, "Pow", [](const at::Tensor& a, const at::Tensor& b) { return at::pow(a, b); });
  binary(r, "SquaredDifference", [](const at::Tensor& a, const at::Tensor& b) {
    const at::Tensor d = a - b;
    return d * d;
  });
  binary(r, "Prelu", [](const at::Tensor& x, const at::Tensor& alpha) {
    return at::where(x < 0, x * alpha, x);
  });
  binary(r, "Greater", [](const at::Tensor& a, const at::Tensor& b) { return a > b; });
  binary(r, "GreaterEqual", [](const at::Tensor& a, const at::Tensor& b) { return a >= b; });
  binary(r, "Less", [](const at::Tensor& a, const at::Tensor& b) { return a < b; });
  binary(r, "LessEqual", [](const at::Tensor& a, const at::Tensor& b) { return a <= b; });
  binary(r, "Equal", [](const at::Tensor& a, const at::Tensor& b) { return a == b; });
  binary(r, "NotEqual", [](const at::Tensor& a, const at::Tensor& b) { return a != b; });
  r.emplace_back("AddN", compile_add_n);

  reduction(r, "Mean",
            [](const at::Tensor& x, at::IntArrayRef d, bool k) { return at::mean(x, d, k); });
  reduction(r, "Sum",
            [](const at::Tensor& x, at::IntArrayRef d, bool k) { return at::sum(x, d, k); });
  reduction(r, "Max",
            [](const at::Tensor& x, at::IntArrayRef d, bool k) { return at::amax(x, d, k); });
  reduction(r, "Min",
            [](const at::Tensor& x, at::IntArrayRef d, bool k) { return at::amin(x, d, k); });
  reduction(r, "Prod", [](const at::Tensor& x, at::IntArrayRef dims, bool keep) {
    at::Tensor y = x;
    std::vector<std::int64_t> sorted(dims.begin(), dims.end());
    std::sort(sorted.rbegin(), sorted.rend());  // last first, so earlier indices stay valid
    for (const auto d : sorted) y = at::prod(y, d, keep);
    return y;
  });

  r.emplace_back("Softmax", [](const OpContext& c) { return compile_softmax(c, false); });
  r.emplace_back("LogSoftmax", [](const OpContext& c) { return compile_softmax(c, true); });
  r.emplace_back("MatMul", [](const OpContext& c) { return compile_matmul(c, false, false); });
  r.emplace_back("_FusedMatMul", [](const OpContext& c) { return compile_matmul(c, true, false); });
  r.emplace_back("BatchMatMul", [](const OpContext& c) { return compile_matmul(c, false, true); });
  r.emplace_back("BatchMatMulV2",
                 [](const OpContext& c) { return compile_matmul(c, false, true); });
  r.emplace_back("FusedBatchNorm", compile_batch_norm);
  r.emplace_back("FusedBatchNormV2", compile_batch_norm);
  r.emplace_back("FusedBatchNormV3", compile_batch_norm);
}

}  // namespace clipface::tfjs
