#include "clip/weights.hpp"

#include <torch/script.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "clipface/errors.hpp"

namespace clipface::clip {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void fail(const std::string& file, const std::string& message) {
  throw ModelError(file + ": " + message);
}

std::string shape_string(c10::IntArrayRef shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// First line of a LibTorch error, without the C++ backtrace.
std::string first_line(const c10::Error& e) {
  std::string message = e.what_without_backtrace();
  return message.substr(0, message.find('\n'));
}

torch::Tensor as_stored(torch::Tensor t) {
  t = t.detach();
  if (t.is_floating_point()) return t.to(torch::kFloat).contiguous();
  return t.contiguous();
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Checkpoints saved from DistributedDataParallel carry "module." on every key.
StateDict strip_module_prefix(StateDict tensors) {
  if (tensors.empty()) return tensors;
  for (const auto& [name, t] : tensors) {
    if (!starts_with(name, "module.")) return tensors;
  }
  StateDict stripped;
  for (auto& [name, t] : tensors) stripped.emplace(name.substr(7), std::move(t));
  return stripped;
}

struct DtypeInfo {
  const char* name;
  torch::Dtype dtype;
};
constexpr std::array<DtypeInfo, 10> kDtypes{{{"F32", torch::kFloat},
                                             {"F16", torch::kHalf},
                                             {"BF16", torch::kBFloat16},
                                             {"F64", torch::kDouble},
                                             {"I64", torch::kLong},
                                             {"I32", torch::kInt},
                                             {"I16", torch::kShort},
                                             {"I8", torch::kChar},
                                             {"U8", torch::kByte},
                                             {"BOOL", torch::kBool}}};

}  // namespace

std::string to_string(WeightFormat format) {
  switch (format) {
    case WeightFormat::openai_torchscript:
      return "openai-torchscript";
    case WeightFormat::openclip_safetensors:
      return "openclip-safetensors";
    case WeightFormat::hf_safetensors:
      return "hf-safetensors";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// TorchScript archives.

StateDict read_torchscript(const fs::path& path) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(path.string(), torch::kCPU);
  } catch (const c10::Error& e) {
    fail(path.string(),
         "cannot read TorchScript archive (truncated, corrupt, or a torch.save "
         "file rather than a TorchScript archive): " +
             first_line(e));
  } catch (const std::exception& e) {
    fail(path.string(), std::string("cannot read TorchScript archive: ") + e.what());
  }
  StateDict tensors;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) {
    tensors[p.name] = as_stored(p.value);
  }
  for (const auto& b : module.named_buffers(/*recurse=*/true)) {
    tensors[b.name] = as_stored(b.value);
  }
  return strip_module_prefix(std::move(tensors));
}

// ---------------------------------------------------------------------------------------------
// safetensors: 8-byte little-endian header length, JSON header, raw little-endian data.

SafetensorsFile read_safetensors(const fs::path& path) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(file, "cannot open file");
  std::error_code ec;
  const std::uint64_t file_size = fs::file_size(path, ec);
  if (ec) fail(file, "cannot read file size");
  if (file_size < 8)
    fail(file, "truncated safetensors file (" + std::to_string(file_size) + " bytes)");
  unsigned char length_bytes[8];
  in.read(reinterpret_cast<char*>(length_bytes), 8);
  std::uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | length_bytes[i];
  if (header_length > file_size - 8) {
    fail(file, "truncated safetensors file: header of " + std::to_string(header_length) +
                   " bytes but the file has " + std::to_string(file_size) + " bytes");
  }
  std::string header(header_length, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_length));
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception&) {
    fail(file, "safetensors header is not valid JSON");
  }
  if (!json.is_object()) fail(file, "safetensors header is not a JSON object");

  const std::uint64_t data_start = 8 + header_length;
  const std::uint64_t data_size = file_size - data_start;
  SafetensorsFile result;
  for (const auto& [name, entry] : json.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(file, "safetensors __metadata__ is not an object");
      for (const auto& [key, value] : entry.items()) {
        result.metadata[key] = value.is_string() ? value.get<std::string>() : value.dump();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets")) {
      fail(file, where + " lacks dtype, shape or data_offsets in the safetensors header");
    }
    const auto& dtype_json = entry["dtype"];
    const auto& shape_json = entry["shape"];
    const auto& offsets_json = entry["data_offsets"];
    const DtypeInfo* dtype = nullptr;
    for (const auto& d : kDtypes) {
      if (dtype_json.is_string() && dtype_json.get<std::string>() == d.name) dtype = &d;
    }
    if (!dtype) fail(file, where + " has unsupported dtype " + dtype_json.dump());
    std::vector<int64_t> shape;
    if (!shape_json.is_array()) fail(file, where + " has a malformed shape");
    for (const auto& dim : shape_json) {
      if (!dim.is_number_unsigned()) fail(file, where + " has a malformed shape");
      shape.push_back(dim.get<int64_t>());
    }
    if (!offsets_json.is_array() || offsets_json.size() != 2 ||
        !offsets_json[0].is_number_unsigned() || !offsets_json[1].is_number_unsigned()) {
      fail(file, where + " has malformed data_offsets");
    }
    const auto begin = offsets_json[0].get<std::uint64_t>();
    const auto end = offsets_json[1].get<std::uint64_t>();
    if (begin > end) fail(file, where + " has data_offsets with begin > end");
    if (end > data_size) {
      fail(file, where + " data ends at byte " + std::to_string(end) + " but only " +
                     std::to_string(data_size) + " data bytes are in the file (truncated?)");
    }
    torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(dtype->dtype));
    const std::uint64_t expected = static_cast<std::uint64_t>(t.numel()) * t.element_size();
    if (end - begin != expected) {
      fail(file, where + " of shape " + shape_string(shape) + " needs " + std::to_string(expected) +
                     " bytes, data_offsets give " + std::to_string(end - begin));
    }
    in.seekg(static_cast<std::streamoff>(data_start + begin));
    in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(expected));
    if (!in) fail(file, where + ": read error (truncated file?)");
    result.tensors[name] = as_stored(t);
  }
  return result;
}

void write_safetensors(const fs::path& path, const StateDict& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  std::vector<torch::Tensor> ordered;
  for (const auto& [name, tensor] : tensors) {
    const torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const DtypeInfo* dtype = nullptr;
    for (const auto& d : kDtypes) {
      if (d.dtype == t.scalar_type()) dtype = &d;
    }
    if (!dtype) throw ModelError(path.string() + ": cannot write tensor '" + name + "' dtype");
    const std::uint64_t bytes = static_cast<std::uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", dtype->name},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    ordered.push_back(t);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw ModelError(path.string() + ": cannot write file");
  const std::uint64_t length = text.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((length >> (8 * i)) & 0xff));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& t : ordered) {
    out.write(static_cast<const char*>(t.data_ptr()),
              static_cast<std::streamsize>(t.numel() * t.element_size()));
  }
  if (!out) throw ModelError(path.string() + ": write failed (disk full?)");
}

// ---------------------------------------------------------------------------------------------
// Hugging Face CLIPModel <-> OpenAI names.

namespace {

// Per-layer renames inside encoder.layers.N (q/k/v are concatenated separately).
const std::array<std::pair<const char*, const char*>, 5> kLayerRenames{{
    {"self_attn.out_proj.", "attn.out_proj."},
    {"layer_norm1.", "ln_1."},
    {"layer_norm2.", "ln_2."},
    {"mlp.fc1.", "mlp.c_fc."},
    {"mlp.fc2.", "mlp.c_proj."},
}};

const std::array<std::pair<const char*, const char*>, 8> kTopRenames{{
    {"text_model.embeddings.token_embedding.weight", "token_embedding.weight"},
    {"text_model.embeddings.position_embedding.weight", "positional_embedding"},
    {"text_model.final_layer_norm.weight", "ln_final.weight"},
    {"text_model.final_layer_norm.bias", "ln_final.bias"},
    {"vision_model.embeddings.class_embedding", "visual.class_embedding"},
    {"vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight"},
    {"vision_model.embeddings.position_embedding.weight", "visual.positional_embedding"},
    {"logit_scale", "logit_scale"},
}};

}  // namespace

bool is_hf_layout(const StateDict& tensors) {
  return tensors.count("text_model.embeddings.token_embedding.weight") ||
         tensors.count("vision_model.embeddings.patch_embedding.weight");
}

StateDict hf_to_openai(const StateDict& hf, const std::string& file) {
  StateDict out;
  // q/k/v of each attention, keyed by the OpenAI prefix ("transformer.resblocks.3.attn.").
  std::map<std::string, std::map<std::string, torch::Tensor>> qkv;
  for (const auto& [name, t] : hf) {
    if (ends_with(name, "position_ids")) continue;  // an index buffer, not a weight
    bool done = false;
    for (const auto& [from, to] : kTopRenames) {
      if (name == from) {
        out[to] = t;
        done = true;
      }
    }
    if (done) continue;
    if (name == "text_projection.weight") {
      out["text_projection"] = t.t().contiguous();
    } else if (name == "visual_projection.weight") {
      out["visual.proj"] = t.t().contiguous();
    } else if (starts_with(name, "vision_model.pre_layrnorm.")) {
      out["visual.ln_pre." + name.substr(26)] = t;
    } else if (starts_with(name, "vision_model.post_layernorm.")) {
      out["visual.ln_post." + name.substr(28)] = t;
    } else {
      std::string layer_prefix, openai_prefix;
      if (starts_with(name, "text_model.encoder.layers.")) {
        layer_prefix = "text_model.encoder.layers.";
        openai_prefix = "transformer.resblocks.";
      } else if (starts_with(name, "vision_model.encoder.layers.")) {
        layer_prefix = "vision_model.encoder.layers.";
        openai_prefix = "visual.transformer.resblocks.";
      } else {
        continue;  // not part of CLIP's inference graph
      }
      const std::string rest = name.substr(layer_prefix.size());  // "N.self_attn.q_proj.weight"
      const std::size_t dot = rest.find('.');
      const std::string block = openai_prefix + rest.substr(0, dot) + ".";
      const std::string field = rest.substr(dot + 1);
      for (const auto& [from, to] : kLayerRenames) {
        if (starts_with(field, from)) out[block + to + field.substr(std::strlen(from))] = t;
      }
      for (const char* part : {"q_proj.", "k_proj.", "v_proj."}) {
        const std::string key = std::string("self_attn.") + part;
        if (starts_with(field, key)) {
          qkv[block + "attn."][std::string(part, 1) + field.substr(key.size())] = t;
        }
      }
    }
  }
  for (const auto& [prefix, parts] : qkv) {
    for (const std::string kind : {"weight", "bias"}) {
      std::vector<torch::Tensor> pieces;
      for (const char* p : {"q", "k", "v"}) {
        auto it = parts.find(p + kind);
        if (it == parts.end()) {
          fail(file, "missing tensor for the " + std::string(p) + "_proj " + kind + " of '" +
                         prefix + "' (Hugging Face layout)");
        }
        pieces.push_back(it->second);
      }
      out[prefix + "in_proj_" + kind] = torch::cat(pieces, 0);
    }
  }
  return out;
}

StateDict openai_to_hf(const StateDict& openai) {
  StateDict out;
  for (const auto& [name, t] : openai) {
    bool done = false;
    for (const auto& [hf, oa] : kTopRenames) {
      if (name == oa) {
        out[hf] = t;
        done = true;
      }
    }
    if (done) continue;
    if (name == "text_projection") {
      out["text_projection.weight"] = t.t().contiguous();
    } else if (name == "visual.proj") {
      out["visual_projection.weight"] = t.t().contiguous();
    } else if (starts_with(name, "visual.ln_pre.")) {
      out["vision_model.pre_layrnorm." + name.substr(14)] = t;
    } else if (starts_with(name, "visual.ln_post.")) {
      out["vision_model.post_layernorm." + name.substr(15)] = t;
    } else {
      std::string hf_prefix, openai_prefix;
      if (starts_with(name, "transformer.resblocks.")) {
        openai_prefix = "transformer.resblocks.";
        hf_prefix = "text_model.encoder.layers.";
      } else if (starts_with(name, "visual.transformer.resblocks.")) {
        openai_prefix = "visual.transformer.resblocks.";
        hf_prefix = "vision_model.encoder.layers.";
      } else {
        continue;  // buffers such as input_resolution
      }
      const std::string rest = name.substr(openai_prefix.size());
      const std::size_t dot = rest.find('.');
      const std::string block = hf_prefix + rest.substr(0, dot) + ".";
      const std::string field = rest.substr(dot + 1);
      if (starts_with(field, "attn.in_proj_")) {
        const std::string kind = field.substr(13);  // weight | bias
        auto parts = t.chunk(3, 0);
        out[block + "self_attn.q_proj." + kind] = parts[0].contiguous();
        out[block + "self_attn.k_proj." + kind] = parts[1].contiguous();
        out[block + "self_attn.v_proj." + kind] = parts[2].contiguous();
        continue;
      }
      for (const auto& [hf, oa] : kLayerRenames) {
        if (starts_with(field, oa)) {
          out[block + hf + field.substr(std::strlen(oa))] = t;
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading any supported file.

WeightFile read_weight_file(const fs::path& path) {
  const std::string file = path.string();
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(file, "model file not found");
  if (!fs::is_regular_file(path, ec)) fail(file, "not a regular file");
  std::array<unsigned char, 9> head{};
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(file, "cannot open file");
    in.read(reinterpret_cast<char*>(head.data()), head.size());
  }
  WeightFile result;
  if (head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
    result.tensors = read_torchscript(path);
    result.format = WeightFormat::openai_torchscript;
  } else if (head[8] == '{') {
    SafetensorsFile st = read_safetensors(path);
    result.metadata = std::move(st.metadata);
    if (is_hf_layout(st.tensors)) {
      result.tensors = hf_to_openai(st.tensors, file);
      result.format = WeightFormat::hf_safetensors;
    } else {
      result.tensors = strip_module_prefix(std::move(st.tensors));
      result.format = WeightFormat::openclip_safetensors;
    }
  } else {
    fail(file, "not a CLIP weight file (neither a TorchScript archive nor safetensors)");
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Hyper-parameters from shapes (openai/CLIP build_model).

ClipConfig config_from_state_dict(const StateDict& tensors, const std::string& file) {
  const bool has_text = tensors.count("token_embedding.weight") || tensors.count("text_projection");
  bool has_visual = false;
  for (const auto& [name, t] : tensors) has_visual = has_visual || starts_with(name, "visual.");
  if (!has_text && !has_visual) {
    fail(file,
         "not a CLIP model: none of its " + std::to_string(tensors.size()) +
             " tensors has a CLIP name (e.g. 'token_embedding.weight', 'visual.conv1.weight')");
  }
  auto need = [&](const std::string& name, std::size_t dims) -> const torch::Tensor& {
    auto it = tensors.find(name);
    if (it == tensors.end()) fail(file, "missing tensor '" + name + "'");
    if (static_cast<std::size_t>(it->second.dim()) != dims) {
      fail(file, "tensor '" + name + "' has shape " + shape_string(it->second.sizes()) +
                     ", expected " + std::to_string(dims) + " dimensions");
    }
    return it->second;
  };
  // Number of distinct indices N in keys "<prefix>N.".
  auto count_blocks = [&](const std::string& prefix) {
    std::set<std::string> indices;
    for (const auto& [name, t] : tensors) {
      if (starts_with(name, prefix)) {
        indices.insert(name.substr(prefix.size(), name.find('.', prefix.size()) - prefix.size()));
      }
    }
    return static_cast<int>(indices.size());
  };
  auto grid_of = [&](const torch::Tensor& positional, const std::string& name) {
    const auto positions = positional.size(0) - 1;
    const int grid = static_cast<int>(std::lround(std::sqrt(static_cast<double>(positions))));
    if (positions <= 0 || grid * grid != positions) {
      fail(file, "tensor '" + name + "' has " + std::to_string(positions + 1) +
                     " positions, not a square grid plus one");
    }
    return grid;
  };

  ClipConfig c;
  const bool vit =
      tensors.count("visual.class_embedding") || count_blocks("visual.transformer.resblocks.") > 0;
  if (vit) {
    const auto& conv1 = need("visual.conv1.weight", 4);
    c.vision_width = static_cast<int>(conv1.size(0));
    c.vision_layers = {count_blocks("visual.transformer.resblocks.")};
    c.vision_patch_size = static_cast<int>(conv1.size(-1));
    c.image_resolution = c.vision_patch_size * grid_of(need("visual.positional_embedding", 2),
                                                       "visual.positional_embedding");
  } else {
    c.vision_layers.clear();
    for (int stage = 1; stage <= 4; ++stage) {
      const int blocks = count_blocks("visual.layer" + std::to_string(stage) + ".");
      if (blocks == 0)
        fail(file, "missing tensor 'visual.layer" + std::to_string(stage) + ".0.conv1.weight'");
      c.vision_layers.push_back(blocks);
    }
    c.vision_width = static_cast<int>(need("visual.layer1.0.conv1.weight", 4).size(0));
    c.vision_patch_size = 0;
    c.image_resolution = 32 * grid_of(need("visual.attnpool.positional_embedding", 2),
                                      "visual.attnpool.positional_embedding");
  }
  c.embed_dim = static_cast<int>(need("text_projection", 2).size(1));
  c.context_length = static_cast<int>(need("positional_embedding", 2).size(0));
  c.vocab_size = static_cast<int>(need("token_embedding.weight", 2).size(0));
  c.transformer_width = static_cast<int>(need("ln_final.weight", 1).size(0));
  c.transformer_heads = c.transformer_width / 64;
  c.transformer_layers = count_blocks("transformer.resblocks.");
  if (c.transformer_heads < 1 || c.vision_heads() < 1) {
    fail(file, "text width " + std::to_string(c.transformer_width) + " or vision width " +
                   std::to_string(c.vision_width) + " is too small for CLIP's 64-wide heads");
  }
  if (c.transformer_layers == 0)
    fail(file, "missing tensor 'transformer.resblocks.0.attn.in_proj_weight'");
  if (vit && c.vision_layers[0] == 0) {
    fail(file, "missing tensor 'visual.transformer.resblocks.0.attn.in_proj_weight'");
  }
  return c;
}

void load_state_dict(ClipNet& net, const StateDict& tensors, const std::string& file) {
  torch::NoGradGuard no_grad;
  auto copy_into = [&](const std::string& name, torch::Tensor& target) {
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      if (ends_with(name, "num_batches_tracked")) return;  // training counter only
      fail(file, "missing tensor '" + name + "'");
    }
    if (it->second.sizes() != target.sizes()) {
      fail(file, "tensor '" + name + "' has shape " + shape_string(it->second.sizes()) +
                     ", expected " + shape_string(target.sizes()));
    }
    target.copy_(it->second);
  };
  for (auto& item : net->named_parameters(/*recurse=*/true)) copy_into(item.key(), item.value());
  for (auto& item : net->named_buffers(/*recurse=*/true)) copy_into(item.key(), item.value());
}

}  // namespace clipface::clip
