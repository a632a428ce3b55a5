// The TF.js ops the runner knows, each compiled once at load into a closure over ATen ops
// (internal header). Compiling sees what is known before any input arrives: each input's rank,
// layout and, for constants, its value; so weights are converted once (NHWC -> NCHW, HWIO ->
// OIHW), fused ops are expanded and constant operands put in the layout they meet.
//
// Layout: TF.js graphs are NHWC. Rank-4 activations run as NCHW tensors (what ATen's
// convolutions and pools want), marked `nchw`; every other value is in TensorFlow's own layout
// ("logical"). Ops that cannot map an axis through the permutation (Reshape, StridedSlice, ...)
// see the logical view (a permuted view, no copy).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tfjs/model_json.hpp"

namespace clipface::tfjs {

// A runtime value: a tensor and whether it is the NCHW form of a logical NHWC tensor.
struct Value {
  at::Tensor tensor;
  bool nchw = false;
};

// What the builder knows about a value before running anything.
struct ValueInfo {
  int rank = -1;  // -1 when unknown
  bool nchw = false;
  std::optional<at::Tensor> constant;  // logical layout
};

using Exec = std::function<Value(const std::vector<const Value*>& inputs)>;

struct Compiled {
  Exec exec;
  ValueInfo out;  // rank and layout of the result (constant is filled in by folding)
};

// What an op compiler gets. Errors are thrown through `fail` (a ModelError naming the node).
struct OpContext {
  const NodeDef& node;
  std::vector<ValueInfo> inputs;

  [[noreturn]] void fail(const std::string& why) const;
  void expect_inputs(std::size_t min, std::size_t max) const;
  // The constant value of input i (fails when the input is computed at run time).
  const at::Tensor& constant(std::size_t i, const char* what) const;
  std::vector<std::int64_t> constant_ints(std::size_t i, const char* what) const;
};

using Compiler = std::function<Compiled(const OpContext&)>;

// nullptr for an op the runner does not know (supported_ops() in clipface/tfjs.hpp lists them).
const Compiler* find_op(const std::string& op);

// Layout helpers shared by the op files.
at::Tensor logical(const Value& v);                   // NHWC view of an nchw value
at::Tensor to_nchw(const at::Tensor& logical_rank4);  // permuted view
// A logical operand of rank <= 4 reshaped so it broadcasts against NCHW tensors.
at::Tensor broadcast_as_nchw(const at::Tensor& logical_operand);
// Where logical NHWC axis `axis` (negative allowed) lives in the NCHW tensor.
std::int64_t nchw_axis(std::int64_t axis);

// The activation a fused op ends with (TF.js's applyActivation): "" (linear), relu, relu6, elu,
// leakyrelu (alpha), prelu (weights, logical layout), sigmoid.
struct Activation {
  std::string kind;
  double alpha = 0.2;
  at::Tensor weights;
};
// Reads fused_ops / num_args / leakyrelu_alpha; `args` are the inputs after the op's own ones.
// Returns the bias (undefined without BiasAdd) and fills `activation`.
at::Tensor fused_arguments(const OpContext& ctx, std::size_t first_arg, bool swap_without_bias,
                           Activation& activation);
// Applies it to a value in the given layout.
at::Tensor activate(const Activation& activation, const at::Tensor& x, bool nchw);

// Registration, one function per op family (explicit: static-library objects that are never
// referenced would be dropped with their self-registering statics).
using Registry = std::vector<std::pair<std::string, Compiler>>;
void register_conv_ops(Registry& registry);
void register_math_ops(Registry& registry);
void register_shape_ops(Registry& registry);

}  // namespace clipface::tfjs
