#include <ATen/ATen.h>

#include <algorithm>
#include <map>

#include "clipface/errors.hpp"
#include "clipface/tfjs.hpp"
#include "tfjs/ops.hpp"

namespace clipface::tfjs {
namespace {

const std::map<std::string, Compiler>& registry() {
  static const std::map<std::string, Compiler> ops = [] {
    Registry all;
    register_conv_ops(all);
    register_math_ops(all);
    register_shape_ops(all);
    return std::map<std::string, Compiler>(all.begin(), all.end());
  }();
  return ops;
}

}  // namespace

void OpContext::fail(const std::string& why) const {
  throw ModelError("node '" + node.name + "' (" + node.op + "): " + why);
}

void OpContext::expect_inputs(std::size_t min, std::size_t max) const {
  if (inputs.size() < min || inputs.size() > max) {
    fail("has " + std::to_string(inputs.size()) + " inputs, expected " +
         (min == max ? std::to_string(min) : std::to_string(min) + "-" + std::to_string(max)));
  }
}

const at::Tensor& OpContext::constant(std::size_t i, const char* what) const {
  if (i >= inputs.size() || !inputs[i].constant) {
    fail(std::string(what) + " must be a constant");
  }
  return *inputs[i].constant;
}

std::vector<std::int64_t> OpContext::constant_ints(std::size_t i, const char* what) const {
  const at::Tensor t = constant(i, what).to(at::kLong).contiguous().reshape({-1});
  const std::int64_t* p = t.data_ptr<std::int64_t>();
  return {p, p + t.numel()};
}

const Compiler* find_op(const std::string& op) {
  const auto& ops = registry();
  const auto it = ops.find(op);
  return it == ops.end() ? nullptr : &it->second;
}

std::vector<std::string> supported_ops() {
  std::vector<std::string> names;
  for (const auto& [name, compiler] : registry()) names.push_back(name);
  return names;  // std::map keeps them sorted
}

at::Tensor logical(const Value& v) {
  return v.nchw ? v.tensor.permute({0, 2, 3, 1}) : v.tensor;
}

at::Tensor to_nchw(const at::Tensor& logical_rank4) {
  return logical_rank4.permute({0, 3, 1, 2});
}

at::Tensor broadcast_as_nchw(const at::Tensor& operand) {
  if (operand.dim() > 4) {
    throw ModelError("cannot broadcast a rank-" + std::to_string(operand.dim()) +
                     " operand against a rank-4 activation");
  }
  std::vector<std::int64_t> shape(4 - operand.dim(), 1);
  for (const auto d : operand.sizes()) shape.push_back(d);
  return to_nchw(operand.reshape(shape));
}

std::int64_t nchw_axis(std::int64_t axis) {
  if (axis < 0) axis += 4;
  static constexpr std::int64_t kPosition[4] = {0, 2, 3, 1};
  if (axis < 0 || axis > 3) throw ModelError("axis " + std::to_string(axis) + " out of range");
  return kPosition[axis];
}

}  // namespace clipface::tfjs
