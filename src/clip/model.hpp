// CLIP as native LibTorch modules (internal header; includes LibTorch). Submodule and parameter
// names follow openai/CLIP's model.py exactly, so `named_parameters()` of ClipNet are the keys of
// an OpenAI state dict and loading is a name-for-name copy. Tensors run batch-first internally
// ([N, L, D]); the reference's sequence-first layout gives the same numbers.
//
// Autograd is not switched off anywhere in here: the engine wraps inference in InferenceMode, and
// fine-tuning (src/finetune) can train the text tower through the same modules.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace clipface::clip {

enum class Activation { quick_gelu, gelu };

Activation parse_activation(const std::string& name);  // "quick_gelu" | "gelu"; InputError
std::string to_string(Activation activation);

// Hyper-parameters, read off tensor shapes the way openai/CLIP's build_model does.
struct ClipConfig {
  int embed_dim = 512;
  // Vision tower: ViT when vision_patch_size > 0, else ModifiedResNet.
  int image_resolution = 224;
  std::vector<int> vision_layers{12};  // ViT: {layers}; ResNet: four stage block counts
  int vision_width = 768;
  int vision_patch_size = 32;
  // Text tower.
  int context_length = 77;
  int vocab_size = 49408;
  int transformer_width = 512;
  int transformer_heads = 8;
  int transformer_layers = 12;
  Activation activation = Activation::quick_gelu;

  bool is_vit() const { return vision_patch_size > 0; }
  // heads = width // 64 (ViT), width * 32 // 64 (ResNet attention pool), as in build_model.
  int vision_heads() const { return is_vit() ? vision_width / 64 : vision_width * 32 / 64; }
};

// The official architectures by OpenCLIP name ("ViT-B-32", "RN50", ...); InputError if unknown.
ClipConfig official_config(const std::string& name);
std::vector<std::string> official_names();

torch::Tensor activate(const torch::Tensor& x, Activation activation);

// nn.Linear's function. When training on the CPU in fp32 (autograd recording) the three products
// run through oneDNN: LibTorch 1.13 calls the BLAS, which is slow for the few dozen rows of a
// fine-tuning batch. Otherwise torch::linear, so inference through the modules stays the plain
// LibTorch reference.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias);

// nn.MultiheadAttention's parameters (in_proj_weight/in_proj_bias, out_proj) with a batch-first
// forward; `mask` is added to the attention scores (the causal mask of the text tower).
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int width, int heads);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask = {});

  torch::Tensor in_proj_weight, in_proj_bias;
  torch::nn::Linear out_proj{nullptr};
  int heads;
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int width, Activation activation);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear c_fc{nullptr}, c_proj{nullptr};
  Activation activation;
};
TORCH_MODULE(Mlp);

class ResidualAttentionBlockImpl : public torch::nn::Module {
 public:
  ResidualAttentionBlockImpl(int width, int heads, Activation activation);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& mask = {});

  Attention attn{nullptr};
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(ResidualAttentionBlock);

class TransformerImpl : public torch::nn::Module {
 public:
  TransformerImpl(int width, int layers, int heads, Activation activation);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& mask = {});

  torch::nn::ModuleList resblocks{nullptr};
  std::vector<ResidualAttentionBlock> blocks;  // the same modules, typed
};
TORCH_MODULE(Transformer);

class VisionTransformerImpl : public torch::nn::Module {
 public:
  VisionTransformerImpl(const ClipConfig& config);
  torch::Tensor forward(const torch::Tensor& pixels);  // [N, 3, S, S] -> [N, embed_dim]

  torch::nn::Conv2d conv1{nullptr};
  torch::Tensor class_embedding, positional_embedding, proj;
  torch::nn::LayerNorm ln_pre{nullptr}, ln_post{nullptr};
  Transformer transformer{nullptr};
};
TORCH_MODULE(VisionTransformer);

// ResNet bottleneck with anti-aliased strided convolution: stride is an AvgPool after conv2, and
// the downsample branch is AvgPool ("-1", no tensors) + 1x1 conv ("0") + BatchNorm ("1").
class BottleneckImpl : public torch::nn::Module {
 public:
  BottleneckImpl(int inplanes, int planes, int stride);
  torch::Tensor forward(const torch::Tensor& x);

  static constexpr int kExpansion = 4;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};  // null when the identity fits
  int stride;
};
TORCH_MODULE(Bottleneck);

// Attention pooling of the final feature map: one query (the mean token) over all positions,
// with separate q/k/v projections and c_proj as output projection.
class AttentionPool2dImpl : public torch::nn::Module {
 public:
  AttentionPool2dImpl(int spacial_dim, int embed_dim, int heads, int output_dim);
  torch::Tensor forward(const torch::Tensor& x);  // [N, C, H, W] -> [N, output_dim]

  torch::Tensor positional_embedding;
  torch::nn::Linear k_proj{nullptr}, q_proj{nullptr}, v_proj{nullptr}, c_proj{nullptr};
  int heads;
};
TORCH_MODULE(AttentionPool2d);

class ModifiedResNetImpl : public torch::nn::Module {
 public:
  ModifiedResNetImpl(const ClipConfig& config);
  torch::Tensor forward(const torch::Tensor& pixels);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  std::vector<torch::nn::ModuleList> layers;          // layer1..layer4
  std::vector<std::vector<Bottleneck>> stage_blocks;  // the same blocks, typed
  AttentionPool2d attnpool{nullptr};
};
TORCH_MODULE(ModifiedResNet);

// The whole model: `visual` plus the causal text transformer and logit_scale.
class ClipNetImpl : public torch::nn::Module {
 public:
  explicit ClipNetImpl(const ClipConfig& config);

  torch::Tensor encode_image(const torch::Tensor& pixels);  // float [N,3,S,S] -> [N, embed_dim]
  torch::Tensor encode_text(const torch::Tensor& tokens);   // int [N, context] -> [N, embed_dim]

  ClipConfig config;
  VisionTransformer vit{nullptr};  // registered as "visual" when config.is_vit()
  ModifiedResNet resnet{nullptr};  // registered as "visual" otherwise
  Transformer transformer{nullptr};
  torch::nn::Embedding token_embedding{nullptr};
  torch::Tensor positional_embedding, text_projection, logit_scale;
  torch::nn::LayerNorm ln_final{nullptr};
};
TORCH_MODULE(ClipNet);

// Builds the net with CLIP's initialisation (openai/CLIP initialize_parameters) drawn from the
// global LibTorch generator; callers seed it (torch::manual_seed) for reproducible weights.
ClipNet build_clip_net(const ClipConfig& config);

}  // namespace clipface::clip
