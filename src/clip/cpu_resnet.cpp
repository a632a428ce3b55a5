// The modified-ResNet image tower as oneDNN convolutions: every BatchNorm folded into its
// convolution, ReLU and the residual addition fused, activations kept in oneDNN's blocked
// layout from the stem to the attention pool, which runs on LibTorch tensors.
#include <cmath>

#include "clip/cpu_plan.hpp"

namespace clipface::clip::plan_detail {
namespace {
using onednn::Compute;

onednn::Conv2d folded(const torch::nn::Conv2d& conv, const torch::nn::BatchNorm2d& bn,
                      Compute compute, bool relu) {
  return onednn::Conv2d(conv->weight, bn->weight, bn->bias, bn->running_mean, bn->running_var,
                        bn->options.eps(), static_cast<int>((*conv->options.stride())[0]), compute,
                        relu);
}

struct BottleneckPlan {
  BottleneckPlan(const BottleneckImpl& b, Compute compute)
      : conv1(folded(b.conv1, b.bn1, compute, true)),
        conv2(folded(b.conv2, b.bn2, compute, true)),
        conv3(folded(b.conv3, b.bn3, compute, true)),  // ReLU after the residual sum
        stride(b.stride),
        has_downsample(static_cast<bool>(b.downsample)) {
    if (has_downsample) {
      // downsample = AvgPool ("-1") + 1x1 conv ("0") + BatchNorm ("1").
      std::shared_ptr<torch::nn::Conv2dImpl> conv;
      std::shared_ptr<torch::nn::BatchNorm2dImpl> bn;
      for (const auto& child : b.downsample->children()) {
        if (auto c = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(child)) conv = c;
        if (auto n = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(child)) bn = n;
      }
      downsample = folded(torch::nn::Conv2d(conv), torch::nn::BatchNorm2d(bn), compute, false);
    }
  }

  dnnl::memory forward(const dnnl::memory& x, dnnl::stream& stream) const {
    dnnl::memory identity = x;
    if (has_downsample) {
      identity = downsample(stride > 1 ? onednn::avg_pool(x, stride, stream) : x, stream);
    }
    dnnl::memory out = conv2(conv1(x, stream), stream);
    if (stride > 1) out = onednn::avg_pool(out, stride, stream);
    return conv3(out, stream, &identity);
  }

  onednn::Conv2d conv1, conv2, conv3, downsample;
  int stride;
  bool has_downsample;
};

class ResNetPlan final : public TowerPlan {
 public:
  ResNetPlan(const ModifiedResNetImpl& net, Compute compute)
      : type_(onednn::scalar_type(compute)),
        stem_{folded(net.conv1, net.bn1, compute, true), folded(net.conv2, net.bn2, compute, true),
              folded(net.conv3, net.bn3, compute, true)},
        positional_embedding_(net.attnpool->positional_embedding.detach().to(torch::kFloat)),
        q_proj_(net.attnpool->q_proj->weight, net.attnpool->q_proj->bias, Compute::fp32),
        k_proj_(net.attnpool->k_proj->weight, net.attnpool->k_proj->bias, compute),
        v_proj_(net.attnpool->v_proj->weight, net.attnpool->v_proj->bias, compute),
        c_proj_(net.attnpool->c_proj->weight, net.attnpool->c_proj->bias, Compute::fp32),
        heads_(net.attnpool->heads) {
    for (const auto& stage : net.stage_blocks) {
      for (const auto& block : stage) blocks_.emplace_back(*block, compute);
    }
  }

  torch::Tensor forward(const torch::Tensor& pixels) const override {
    dnnl::stream stream(onednn::cpu_engine());
    const torch::Tensor input = pixels.to(type_).contiguous();
    dnnl::memory x = onednn::wrap_nchw(input);
    for (const auto& conv : stem_) x = conv(x, stream);
    x = onednn::avg_pool(x, 2, stream);
    for (const auto& block : blocks_) x = block.forward(x, stream);

    // Attention pool: the mean token queries every position (itself included).
    const torch::Tensor features = onednn::to_nchw_tensor(x, stream, torch::kFloat);
    const int64_t n = features.size(0), channels = features.size(1);
    torch::Tensor tokens = features.flatten(2).transpose(1, 2);  // [N, HW, C]
    tokens = (torch::cat({tokens.mean(1, /*keepdim=*/true), tokens}, 1) + positional_embedding_)
                 .contiguous();
    const int64_t length = tokens.size(1);
    const torch::Tensor rows = tokens.view({n * length, channels});
    const torch::Tensor low = rows.to(type_);
    const torch::Tensor q =
        q_proj_(tokens.select(1, 0).contiguous(), torch::kFloat).view({n, 1, -1});
    const torch::Tensor k = k_proj_(low, torch::kFloat).view({n, length, -1});
    const torch::Tensor v = v_proj_(low, torch::kFloat).view({n, length, -1});
    return c_proj_(attention(q, k, v, heads_, {}, torch::kFloat), torch::kFloat);
  }

 private:
  torch::ScalarType type_;
  std::vector<onednn::Conv2d> stem_;
  std::vector<BottleneckPlan> blocks_;
  torch::Tensor positional_embedding_;
  onednn::Linear q_proj_, k_proj_, v_proj_, c_proj_;
  int heads_;
};

}  // namespace

std::unique_ptr<TowerPlan> make_resnet_plan(const ModifiedResNetImpl& net, Compute compute) {
  return std::make_unique<ResNetPlan>(net, compute);
}

}  // namespace clipface::clip::plan_detail
