#include "tfjs/weights.hpp"

#include <ATen/ATen.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>

#include "clipface/errors.hpp"

namespace clipface::tfjs {
namespace fs = std::filesystem;
namespace {

std::string read_shards(const WeightGroup& group, const fs::path& dir) {
  std::string bytes;
  for (const auto& name : group.paths) {
    const fs::path shard = dir / name;
    std::error_code ec;
    if (!fs::is_regular_file(shard, ec)) {
      throw ModelError("weight file not found: " + shard.string());
    }
    std::ifstream in(shard, std::ios::binary);
    const auto size = fs::file_size(shard, ec);
    if (!in || ec) throw ModelError("cannot read weight file " + shard.string());
    const std::size_t begin = bytes.size();
    bytes.resize(begin + size);
    if (!in.read(bytes.data() + begin, static_cast<std::streamsize>(size))) {
      throw ModelError("cannot read weight file " + shard.string());
    }
  }
  return bytes;
}

std::string shard_names(const WeightGroup& group, const fs::path& dir) {
  std::string names;
  for (const auto& p : group.paths) names += (names.empty() ? "" : ", ") + (dir / p).string();
  return names;
}

at::Tensor decode(const WeightSpec& spec, const char* bytes) {
  const std::int64_t n = spec.elements();
  const auto shape = at::IntArrayRef(spec.shape);
  if (spec.quantization) {
    const Quantization& q = *spec.quantization;
    if (q.dtype == "float16") {
      if (spec.dtype != "float32") {
        throw ModelError("weight '" + spec.name + "': float16 quantisation of " + spec.dtype);
      }
      at::Tensor out = at::empty(shape, at::kFloat);
      float* dst = out.data_ptr<float>();
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t code;
        std::memcpy(&code, bytes + 2 * i, 2);
        dst[i] = half_to_float(code);
      }
      return out;
    }
    if (q.dtype != "uint8" && q.dtype != "uint16") {
      throw ModelError("weight '" + spec.name + "': unknown quantisation dtype '" + q.dtype +
                       "' (TF.js knows uint8, uint16 and float16)");
    }
    if (!q.min || !q.scale) {
      throw ModelError("weight '" + spec.name + "': " + q.dtype +
                       " quantisation without min and scale");
    }
    auto code = [&](std::int64_t i) -> double {
      if (q.dtype == "uint8") return static_cast<unsigned char>(bytes[i]);
      std::uint16_t v;
      std::memcpy(&v, bytes + 2 * i, 2);
      return v;
    };
    // As TF.js: the product in double precision, then stored as float32 (or rounded for int32).
    if (spec.dtype == "float32") {
      at::Tensor out = at::empty(shape, at::kFloat);
      float* dst = out.data_ptr<float>();
      for (std::int64_t i = 0; i < n; ++i) {
        dst[i] = static_cast<float>(code(i) * *q.scale + *q.min);
      }
      return out;
    }
    if (spec.dtype == "int32") {
      at::Tensor out = at::empty(shape, at::kInt);
      std::int32_t* dst = out.data_ptr<std::int32_t>();
      for (std::int64_t i = 0; i < n; ++i) {
        dst[i] = static_cast<std::int32_t>(std::floor(code(i) * *q.scale + *q.min + 0.5));
      }
      return out;
    }
    throw ModelError("weight '" + spec.name + "': quantised " + spec.dtype + " is not supported");
  }
  at::ScalarType type;
  if (spec.dtype == "float32") {
    type = at::kFloat;
  } else if (spec.dtype == "int32") {
    type = at::kInt;
  } else if (spec.dtype == "bool") {
    type = at::kBool;
  } else {
    throw ModelError("weight '" + spec.name + "': dtype '" + spec.dtype +
                     "' is not supported (float32, int32, bool)");
  }
  at::Tensor out = at::empty(shape, type);
  std::memcpy(out.data_ptr(), bytes, static_cast<std::size_t>(spec.stored_bytes()));
  return out;
}

}  // namespace

float half_to_float(std::uint16_t code) {
  const std::uint32_t sign = (code & 0x8000u) << 16;
  const int exponent = (code >> 10) & 0x1f;
  const std::uint32_t mantissa = code & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  std::uint32_t bits;
  if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // infinity or NaN
  } else {
    bits = sign | (static_cast<std::uint32_t>(exponent - 15 + 127) << 23) | (mantissa << 13);
  }
  return std::bit_cast<float>(bits);
}

WeightMap read_weights(const ModelJson& model) {
  const fs::path dir = model.path.parent_path();
  WeightMap weights;
  for (const auto& group : model.manifest) {
    const std::string bytes = read_shards(group, dir);
    std::int64_t needed = 0;
    for (const auto& spec : group.weights) {
      if (spec.elements() < 0) throw ModelError("weight '" + spec.name + "' has a negative size");
      needed += spec.stored_bytes();
    }
    if (static_cast<std::int64_t>(bytes.size()) != needed) {
      throw ModelError(shard_names(group, dir) + ": " + std::to_string(bytes.size()) +
                       " bytes, but the manifest in " + model.path.string() + " needs " +
                       std::to_string(needed) +
                       (static_cast<std::int64_t>(bytes.size()) < needed
                            ? " (truncated weight file)"
                            : " (weight file longer than its manifest)"));
    }
    std::int64_t offset = 0;
    for (const auto& spec : group.weights) {
      weights[spec.name] = decode(spec, bytes.data() + offset);
      offset += spec.stored_bytes();
    }
  }
  return weights;
}

}  // namespace clipface::tfjs
