// The contents of a TF.js graph model's model.json (internal header): the graph's nodes with their
// attributes, the weight manifest and the signature. No tensors here; weights.hpp reads them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace clipface::tfjs {

// "name", "name:1" or "^name" (a control dependency, which carries no data).
struct InputRef {
  std::string node;
  int output = 0;
  bool control = false;
};
InputRef parse_input_ref(const std::string& ref);

struct NodeDef {
  std::string name;
  std::string op;
  std::vector<InputRef> inputs;  // data inputs only, in order
  nlohmann::ordered_json attr;   // TensorFlow AttrValue objects as the converter wrote them

  // Typed attribute readers. A missing attribute yields the fallback; one of the wrong kind
  // throws ModelError naming the node and the attribute (the loader adds the file).
  std::string attr_string(const std::string& key, const std::string& fallback = "") const;
  std::vector<std::string> attr_strings(const std::string& key) const;
  std::int64_t attr_int(const std::string& key, std::int64_t fallback = 0) const;
  std::vector<std::int64_t> attr_ints(const std::string& key) const;
  double attr_float(const std::string& key, double fallback = 0) const;
  bool attr_bool(const std::string& key, bool fallback = false) const;
  bool has_attr(const std::string& key) const { return attr.contains(key); }
};

// How a weight is stored in the shard: "uint8"/"uint16" codes with value = code * scale + min,
// or "float16" halves; TF.js's decodeWeight rules.
struct Quantization {
  std::string dtype;
  std::optional<double> min, scale;
};

struct WeightSpec {
  std::string name;
  std::vector<std::int64_t> shape;
  std::string dtype;  // "float32" | "int32" | "bool"
  std::optional<Quantization> quantization;

  std::int64_t elements() const;
  std::int64_t stored_bytes() const;  // in the shard
};

struct WeightGroup {
  std::vector<std::string> paths;  // shard files, relative to model.json's folder
  std::vector<WeightSpec> weights;
};

// A tensor named in the signature (or a placeholder / sink when there is none).
struct TensorRef {
  std::string key;  // the signature's key ("activation_4"), else the node name
  InputRef ref;     // the node output it names
};

struct ModelJson {
  std::filesystem::path path;
  std::string format;  // "graph-model"
  std::string generated_by, converted_by;
  std::vector<NodeDef> nodes;
  std::vector<WeightGroup> manifest;
  std::vector<TensorRef> signature_inputs, signature_outputs;  // empty when not given
};

// A Placeholder's declared shape (-1 for unknown sizes); nullopt when its rank is unknown.
std::optional<std::vector<std::int64_t>> placeholder_shape(const NodeDef& node);

// Parses and checks the structure (a JSON object with modelTopology.node and weightsManifest).
// Throws ModelError naming the file and what is wrong; a missing file says so.
ModelJson read_model_json(const std::filesystem::path& path);

}  // namespace clipface::tfjs
