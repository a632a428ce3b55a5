// Reading CLIP weight files into OpenAI-named state dicts (internal header; includes LibTorch).
// Formats: OpenAI TorchScript archives, safetensors with OpenCLIP (= OpenAI) key names, and
// Hugging Face CLIPModel safetensors (renamed to OpenAI keys). Every error is a ModelError with
// one line naming the file and, where there is one, the tensor.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>

#include "clip/model.hpp"

namespace clipface::clip {

// Floating tensors are fp32 on the CPU (converted per tensor from fp16/bf16/fp64); integer
// tensors stay as stored. Sorted by name.
using StateDict = std::map<std::string, torch::Tensor>;

enum class WeightFormat { openai_torchscript, openclip_safetensors, hf_safetensors };
std::string to_string(WeightFormat format);

struct WeightFile {
  StateDict tensors;  // OpenAI key names whatever the format on disk
  WeightFormat format = WeightFormat::openai_torchscript;
  std::map<std::string, std::string> metadata;  // safetensors __metadata__ (string values)
};

// Detects the format by content (zip magic, safetensors header), reads and renames.
WeightFile read_weight_file(const std::filesystem::path& path);

// torch::jit::load + named_parameters + named_buffers.
StateDict read_torchscript(const std::filesystem::path& path);

struct SafetensorsFile {
  StateDict tensors;
  std::map<std::string, std::string> metadata;
};
// Validates the header (length, JSON, dtypes, shapes, offsets inside the file) before reading.
SafetensorsFile read_safetensors(const std::filesystem::path& path);
// Writes tensors as stored (dtype kept); header padded to 8 bytes like the reference writer.
void write_safetensors(const std::filesystem::path& path, const StateDict& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Hugging Face CLIPModel key layout <-> OpenAI layout (ViT models only; HF has no ResNet CLIP).
bool is_hf_layout(const StateDict& tensors);
StateDict hf_to_openai(const StateDict& hf, const std::string& file);
StateDict openai_to_hf(const StateDict& openai);

// Hyper-parameters from tensor shapes exactly as openai/CLIP build_model; the activation is
// left at its default (the caller decides it from the format and metadata).
ClipConfig config_from_state_dict(const StateDict& tensors, const std::string& file);

// Copies every parameter and buffer of `net` from `tensors` by name, checking shapes.
void load_state_dict(ClipNet& net, const StateDict& tensors, const std::string& file);

}  // namespace clipface::clip
