// oneDNN primitives for CLIP inference on the CPU (internal header; includes LibTorch and
// oneDNN). LibTorch 1.13 runs fp32 products through the installed BLAS and, under autocast,
// re-casts every weight on every call; here weights are converted and reordered once into the
// blocked layout oneDNN's AVX-512 (bf16/fp32) kernels want, and bias, activation and the
// residual addition are fused into the product. Activations stay LibTorch tensors, so the
// glue (layer norm, softmax, reshapes) is ordinary ATen. Debian's LibTorch links this same
// libdnnl.so.2 and OpenMP runtime, so both share one thread pool.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <vector>

namespace clipface::clip::onednn {

// The engine's compute type: fp32, or bf16 weights and inputs with fp32 accumulation.
enum class Compute { fp32, bf16 };
torch::ScalarType scalar_type(Compute compute);
dnnl::memory::data_type data_type(torch::ScalarType type);

const dnnl::engine& cpu_engine();

// Elementwise function applied to a product's output before it is stored.
enum class Activation { none, relu, quick_gelu, gelu };

// y = x W^T + b. `weight` is [out, in] as nn.Linear holds it (any float dtype); `bias` may be
// undefined. Thread-safe: primitives are made per row count on first use and cached (copies
// share the cache).
class Linear {
 public:
  Linear() = default;
  Linear(const torch::Tensor& weight, const torch::Tensor& bias, Compute compute,
         Activation activation = Activation::none);

  // x: [rows, in] contiguous, of the compute type. Returns [rows, out] of `out_type`.
  torch::Tensor operator()(const torch::Tensor& x, torch::ScalarType out_type) const;
  // The same into an existing contiguous [rows, out] tensor (fp32 or the compute type).
  void into(const torch::Tensor& x, const torch::Tensor& y) const;
  // residual += x W^T + b, fused (residual: [rows, out] fp32 contiguous).
  void accumulate(const torch::Tensor& x, torch::Tensor& residual) const;

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  struct Kernel {
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul primitive;
    dnnl::memory weights;  // in the layout this primitive wants (shared when layouts agree)
  };
  const Kernel& kernel(int64_t rows, dnnl::memory::data_type out, bool accumulate) const;
  void run(const Kernel& k, const torch::Tensor& x, const torch::Tensor& y) const;

  int64_t in_ = 0, out_ = 0;
  Compute compute_ = Compute::fp32;
  Activation activation_ = Activation::none;
  torch::Tensor bias_;  // fp32, or undefined
  struct State {
    std::mutex mutex;
    torch::Tensor weight_kn;  // [in, out] view of the weights in the compute type, until packed
    std::vector<dnnl::memory> packed;  // the weights in each layout asked for so far
    std::map<std::tuple<int64_t, int, bool>, std::shared_ptr<Kernel>> kernels;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// a b (+ bias) in fp32 for 2-D views with any strides (a transposed view costs nothing), into
// a fresh contiguous [rows, cols] tensor. For training, where the weights change every step and
// are not worth packing; primitives are cached by shape and strides.
torch::Tensor matmul(const torch::Tensor& a, const torch::Tensor& b,
                     const torch::Tensor& bias = {});

// Multi-head scaled dot-product attention over the packed q|k|v rows the in-projection writes
// ([N * L, 3W]): fp32 scores q k^T / sqrt(head_dim) (plus an additive mask), softmax, and the
// weighted sum of v written straight into [N * L, W] with the heads merged. Two strided batched
// products and a softmax over views of the same buffers: no transposes, no copies.
class Attention {
 public:
  Attention() = default;
  Attention(int64_t width, int64_t heads, Compute compute);

  // qkv: [N * L, 3W] contiguous, compute type; mask: [L, L] fp32 or undefined; out: [N * L, W]
  // contiguous, compute type. `scores` and `probs` are scratch, (re)allocated when too small,
  // so a caller running many layers allocates them once.
  void operator()(const torch::Tensor& qkv, int64_t n, int64_t length, const torch::Tensor& mask,
                  const torch::Tensor& out, torch::Tensor& scores, torch::Tensor& probs) const;

 private:
  struct Kernel {
    dnnl::matmul::primitive_desc scores_pd, context_pd;
    dnnl::softmax_v2_forward::primitive_desc softmax_pd;
    dnnl::matmul scores;
    dnnl::softmax_v2_forward softmax;
    dnnl::matmul context;
  };
  const Kernel& kernel(int64_t n, int64_t length) const;

  int64_t width_ = 0, heads_ = 1;
  Compute compute_ = Compute::fp32;
  struct State {
    std::mutex mutex;
    std::map<std::pair<int64_t, int64_t>, std::shared_ptr<Kernel>> kernels;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// A 2-D convolution with its BatchNorm folded in (inference), optional ReLU and an optional
// fused residual addition. Activations are oneDNN memories in the blocked layout the kernels
// choose (nChw16c and the like), kept blocked from one layer to the next.
class Conv2d {
 public:
  Conv2d() = default;
  // weight [out, in, k, k]; BatchNorm as (gamma, beta, mean, var, eps); no conv bias (CLIP's
  // ResNet has none). Padding k / 2 ("same" for odd kernels, as everywhere in CLIP).
  Conv2d(const torch::Tensor& weight, const torch::Tensor& bn_weight, const torch::Tensor& bn_bias,
         const torch::Tensor& bn_mean, const torch::Tensor& bn_var, double bn_eps, int stride,
         Compute compute, bool relu);

  // src: [N, in, H, W] in any layout. With `residual` (same shape as the output), the output is
  // written into it: residual = relu?(conv(src) + residual).
  dnnl::memory operator()(const dnnl::memory& src, dnnl::stream& stream,
                          const dnnl::memory* residual = nullptr) const;

 private:
  struct Kernel {
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward primitive;
    dnnl::memory::desc src, dst;
    dnnl::memory weights;
  };
  const Kernel& kernel(const dnnl::memory::desc& src, bool residual) const;

  int64_t in_ = 0, out_ = 0, kernel_size_ = 1;
  int stride_ = 1, padding_ = 0;
  Compute compute_ = Compute::fp32;
  bool relu_ = false;
  torch::Tensor bias_;  // folded, fp32
  struct State {
    std::mutex mutex;
    torch::Tensor weight;  // folded, [out, in, k, k] in the compute type, until packed
    std::vector<dnnl::memory> packed;
    std::map<std::pair<std::vector<int64_t>, bool>, std::shared_ptr<Kernel>> kernels;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Average pooling with kernel = stride (CLIP's anti-aliased downsampling), any layout.
dnnl::memory avg_pool(const dnnl::memory& src, int stride, dnnl::stream& stream);

// Plain NCHW memory over a contiguous tensor (no copy), and back to a fresh [N, C, H, W] tensor.
dnnl::memory wrap_nchw(const torch::Tensor& x);
torch::Tensor to_nchw_tensor(const dnnl::memory& src, dnnl::stream& stream, torch::ScalarType type);

}  // namespace clipface::clip::onednn
