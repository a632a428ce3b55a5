// The weight shards of a TF.js graph model (internal header; ATen tensors): every weight of the
// manifest decoded as TF.js's decodeWeight does (float32, int32, bool; uint8/uint16 codes times
// scale plus min, float16 halves), in the model's own (TensorFlow) layout.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "tfjs/model_json.hpp"

namespace clipface::tfjs {

using WeightMap = std::map<std::string, at::Tensor>;

// Reads each group's shards (relative to model.json's folder) back to back. Throws ModelError
// naming the shard for a missing or unreadable file and when the bytes do not match the manifest
// (a truncated or padded shard), and naming the weight for an unknown dtype or quantisation.
WeightMap read_weights(const ModelJson& model);

// The float a float16 code stands for (exact, subnormals and infinities included).
float half_to_float(std::uint16_t code);

}  // namespace clipface::tfjs
