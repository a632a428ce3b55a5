// Ops that move elements around: Identity, Reshape, Squeeze, ExpandDims, StridedSlice, Slice,
// Pad, ConcatV2, Pack, Transpose, Tile, Shape, Cast. Most work on the logical (TensorFlow)
// view; Pad and ConcatV2 map their axes onto NCHW so convolutional blocks stay NCHW.
#include <ATen/ATen.h>

#include <algorithm>

#include "tfjs/ops.hpp"

namespace clipface::tfjs {
namespace {

Compiled identity(const OpContext& ctx) {
  if (ctx.inputs.empty()) ctx.fail("has no inputs");
  Compiled c;
  c.out = {ctx.inputs[0].rank, ctx.inputs[0].nchw, std::nullopt};
  c.exec = [](const std::vector<const Value*>& in) -> Value { return *in[0]; };
  return c;
}

std::vector<std::int64_t> runtime_ints(const at::Tensor& t) {
  const at::Tensor v = t.to(at::kLong).contiguous().reshape({-1});
  return {v.data_ptr<std::int64_t>(), v.data_ptr<std::int64_t>() + v.numel()};
}

Compiled reshape(const OpContext& ctx) {
  ctx.expect_inputs(2, 2);
  Compiled c;
  if (ctx.inputs[1].constant) {
    const auto shape = ctx.constant_ints(1, "the shape");
    c.out = {static_cast<int>(shape.size()), false, std::nullopt};
    c.exec = [shape](const std::vector<const Value*>& in) -> Value {
      return {logical(*in[0]).reshape(shape), false};
    };
  } else {
    c.out = {-1, false, std::nullopt};
    c.exec = [](const std::vector<const Value*>& in) -> Value {
      return {logical(*in[0]).reshape(runtime_ints(in[1]->tensor)), false};
    };
  }
  return c;
}

std::int64_t wrap_axis(std::int64_t axis, std::int64_t rank) {
  return axis < 0 ? axis + rank : axis;
}

Compiled squeeze(const OpContext& ctx) {
  ctx.expect_inputs(1, 1);
  std::vector<std::int64_t> dims = ctx.node.attr_ints("squeeze_dims");
  if (dims.empty()) dims = ctx.node.attr_ints("axis");
  const int rank = ctx.inputs[0].rank;
  Compiled c;
  c.out = {dims.empty() || rank < 0 ? -1 : rank - static_cast<int>(dims.size()), false,
           std::nullopt};
  c.exec = [dims](const std::vector<const Value*>& in) -> Value {
    at::Tensor x = logical(*in[0]);
    if (dims.empty()) return {x.squeeze(), false};
    std::vector<std::int64_t> sorted;
    for (const auto d : dims) sorted.push_back(wrap_axis(d, x.dim()));
    std::sort(sorted.rbegin(), sorted.rend());
    for (const auto d : sorted) {
      if (x.size(d) != 1)
        throw std::invalid_argument("cannot squeeze a dimension of size " +
                                    std::to_string(x.size(d)));
      x = x.squeeze(d);
    }
    return {x, false};
  };
  return c;
}

Compiled expand_dims(const OpContext& ctx) {
  ctx.expect_inputs(2, 2);
  const auto axis = ctx.constant_ints(1, "the axis");
  if (axis.size() != 1) ctx.fail("needs one axis");
  const int rank = ctx.inputs[0].rank;
  Compiled c;
  c.out = {rank < 0 ? -1 : rank + 1, false, std::nullopt};
  c.exec = [a = axis[0]](const std::vector<const Value*>& in) -> Value {
    const at::Tensor x = logical(*in[0]);
    return {x.unsqueeze(wrap_axis(a, x.dim() + 1)), false};
  };
  return c;
}

// TensorFlow's StridedSlice with all five masks.
struct SliceSpec {
  std::vector<std::int64_t> begin, end, strides;
  std::int64_t begin_mask = 0, end_mask = 0, ellipsis_mask = 0, new_axis_mask = 0, shrink_mask = 0;

  at::Tensor apply(at::Tensor x) const {
    const std::size_t n = begin.size();
    std::int64_t consumed = 0;  // dimensions of x the spec names
    for (std::size_t i = 0; i < n; ++i) {
      if (!((ellipsis_mask >> i) & 1) && !((new_axis_mask >> i) & 1)) ++consumed;
    }
    const std::int64_t rank = x.dim();
    std::int64_t axis = 0;  // in x as sliced so far (shrunk axes are gone, new ones counted)
    for (std::size_t i = 0; i < n; ++i) {
      if ((ellipsis_mask >> i) & 1) {  // the dimensions it stands for stay whole
        axis += rank - consumed;
        continue;
      }
      if ((new_axis_mask >> i) & 1) {
        x = x.unsqueeze(axis++);
        continue;
      }
      const std::int64_t size = x.size(axis);
      const std::int64_t stride = strides[i];
      if (stride == 0) throw std::invalid_argument("stride 0");
      if ((shrink_mask >> i) & 1) {
        std::int64_t index = begin[i] < 0 ? begin[i] + size : begin[i];
        if (index < 0 || index >= size) throw std::invalid_argument("slice index out of range");
        x = x.select(axis, index);
        continue;
      }
      auto clamp = [&](std::int64_t v, std::int64_t lo, std::int64_t hi) {
        if (v < 0) v += size;
        return std::clamp(v, lo, hi);
      };
      std::int64_t b, e;
      if (stride > 0) {
        b = (begin_mask >> i) & 1 ? 0 : clamp(begin[i], 0, size);
        e = (end_mask >> i) & 1 ? size : clamp(end[i], 0, size);
        x = x.slice(axis, b, std::max(b, e), stride);
      } else {
        b = (begin_mask >> i) & 1 ? size - 1 : clamp(begin[i], -1, size - 1);
        e = (end_mask >> i) & 1 ? -1 : clamp(end[i], -1, size - 1);
        std::vector<std::int64_t> picks;
        for (std::int64_t k = b; k > e; k += stride) picks.push_back(k);
        x = x.index_select(axis, at::tensor(picks, at::kLong));
      }
      ++axis;
    }
    return x;
  }
};

Compiled strided_slice(const OpContext& ctx) {
  ctx.expect_inputs(3, 4);
  SliceSpec spec;
  spec.begin = ctx.constant_ints(1, "begin");
  spec.end = ctx.constant_ints(2, "end");
  spec.strides = ctx.inputs.size() > 3 ? ctx.constant_ints(3, "strides")
                                       : std::vector<std::int64_t>(spec.begin.size(), 1);
  if (spec.end.size() != spec.begin.size() || spec.strides.size() != spec.begin.size()) {
    ctx.fail("begin, end and strides differ in length");
  }
  spec.begin_mask = ctx.node.attr_int("begin_mask");
  spec.end_mask = ctx.node.attr_int("end_mask");
  spec.ellipsis_mask = ctx.node.attr_int("ellipsis_mask");
  spec.new_axis_mask = ctx.node.attr_int("new_axis_mask");
  spec.shrink_mask = ctx.node.attr_int("shrink_axis_mask");
  const int rank = ctx.inputs[0].rank;
  Compiled c;
  c.out = {rank < 0 || spec.ellipsis_mask
               ? -1
               : rank + __builtin_popcountll(static_cast<unsigned long long>(spec.new_axis_mask)) -
                     __builtin_popcountll(static_cast<unsigned long long>(spec.shrink_mask)),
           false, std::nullopt};
  c.exec = [spec](const std::vector<const Value*>& in) -> Value {
    return {spec.apply(logical(*in[0])), false};
  };
  return c;
}

Compiled slice(const OpContext& ctx) {
  ctx.expect_inputs(3, 3);
  const auto begin = ctx.constant_ints(1, "begin");
  const auto size = ctx.constant_ints(2, "size");
  if (begin.size() != size.size()) ctx.fail("begin and size differ in length");
  Compiled c;
  c.out = {ctx.inputs[0].rank, false, std::nullopt};
  c.exec = [begin, size](const std::vector<const Value*>& in) -> Value {
    at::Tensor x = logical(*in[0]);
    for (std::size_t d = 0; d < begin.size(); ++d) {
      const std::int64_t n =
          size[d] < 0 ? x.size(static_cast<std::int64_t>(d)) - begin[d] : size[d];
      x = x.narrow(static_cast<std::int64_t>(d), begin[d], n);
    }
    return {x, false};
  };
  return c;
}

// Pad / PadV2: paddings [[before, after]...] per logical axis, optional constant value.
Compiled pad(const OpContext& ctx) {
  ctx.expect_inputs(2, 3);
  const auto p = ctx.constant_ints(1, "the paddings");
  const double fill = ctx.inputs.size() > 2 ? ctx.constant(2, "the value").item<double>() : 0.0;
  const ValueInfo& x = ctx.inputs[0];
  if (x.rank >= 0 && static_cast<int>(p.size()) != 2 * x.rank)
    ctx.fail("paddings do not match the rank");
  // at::constant_pad_nd lists (before, after) from the last dimension of the stored tensor.
  std::vector<std::int64_t> order(p.size() / 2);
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  if (x.nchw) order = {0, 3, 1, 2};  // logical axis of each NCHW dimension
  std::vector<std::int64_t> pads;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    pads.push_back(p[2 * *it]);
    pads.push_back(p[2 * *it + 1]);
  }
  Compiled c;
  c.out = {x.rank, x.nchw, std::nullopt};
  c.exec = [pads, fill](const std::vector<const Value*>& in) -> Value {
    return {at::constant_pad_nd(in[0]->tensor, pads, fill), in[0]->nchw};
  };
  return c;
}

Compiled concat(const OpContext& ctx, bool axis_last) {
  if (ctx.inputs.size() < 2) ctx.fail("needs values and an axis");
  const std::size_t axis_input = axis_last ? ctx.inputs.size() - 1 : 0;
  const auto axis = ctx.constant_ints(axis_input, "the axis");
  if (axis.size() != 1) ctx.fail("needs one axis");
  std::vector<std::size_t> values;
  for (std::size_t i = 0; i < ctx.inputs.size(); ++i) {
    if (i != axis_input) values.push_back(i);
  }
  bool all_nchw = true;
  for (const auto i : values) all_nchw = all_nchw && ctx.inputs[i].nchw;
  const int rank = ctx.inputs[values[0]].rank;
  Compiled c;
  c.out = {rank, all_nchw, std::nullopt};
  c.exec = [values, all_nchw, a = axis[0]](const std::vector<const Value*>& in) -> Value {
    std::vector<at::Tensor> parts;
    for (const auto i : values) parts.push_back(all_nchw ? in[i]->tensor : logical(*in[i]));
    const std::int64_t dim = all_nchw ? nchw_axis(a) : wrap_axis(a, parts[0].dim());
    return {at::cat(parts, dim), all_nchw};
  };
  return c;
}

Compiled pack(const OpContext& ctx) {
  if (ctx.inputs.empty()) ctx.fail("has no inputs");
  const std::int64_t axis = ctx.node.attr_int("axis", 0);
  const int rank = ctx.inputs[0].rank;
  Compiled c;
  c.out = {rank < 0 ? -1 : rank + 1, false, std::nullopt};
  c.exec = [axis](const std::vector<const Value*>& in) -> Value {
    std::vector<at::Tensor> parts;
    for (const auto* v : in) parts.push_back(logical(*v));
    return {at::stack(parts, wrap_axis(axis, parts[0].dim() + 1)), false};
  };
  return c;
}

Compiled transpose(const OpContext& ctx) {
  ctx.expect_inputs(2, 2);
  const auto perm = ctx.constant_ints(1, "the permutation");
  Compiled c;
  c.out = {static_cast<int>(perm.size()), false, std::nullopt};
  c.exec = [perm](const std::vector<const Value*>& in) -> Value {
    return {logical(*in[0]).permute(perm), false};
  };
  return c;
}

Compiled tile(const OpContext& ctx) {
  ctx.expect_inputs(2, 2);
  const auto multiples = ctx.constant_ints(1, "the multiples");
  Compiled c;
  c.out = {ctx.inputs[0].rank, false, std::nullopt};
  c.exec = [multiples](const std::vector<const Value*>& in) -> Value {
    return {logical(*in[0]).repeat(multiples), false};
  };
  return c;
}

Compiled shape(const OpContext& ctx) {
  ctx.expect_inputs(1, 1);
  Compiled c;
  c.out = {1, false, std::nullopt};
  c.exec = [](const std::vector<const Value*>& in) -> Value {
    const auto sizes = logical(*in[0]).sizes();
    return {at::tensor(std::vector<std::int32_t>(sizes.begin(), sizes.end()), at::kInt), false};
  };
  return c;
}

at::ScalarType tf_type(const OpContext& ctx, const std::string& key) {
  const auto it = ctx.node.attr.find(key);
  const std::string type = it != ctx.node.attr.end() ? it->value("type", "") : "";
  if (type == "DT_FLOAT") return at::kFloat;
  if (type == "DT_INT32") return at::kInt;
  if (type == "DT_INT64") return at::kLong;
  if (type == "DT_BOOL") return at::kBool;
  if (type == "DT_DOUBLE") return at::kDouble;
  ctx.fail("type '" + type + "' is not supported");
}

Compiled cast(const OpContext& ctx) {
  ctx.expect_inputs(1, 1);
  const at::ScalarType type = tf_type(ctx, "DstT");
  Compiled c;
  c.out = {ctx.inputs[0].rank, ctx.inputs[0].nchw, std::nullopt};
  c.exec = [type](const std::vector<const Value*>& in) -> Value {
    // Float stays in the graph's float type (double in gradient checks).
    const at::Tensor& x = in[0]->tensor;
    const bool keep_float = type == at::kFloat && at::isFloatingType(x.scalar_type());
    return {keep_float ? x : x.to(type), in[0]->nchw};
  };
  return c;
}

}  // namespace

void register_shape_ops(Registry& r) {
  r.emplace_back("Identity", identity);
  r.emplace_back("StopGradient", identity);
  r.emplace_back("Snapshot", identity);
  r.emplace_back("Reshape", reshape);
  r.emplace_back("Squeeze", squeeze);
  r.emplace_back("ExpandDims", expand_dims);
  r.emplace_back("StridedSlice", strided_slice);
  r.emplace_back("Slice", slice);
  r.emplace_back("Pad", pad);
  r.emplace_back("PadV2", pad);
  r.emplace_back("ConcatV2", [](const OpContext& c) { return concat(c, true); });
  r.emplace_back("Concat", [](const OpContext& c) { return concat(c, false); });
  r.emplace_back("Pack", pack);
  r.emplace_back("Transpose", transpose);
  r.emplace_back("Tile", tile);
  r.emplace_back("Shape", shape);
  r.emplace_back("Cast", cast);
}

}  // namespace clipface::tfjs
