#include "clip/onednn.hpp"

#include <cmath>

#include "clipface/errors.hpp"

namespace clipface::clip::onednn {
namespace {
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// The scratchpad is the caller's (a fresh buffer per call), so one primitive can run in several
// threads at once without sharing oneDNN's global scratch space.
dnnl::primitive_attr base_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::memory scratchpad(const dnnl::primitive_desc& pd, torch::Tensor& storage) {
  const auto desc = pd.scratchpad_desc();
  storage = torch::empty({static_cast<int64_t>(desc.get_size()) + 64}, torch::kUInt8);
  return dnnl::memory(desc, cpu_engine(), storage.data_ptr());
}

void append_activation(dnnl::post_ops& ops, Activation activation) {
  switch (activation) {
    case Activation::none:
      return;
    case Activation::relu:
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      return;
    case Activation::quick_gelu:  // x * sigmoid(1.702 x) is swish with alpha 1.702
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_swish, 1.702f, 0.f);
      return;
    case Activation::gelu:  // exact (erf) GELU, as nn.GELU()
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
      return;
  }
}

// A memory in `desc` holding `plain`'s values, reordering only when the layouts differ.
dnnl::memory in_layout(const dnnl::memory& plain, const dnnl::memory::desc& desc,
                       dnnl::stream& stream) {
  if (plain.get_desc() == desc) return plain;
  dnnl::memory source = plain, out(desc, cpu_engine());
  dnnl::reorder(source, out).execute(stream, source, out);
  return out;
}

// The weights in the layout `want`: an earlier packed copy when one matches, else reordered from
// the first packed copy, or from `plain` the first time. `plain` is released once packed, so a
// layer holds one copy of its weights.
dnnl::memory packed_weights(const dnnl::memory::desc& want, const dnnl::memory::desc& plain_desc,
                            torch::Tensor& plain, std::vector<dnnl::memory>& packed) {
  for (const auto& p : packed) {
    if (p.get_desc() == want) return p;
  }
  dnnl::stream stream(cpu_engine());
  dnnl::memory source =
      packed.empty() ? dnnl::memory(plain_desc, cpu_engine(), plain.data_ptr()) : packed.front();
  dnnl::memory out(want, cpu_engine());
  dnnl::reorder(source, out).execute(stream, source, out);
  stream.wait();
  packed.push_back(out);
  plain = torch::Tensor();
  return out;
}

void check(bool ok, const std::string& what) {
  if (!ok) throw ModelError("oneDNN engine: " + what);
}

}  // namespace

torch::ScalarType scalar_type(Compute compute) {
  return compute == Compute::bf16 ? torch::kBFloat16 : torch::kFloat;
}

dt data_type(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat:
      return dt::f32;
    case torch::kBFloat16:
      return dt::bf16;
    default:
      throw ModelError("oneDNN engine: unsupported tensor type " +
                       std::string(c10::toString(type)));
  }
}

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// ---------------------------------------------------------------------------------------------

Linear::Linear(const torch::Tensor& weight, const torch::Tensor& bias, Compute compute,
               Activation activation)
    : in_(weight.size(1)), out_(weight.size(0)), compute_(compute), activation_(activation) {
  torch::NoGradGuard no_grad;
  state_->weight_kn = weight.detach().to(torch::kCPU, scalar_type(compute)).contiguous().t();
  if (bias.defined()) bias_ = bias.detach().to(torch::kCPU, torch::kFloat).contiguous();
}

const Linear::Kernel& Linear::kernel(int64_t rows, dt out, bool accumulate) const {
  std::lock_guard lock(state_->mutex);
  auto& slot = state_->kernels[{rows, static_cast<int>(out), accumulate}];
  if (slot) return *slot;
  const dt in = compute_ == Compute::bf16 ? dt::bf16 : dt::f32;
  const dnnl::memory::desc src({rows, in_}, in, tag::ab);
  const dnnl::memory::desc weights({in_, out_}, in, tag::any);
  const dnnl::memory::desc dst({rows, out_}, out, tag::ab);
  dnnl::primitive_attr attr = base_attr();
  dnnl::post_ops ops;
  if (accumulate) ops.append_sum(1.f);
  append_activation(ops, activation_);
  attr.set_post_ops(ops);
  const auto desc =
      bias_.defined()
          ? dnnl::matmul::desc(src, weights, dnnl::memory::desc({1, out_}, dt::f32, tag::ab), dst)
          : dnnl::matmul::desc(src, weights, dst);
  const dnnl::matmul::primitive_desc pd(desc, attr, cpu_engine());

  auto k = std::make_shared<Kernel>();
  k->pd = pd;
  k->primitive = dnnl::matmul(pd);
  k->weights = packed_weights(pd.weights_desc(), dnnl::memory::desc({in_, out_}, in, tag::ba),
                              state_->weight_kn, state_->packed);
  slot = std::move(k);
  return *slot;
}

void Linear::run(const Kernel& k, const torch::Tensor& x, const torch::Tensor& y) const {
  check(x.is_contiguous() && x.dim() == 2 && x.size(1) == in_ &&
            x.scalar_type() == scalar_type(compute_),
        "linear input must be a contiguous [rows, " + std::to_string(in_) + "] matrix");
  const auto& pd = k.pd;
  dnnl::stream stream(cpu_engine());
  torch::Tensor scratch;
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, dnnl::memory(pd.src_desc(), cpu_engine(), x.data_ptr())},
      {DNNL_ARG_WEIGHTS, k.weights},
      {DNNL_ARG_DST, dnnl::memory(pd.dst_desc(), cpu_engine(), y.data_ptr())},
      {DNNL_ARG_SCRATCHPAD, scratchpad(pd, scratch)}};
  if (bias_.defined()) {
    args.emplace(DNNL_ARG_BIAS, dnnl::memory(pd.bias_desc(), cpu_engine(), bias_.data_ptr()));
  }
  k.primitive.execute(stream, args);
  stream.wait();
}

torch::Tensor Linear::operator()(const torch::Tensor& x, torch::ScalarType out_type) const {
  torch::Tensor y = torch::empty({x.size(0), out_}, x.options().dtype(out_type));
  run(kernel(x.size(0), data_type(out_type), false), x, y);
  return y;
}

void Linear::into(const torch::Tensor& x, const torch::Tensor& y) const {
  check(y.is_contiguous() && y.dim() == 2 && y.size(0) == x.size(0) && y.size(1) == out_,
        "linear output must be a contiguous [rows, " + std::to_string(out_) + "] matrix");
  run(kernel(x.size(0), data_type(y.scalar_type()), false), x, y);
}

void Linear::accumulate(const torch::Tensor& x, torch::Tensor& residual) const {
  // oneDNN would apply the activation to the sum, not to the product.
  check(activation_ == Activation::none, "a residual product cannot carry an activation");
  check(residual.is_contiguous() && residual.scalar_type() == torch::kFloat &&
            residual.size(0) == x.size(0) && residual.size(1) == out_,
        "residual must be a contiguous fp32 [rows, " + std::to_string(out_) + "] matrix");
  run(kernel(x.size(0), dt::f32, true), x, residual);
}

// ---------------------------------------------------------------------------------------------

torch::Tensor matmul(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& bias) {
  check(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0) &&
            a.scalar_type() == torch::kFloat && b.scalar_type() == torch::kFloat,
        "matmul needs fp32 matrices of matching inner size");
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool>;
  struct Kernel {
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul primitive;
  };
  static std::mutex mutex;
  static std::map<Key, std::shared_ptr<Kernel>> kernels;
  const Key key{m, k, n, a.stride(0), a.stride(1), b.stride(0), b.stride(1), bias.defined()};
  std::shared_ptr<Kernel> kernel;
  {
    std::lock_guard lock(mutex);
    auto& slot = kernels[key];
    if (!slot) {
      const dnnl::memory::desc src({m, k}, dt::f32, {a.stride(0), a.stride(1)});
      const dnnl::memory::desc weights({k, n}, dt::f32, {b.stride(0), b.stride(1)});
      const dnnl::memory::desc dst({m, n}, dt::f32, tag::ab);
      const auto desc =
          bias.defined()
              ? dnnl::matmul::desc(src, weights, dnnl::memory::desc({1, n}, dt::f32, tag::ab), dst)
              : dnnl::matmul::desc(src, weights, dst);
      slot = std::make_shared<Kernel>();
      slot->pd = dnnl::matmul::primitive_desc(desc, base_attr(), cpu_engine());
      slot->primitive = dnnl::matmul(slot->pd);
    }
    kernel = slot;
  }
  torch::Tensor c = torch::empty({m, n});
  const torch::Tensor bias32 = bias.defined() ? bias.contiguous() : bias;
  dnnl::stream stream(cpu_engine());
  torch::Tensor scratch;
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, dnnl::memory(kernel->pd.src_desc(), cpu_engine(), a.data_ptr())},
      {DNNL_ARG_WEIGHTS, dnnl::memory(kernel->pd.weights_desc(), cpu_engine(), b.data_ptr())},
      {DNNL_ARG_DST, dnnl::memory(kernel->pd.dst_desc(), cpu_engine(), c.data_ptr())},
      {DNNL_ARG_SCRATCHPAD, scratchpad(kernel->pd, scratch)}};
  if (bias.defined()) {
    args.emplace(DNNL_ARG_BIAS,
                 dnnl::memory(kernel->pd.bias_desc(), cpu_engine(), bias32.data_ptr()));
  }
  kernel->primitive.execute(stream, args);
  stream.wait();
  return c;
}

Attention::Attention(int64_t width, int64_t heads, Compute compute)
    : width_(width), heads_(heads), compute_(compute) {
  check(heads > 0 && width % heads == 0, "attention width does not split into heads");
}

const Attention::Kernel& Attention::kernel(int64_t n, int64_t length) const {
  std::lock_guard lock(state_->mutex);
  auto& slot = state_->kernels[{n, length}];
  if (slot) return *slot;
  const dt type = compute_ == Compute::bf16 ? dt::bf16 : dt::f32;
  const int64_t hd = width_ / heads_, row = 3 * width_;
  // Views of the packed rows: element (n, h, l, d) of q is qkv[n * L + l][h * hd + d], k and v
  // follow at offsets W and 2W (applied to the data pointers at run time).
  const dnnl::memory::desc q({n, heads_, length, hd}, type, {length * row, hd, row, 1});
  const dnnl::memory::desc k_t({n, heads_, hd, length}, type, {length * row, hd, 1, row});
  const dnnl::memory::desc v({n, heads_, length, hd}, type, {length * row, hd, row, 1});
  const dnnl::memory::desc scores({n, heads_, length, length}, dt::f32, tag::abcd);
  const dnnl::memory::desc probs({n, heads_, length, length}, type, tag::abcd);
  const dnnl::memory::desc merged({n, heads_, length, hd}, type, {length * width_, hd, width_, 1});
  dnnl::primitive_attr scaled = base_attr();
  scaled.set_output_scales(0, {static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)))});
  auto k = std::make_shared<Kernel>();
  k->scores_pd =
      dnnl::matmul::primitive_desc(dnnl::matmul::desc(q, k_t, scores), scaled, cpu_engine());
  k->softmax_pd = dnnl::softmax_v2_forward::primitive_desc(
      dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference,
                                     dnnl::algorithm::softmax_accurate, scores, probs, 3),
      base_attr(), cpu_engine());
  k->context_pd =
      dnnl::matmul::primitive_desc(dnnl::matmul::desc(probs, v, merged), base_attr(), cpu_engine());
  k->scores = dnnl::matmul(k->scores_pd);
  k->softmax = dnnl::softmax_v2_forward(k->softmax_pd);
  k->context = dnnl::matmul(k->context_pd);
  slot = std::move(k);
  return *slot;
}

void Attention::operator()(const torch::Tensor& qkv, int64_t n, int64_t length,
                           const torch::Tensor& mask, const torch::Tensor& out,
                           torch::Tensor& scores, torch::Tensor& probs) const {
  const auto type = scalar_type(compute_);
  check(qkv.is_contiguous() && qkv.scalar_type() == type && qkv.size(0) == n * length &&
            qkv.size(1) == 3 * width_ && out.is_contiguous() && out.scalar_type() == type &&
            out.size(0) == n * length && out.size(1) == width_,
        "attention inputs have the wrong shape or type");
  const int64_t elements = n * heads_ * length * length;
  if (!scores.defined() || scores.numel() < elements) scores = torch::empty({elements});
  if (!probs.defined() || probs.numel() < elements || probs.scalar_type() != type) {
    probs = torch::empty({elements}, torch::TensorOptions().dtype(type));
  }
  const Kernel& k = kernel(n, length);
  auto* base = static_cast<char*>(qkv.data_ptr());
  const auto offset = width_ * static_cast<int64_t>(qkv.element_size());
  dnnl::stream stream(cpu_engine());
  torch::Tensor scratch[3];
  dnnl::memory scores_memory(k.scores_pd.dst_desc(), cpu_engine(), scores.data_ptr());
  k.scores.execute(
      stream,
      {{DNNL_ARG_SRC, dnnl::memory(k.scores_pd.src_desc(), cpu_engine(), base)},
       {DNNL_ARG_WEIGHTS, dnnl::memory(k.scores_pd.weights_desc(), cpu_engine(), base + offset)},
       {DNNL_ARG_DST, scores_memory},
       {DNNL_ARG_SCRATCHPAD, scratchpad(k.scores_pd, scratch[0])}});
  stream.wait();
  if (mask.defined()) {
    // A broadcast binary post-op would drop the product to oneDNN's reference kernel; the
    // scores are small, so the mask is one ATen addition.
    scores.narrow(0, 0, elements).view({n * heads_, length, length}).add_(mask);
  }
  dnnl::memory probs_memory(k.softmax_pd.dst_desc(), cpu_engine(), probs.data_ptr());
  k.softmax.execute(stream, {{DNNL_ARG_SRC, scores_memory},
                             {DNNL_ARG_DST, probs_memory},
                             {DNNL_ARG_SCRATCHPAD, scratchpad(k.softmax_pd, scratch[1])}});
  k.context.execute(
      stream, {{DNNL_ARG_SRC, probs_memory},
               {DNNL_ARG_WEIGHTS,
                dnnl::memory(k.context_pd.weights_desc(), cpu_engine(), base + 2 * offset)},
               {DNNL_ARG_DST, dnnl::memory(k.context_pd.dst_desc(), cpu_engine(), out.data_ptr())},
               {DNNL_ARG_SCRATCHPAD, scratchpad(k.context_pd, scratch[2])}});
  stream.wait();
}

// ---------------------------------------------------------------------------------------------

Conv2d::Conv2d(const torch::Tensor& weight, const torch::Tensor& bn_weight,
               const torch::Tensor& bn_bias, const torch::Tensor& bn_mean,
               const torch::Tensor& bn_var, double bn_eps, int stride, Compute compute, bool relu)
    : in_(weight.size(1)),
      out_(weight.size(0)),
      kernel_size_(weight.size(2)),
      stride_(stride),
      padding_(static_cast<int>(weight.size(2) / 2)),
      compute_(compute),
      relu_(relu) {
  torch::NoGradGuard no_grad;
  // BatchNorm in inference is y = (x - mean) * gamma / sqrt(var + eps) + beta: a per-channel
  // scale of the weights and a bias. Folded in double, then stored in the compute type.
  const torch::Tensor scale =
      bn_weight.to(torch::kDouble) / (bn_var.to(torch::kDouble) + bn_eps).sqrt();
  state_->weight =
      (weight.to(torch::kDouble) * scale.view({-1, 1, 1, 1})).to(scalar_type(compute)).contiguous();
  bias_ = (bn_bias.to(torch::kDouble) - bn_mean.to(torch::kDouble) * scale)
              .to(torch::kFloat)
              .contiguous();
}

const Conv2d::Kernel& Conv2d::kernel(const dnnl::memory::desc& src_desc, bool residual) const {
  const dnnl::memory::dims dims = src_desc.dims();
  std::lock_guard lock(state_->mutex);
  auto& slot = state_->kernels[{dims, residual}];
  if (slot) return *slot;
  check(dims.size() == 4 && dims[1] == in_, "convolution input has the wrong channel count");
  const dt type = compute_ == Compute::bf16 ? dt::bf16 : dt::f32;
  const int64_t out_h = (dims[2] + 2 * padding_ - kernel_size_) / stride_ + 1;
  const int64_t out_w = (dims[3] + 2 * padding_ - kernel_size_) / stride_ + 1;
  const dnnl::memory::desc src({dims[0], in_, dims[2], dims[3]}, type, tag::any);
  const dnnl::memory::desc weights({out_, in_, kernel_size_, kernel_size_}, type, tag::any);
  const dnnl::memory::desc bias({out_}, dt::f32, tag::a);
  const dnnl::memory::desc dst({dims[0], out_, out_h, out_w}, type, tag::any);
  dnnl::primitive_attr attr = base_attr();
  dnnl::post_ops ops;
  if (residual) ops.append_sum(1.f);
  if (relu_) append_activation(ops, Activation::relu);
  attr.set_post_ops(ops);
  const dnnl::convolution_forward::desc desc(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src, weights, bias,
      dst, {stride_, stride_}, {padding_, padding_}, {padding_, padding_});
  const dnnl::convolution_forward::primitive_desc pd(desc, attr, cpu_engine());

  auto k = std::make_shared<Kernel>();
  k->pd = pd;
  k->primitive = dnnl::convolution_forward(pd);
  k->src = pd.src_desc();
  k->dst = pd.dst_desc();
  k->weights =
      packed_weights(pd.weights_desc(),
                     dnnl::memory::desc({out_, in_, kernel_size_, kernel_size_}, type, tag::oihw),
                     state_->weight, state_->packed);
  slot = std::move(k);
  return *slot;
}

dnnl::memory Conv2d::operator()(const dnnl::memory& src, dnnl::stream& stream,
                                const dnnl::memory* residual) const {
  const Kernel& k = kernel(src.get_desc(), residual != nullptr);
  const auto& pd = k.pd;
  const dnnl::memory input = in_layout(src, k.src, stream);
  dnnl::memory dst;
  if (residual) {
    check(residual->get_desc().dims() == k.dst.dims(), "residual has the wrong shape");
    dst = in_layout(*residual, k.dst, stream);
  } else {
    dst = dnnl::memory(k.dst, cpu_engine());
  }
  torch::Tensor scratch;
  const dnnl::memory bias(pd.bias_desc(), cpu_engine(), bias_.data_ptr());
  k.primitive.execute(stream, {{DNNL_ARG_SRC, input},
                               {DNNL_ARG_WEIGHTS, k.weights},
                               {DNNL_ARG_BIAS, bias},
                               {DNNL_ARG_DST, dst},
                               {DNNL_ARG_SCRATCHPAD, scratchpad(pd, scratch)}});
  stream.wait();
  return dst;
}

dnnl::memory avg_pool(const dnnl::memory& src, int stride, dnnl::stream& stream) {
  const auto in = src.get_desc();
  const dnnl::memory::dims dims = in.dims();
  const dnnl::memory::desc dst({dims[0], dims[1], dims[2] / stride, dims[3] / stride},
                               in.data_type(), tag::any);
  const dnnl::pooling_v2_forward::desc desc(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_avg_exclude_padding, in, dst,
      {stride, stride}, {stride, stride}, {0, 0}, {0, 0}, {0, 0});
  dnnl::primitive_attr attr = base_attr();
  const dnnl::pooling_v2_forward::primitive_desc pd(desc, attr, cpu_engine());
  dnnl::memory out(pd.dst_desc(), cpu_engine());
  torch::Tensor scratch;
  dnnl::pooling_v2_forward(pd).execute(
      stream,
      {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, out}, {DNNL_ARG_SCRATCHPAD, scratchpad(pd, scratch)}});
  stream.wait();
  return out;
}

dnnl::memory wrap_nchw(const torch::Tensor& x) {
  check(x.dim() == 4 && x.is_contiguous(), "expected a contiguous [N, C, H, W] tensor");
  return dnnl::memory(dnnl::memory::desc({x.size(0), x.size(1), x.size(2), x.size(3)},
                                         data_type(x.scalar_type()), tag::nchw),
                      cpu_engine(), x.data_ptr());
}

torch::Tensor to_nchw_tensor(const dnnl::memory& src, dnnl::stream& stream,
                             torch::ScalarType type) {
  const dnnl::memory::dims dims = src.get_desc().dims();
  torch::Tensor out =
      torch::empty({dims[0], dims[1], dims[2], dims[3]}, torch::TensorOptions().dtype(type));
  dnnl::memory source = src, plain = wrap_nchw(out);
  dnnl::reorder(source, plain).execute(stream, source, plain);
  stream.wait();
  return out;
}

}  // namespace clipface::clip::onednn
