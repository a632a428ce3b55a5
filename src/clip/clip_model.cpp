// ClipModel: loading, random architectures, and the tensor-level encoders. Image decoding and
// tokenisation live in clip_inputs.cpp.
#include <ATen/autocast_mode.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "clip/cpu_plan.hpp"
#include "clip/engine.hpp"
#include "clip/weights.hpp"
#include "clipface/checksum.hpp"
#include "clipface/errors.hpp"

namespace clipface {
namespace fs = std::filesystem;

namespace clip {

torch::Device prepare_runtime(const RuntimeOptions& runtime) {
  if (runtime.batch_size <= 0) throw InputError("batch size must be positive");
  const int threads = runtime.threads > 0
                          ? runtime.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  if (runtime.device == Device::cuda) {
    if (!torch::cuda::is_available()) {
      throw ModelError(
          "device cuda requested but LibTorch sees no CUDA device (CPU-only build or no GPU); "
          "use --device cpu");
    }
    return torch::Device(torch::kCUDA);
  }
  return torch::Device(torch::kCPU);
}

namespace {

// Autocast to bfloat16 on a CUDA device for the duration of one forward (the CPU runs its own
// bf16 plans instead), restoring the previous state.
class CudaBf16Autocast {
 public:
  explicit CudaBf16Autocast(bool enable) : enabled_(enable) {
    if (!enabled_) return;
    was_enabled_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  }
  ~CudaBf16Autocast() {
    if (!enabled_) return;
    at::autocast::clear_cache();
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
  }
  CudaBf16Autocast(const CudaBf16Autocast&) = delete;
  CudaBf16Autocast& operator=(const CudaBf16Autocast&) = delete;

 private:
  bool enabled_;
  bool was_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kBFloat16;
};

onednn::Compute compute_for(Precision precision) {
  return precision == Precision::bf16 ? onednn::Compute::bf16 : onednn::Compute::fp32;
}

// The options a model runs with: the precision resolved for this machine (a bf16 request that the
// CPU cannot run warns once per process and becomes fp32).
RuntimeOptions effective_runtime(RuntimeOptions runtime) {
  std::string warning;
  runtime.precision = resolve_precision(runtime.precision, runtime.device, &warning);
  if (!warning.empty()) {
    static std::once_flag once;
    std::call_once(once, [&] { spdlog::warn("{}", warning); });
  }
  return runtime;
}

// Runs a tower's plan, turning oneDNN's errors into ModelErrors.
torch::Tensor run_plan(PlanCache& plans, const ClipNetImpl& net, Tower tower,
                       const torch::Tensor& input) {
  try {
    return plans.get(net, tower)->forward(input);
  } catch (const dnnl::error& e) {
    throw ModelError(std::string("oneDNN failed to run the model: ") + e.what());
  }
}

// QuickGELU for OpenAI's own files; for safetensors the writer's metadata, then the model name
// (OpenCLIP calls its QuickGELU models "*-quickgelu" or takes OpenAI's weights), else GELU.
Activation choose_activation(const ClipLoadOptions& options, const clip::WeightFile& weights,
                             const fs::path& path, std::string& reason) {
  if (!options.activation.empty()) {
    reason = "option";
    return parse_activation(options.activation);
  }
  if (weights.format == WeightFormat::openai_torchscript) {
    reason = "OpenAI archive";
    return Activation::quick_gelu;
  }
  if (auto it = weights.metadata.find("act"); it != weights.metadata.end()) {
    reason = "file metadata";
    return parse_activation(it->second);
  }
  if (weights.format == WeightFormat::hf_safetensors) {
    // HF keeps it in config.json beside the weights; CLIPConfig's default is quick_gelu.
    reason = "Hugging Face default";
    const fs::path config_file = path.parent_path() / "config.json";
    std::ifstream in(config_file);
    if (in) {
      try {
        const auto config = nlohmann::json::parse(in);
        for (const char* tower : {"text_config", "vision_config"}) {
          if (config.contains(tower) && config[tower].contains("hidden_act")) {
            reason = config_file.string();
            return parse_activation(config[tower]["hidden_act"].get<std::string>());
          }
        }
      } catch (const nlohmann::json::exception&) {
        spdlog::warn("{}: unreadable, assuming quick_gelu", config_file.string());
      }
    }
    return Activation::quick_gelu;
  }
  std::string name = path.filename().string();
  if (auto it = weights.metadata.find("model"); it != weights.metadata.end())
    name += " " + it->second;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char ch) { return std::tolower(ch); });
  reason = "model name";
  if (name.find("quickgelu") != std::string::npos || name.find("openai") != std::string::npos) {
    return Activation::quick_gelu;
  }
  return Activation::gelu;
}

ClipInfo info_from_config(const ClipConfig& c) {
  ClipInfo info;
  info.vision = c.is_vit() ? "vit" : "resnet";
  info.activation = to_string(c.activation);
  info.embed_dim = c.embed_dim;
  info.image_size = c.image_resolution;
  info.context_length = c.context_length;
  info.vocab_size = c.vocab_size;
  info.vision_width = c.vision_width;
  info.vision_patch_size = c.vision_patch_size;
  info.vision_layers = c.vision_layers;
  info.vision_heads = c.vision_heads();
  info.text_width = c.transformer_width;
  info.text_layers = c.transformer_layers;
  info.text_heads = c.transformer_heads;
  return info;
}

}  // namespace
}  // namespace clip

// ---------------------------------------------------------------------------------------------

torch::Tensor ClipModel::Impl::image_features(const torch::Tensor& pixels) const {
  if (!device.is_cpu()) return module_image_features(pixels);
  return clip::run_plan(*plans, *net, clip::Tower::vision, pixels.to(torch::kFloat).contiguous());
}

torch::Tensor ClipModel::Impl::text_features(const torch::Tensor& tokens) const {
  if (!device.is_cpu()) return module_text_features(tokens);
  return clip::run_plan(*plans, *net, clip::Tower::text, tokens);
}

torch::Tensor ClipModel::Impl::module_image_features(const torch::Tensor& pixels) const {
  clip::CudaBf16Autocast autocast(runtime.precision == Precision::bf16 && device.is_cuda());
  return net.ptr()->encode_image(pixels.to(device, torch::kFloat)).to(torch::kFloat);
}

torch::Tensor ClipModel::Impl::module_text_features(const torch::Tensor& tokens) const {
  clip::CudaBf16Autocast autocast(runtime.precision == Precision::bf16 && device.is_cuda());
  return net.ptr()->encode_text(tokens.to(device)).to(torch::kFloat);
}

Matrix ClipModel::Impl::run_batched(
    std::size_t n, const std::function<torch::Tensor(std::size_t, std::size_t)>& batch_forward,
    bool normalize) const {
  c10::InferenceMode inference;
  Matrix out(n, static_cast<std::size_t>(info.embed_dim));
  const auto batch = static_cast<std::size_t>(runtime.batch_size);
  for (std::size_t begin = 0; begin < n; begin += batch) {
    const std::size_t count = std::min(batch, n - begin);
    torch::Tensor features = batch_forward(begin, count);
    if (normalize) features = features / features.norm(2, -1, /*keepdim=*/true);
    features = features.to(torch::kCPU, torch::kFloat).contiguous();
    std::memcpy(out.data.data() + begin * out.cols, features.data_ptr<float>(),
                count * out.cols * sizeof(float));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

ClipModel::ClipModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClipModel::ClipModel(ClipModel&&) noexcept = default;
ClipModel& ClipModel::operator=(ClipModel&&) noexcept = default;
ClipModel::~ClipModel() = default;

ClipModel ClipModel::load(const std::string& path_string, const ClipLoadOptions& options) {
  const fs::path path(path_string);
  auto impl = std::make_unique<Impl>();
  impl->device = clip::prepare_runtime(options.runtime);
  impl->runtime = clip::effective_runtime(options.runtime);

  clip::WeightFile weights = clip::read_weight_file(path);
  clip::ClipConfig config = clip::config_from_state_dict(weights.tensors, path_string);
  std::string reason;
  config.activation = clip::choose_activation(options, weights, path, reason);
  clip::ClipNet net(config);  // default initialisation, overwritten below
  clip::load_state_dict(net, weights.tensors, path_string);
  weights.tensors.clear();  // free the file's copy before moving to the device
  net->eval();
  net->to(impl->device);

  impl->info = clip::info_from_config(config);
  impl->info.name = path.stem().string();
  impl->info.path = path_string;
  impl->info.sha256 = sha256_file(path);
  impl->info.format = clip::to_string(weights.format);
  impl->net = net;
  impl->plans = std::make_shared<clip::PlanCache>(clip::compute_for(impl->runtime.precision));
  spdlog::info("loaded {} ({}, {} tower, {} from {})", path_string, impl->info.format,
               impl->info.vision, impl->info.activation, reason);
  return ClipModel(std::move(impl));
}

ClipModel ClipModel::random(const std::string& architecture, const ClipLoadOptions& options,
                            std::uint64_t seed) {
  clip::ClipConfig config = clip::official_config(architecture);
  config.activation = options.activation.empty() ? clip::Activation::quick_gelu
                                                 : clip::parse_activation(options.activation);
  auto impl = std::make_unique<Impl>();
  impl->device = clip::prepare_runtime(options.runtime);
  impl->runtime = clip::effective_runtime(options.runtime);
  torch::manual_seed(seed);
  clip::ClipNet net = clip::build_clip_net(config);
  net->eval();
  net->to(impl->device);
  impl->info = clip::info_from_config(config);
  impl->info.name = architecture;
  impl->info.format = "random";
  impl->info.random_weights = true;
  impl->net = net;
  impl->plans = std::make_shared<clip::PlanCache>(clip::compute_for(impl->runtime.precision));
  return ClipModel(std::move(impl));
}

std::vector<std::string> ClipModel::architectures() {
  return clip::official_names();
}

const ClipInfo& ClipModel::info() const {
  return impl_->info;
}
const RuntimeOptions& ClipModel::runtime() const {
  return impl_->runtime;
}

float ClipModel::logit_scale() const {
  c10::InferenceMode inference;
  return impl_->net->logit_scale.exp().item<float>();
}

Matrix ClipModel::encode_pixels(const std::vector<float>& pixels, std::size_t n,
                                bool normalize) const {
  const auto size = static_cast<std::size_t>(impl_->info.image_size);
  const std::size_t per_image = 3 * size * size;
  if (pixels.size() != n * per_image) {
    throw InputError("encode_pixels: got " + std::to_string(pixels.size()) + " floats for " +
                     std::to_string(n) + " images of 3x" + std::to_string(size) + "x" +
                     std::to_string(size));
  }
  const auto s = static_cast<int64_t>(size);
  return impl_->run_batched(
      n,
      [&](std::size_t begin, std::size_t count) {
        // A view of the caller's buffer; nothing writes to it.
        const torch::Tensor batch =
            torch::from_blob(const_cast<float*>(pixels.data() + begin * per_image),
                             {static_cast<int64_t>(count), 3, s, s}, torch::kFloat);
        return impl_->image_features(batch);
      },
      normalize);
}

Matrix ClipModel::encode_tokens(const std::vector<std::vector<std::int32_t>>& tokens,
                                bool normalize) const {
  const auto context = static_cast<std::size_t>(impl_->info.context_length);
  const auto vocab = impl_->info.vocab_size;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].size() != context) {
      throw InputError("encode_tokens: row " + std::to_string(i) + " has " +
                       std::to_string(tokens[i].size()) + " ids, the model needs " +
                       std::to_string(context));
    }
    for (const auto id : tokens[i]) {
      if (id < 0 || id >= vocab) {
        throw InputError("encode_tokens: row " + std::to_string(i) + " has id " +
                         std::to_string(id) + " outside the vocabulary of " +
                         std::to_string(vocab));
      }
    }
  }
  return impl_->run_batched(
      tokens.size(),
      [&](std::size_t begin, std::size_t count) {
        torch::Tensor batch = torch::empty(
            {static_cast<int64_t>(count), static_cast<int64_t>(context)}, torch::kLong);
        auto* ids = batch.data_ptr<int64_t>();
        for (std::size_t r = 0; r < count; ++r) {
          std::copy(tokens[begin + r].begin(), tokens[begin + r].end(), ids + r * context);
        }
        return impl_->text_features(batch);
      },
      normalize);
}

}  // namespace clipface
