#include "tfjs/model_json.hpp"

#include <array>
#include <fstream>
#include <sstream>

#include "clipface/errors.hpp"

namespace clipface::tfjs {
namespace {

// The converter writes string attributes (padding, data_format, fused_ops) base64-encoded.
std::string decode_base64(const std::string& text) {
  static const std::array<int, 256> table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::size_t i = 0; i < alphabet.size(); ++i)
      t[static_cast<unsigned char>(alphabet[i])] = static_cast<int>(i);
    t['-'] = 62;  // the URL-safe alphabet too
    t['_'] = 63;
    return t;
  }();
  std::string out;
  int bits = 0, value = 0;
  for (unsigned char c : text) {
    if (c == '=') break;
    const int v = table[c];
    if (v < 0) throw ModelError("invalid base64 in attribute value '" + text + "'");
    value = (value << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 0xff);
    }
  }
  return out;
}

std::int64_t json_int(const nlohmann::ordered_json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_string()) return std::stoll(v.get<std::string>());  // int64 attributes are strings
  if (v.is_number()) return static_cast<std::int64_t>(v.get<double>());
  throw std::invalid_argument("not an integer");
}

const nlohmann::ordered_json* field(const nlohmann::ordered_json& attr, const std::string& key,
                                    const char* kind) {
  const auto it = attr.find(key);
  if (it == attr.end()) return nullptr;
  const auto value = it->find(kind);
  if (value == it->end()) return nullptr;
  return &*value;
}

const nlohmann::ordered_json* list_field(const nlohmann::ordered_json& attr, const std::string& key,
                                         const char* kind) {
  const nlohmann::ordered_json* list = field(attr, key, "list");
  if (!list) return nullptr;
  const auto value = list->find(kind);
  return value == list->end() ? nullptr : &*value;
}

[[noreturn]] void bad_attr(const NodeDef& node, const std::string& key, const std::string& why) {
  throw ModelError("node '" + node.name + "' (" + node.op + "): attribute '" + key + "' " + why);
}

std::vector<std::int64_t> shape_of(const nlohmann::ordered_json& shape) {
  std::vector<std::int64_t> dims;
  if (shape.contains("dim")) {
    for (const auto& d : shape["dim"]) dims.push_back(d.contains("size") ? json_int(d["size"]) : 1);
  }
  return dims;
}

std::vector<TensorRef> signature_side(const nlohmann::ordered_json& model, const char* side) {
  // Converters put the signature at the top level, or (older tfjs) in userDefinedMetadata.
  const nlohmann::ordered_json* signature = nullptr;
  if (model.contains("signature") && model["signature"].is_object()) {
    signature = &model["signature"];
  } else if (model.contains("userDefinedMetadata") && model["userDefinedMetadata"].is_object() &&
             model["userDefinedMetadata"].contains("signature")) {
    signature = &model["userDefinedMetadata"]["signature"];
  }
  std::vector<TensorRef> refs;
  if (!signature || !signature->contains(side) || !(*signature)[side].is_object()) return refs;
  for (const auto& [key, entry] : (*signature)[side].items()) {
    const std::string name = entry.value("name", key);
    refs.push_back({key, parse_input_ref(name)});
  }
  return refs;
}

}  // namespace

InputRef parse_input_ref(const std::string& ref) {
  InputRef out;
  std::string name = ref;
  if (!name.empty() && name[0] == '^') {
    out.control = true;
    name = name.substr(1);
  }
  const auto colon = name.rfind(':');
  if (colon != std::string::npos && colon + 1 < name.size() &&
      name.find_first_not_of("0123456789", colon + 1) == std::string::npos) {
    out.output = std::stoi(name.substr(colon + 1));
    name = name.substr(0, colon);
  }
  out.node = name;
  return out;
}

std::string NodeDef::attr_string(const std::string& key, const std::string& fallback) const {
  const nlohmann::ordered_json* v = field(attr, key, "s");
  if (!v) return fallback;
  if (!v->is_string()) bad_attr(*this, key, "is not a string");
  return decode_base64(v->get<std::string>());
}

std::vector<std::string> NodeDef::attr_strings(const std::string& key) const {
  std::vector<std::string> out;
  if (const nlohmann::ordered_json* v = list_field(attr, key, "s")) {
    for (const auto& s : *v) out.push_back(decode_base64(s.get<std::string>()));
  }
  return out;
}

std::int64_t NodeDef::attr_int(const std::string& key, std::int64_t fallback) const {
  const nlohmann::ordered_json* v = field(attr, key, "i");
  if (!v) return fallback;
  try {
    return json_int(*v);
  } catch (const std::exception&) {
    bad_attr(*this, key, "is not an integer");
  }
}

std::vector<std::int64_t> NodeDef::attr_ints(const std::string& key) const {
  std::vector<std::int64_t> out;
  if (const nlohmann::ordered_json* v = list_field(attr, key, "i")) {
    try {
      for (const auto& i : *v) out.push_back(json_int(i));
    } catch (const std::exception&) {
      bad_attr(*this, key, "is not a list of integers");
    }
  }
  return out;
}

double NodeDef::attr_float(const std::string& key, double fallback) const {
  const nlohmann::ordered_json* v = field(attr, key, "f");
  if (!v) return fallback;
  if (v->is_number()) return v->get<double>();
  if (v->is_string()) return std::stod(v->get<std::string>());  // "NaN", "Infinity"
  bad_attr(*this, key, "is not a number");
}

bool NodeDef::attr_bool(const std::string& key, bool fallback) const {
  const nlohmann::ordered_json* v = field(attr, key, "b");
  if (!v) return fallback;
  if (!v->is_boolean()) bad_attr(*this, key, "is not a boolean");
  return v->get<bool>();
}

std::int64_t WeightSpec::elements() const {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

std::int64_t WeightSpec::stored_bytes() const {
  const std::string& stored = quantization ? quantization->dtype : dtype;
  const std::int64_t size = stored == "uint8" || stored == "bool"       ? 1
                            : stored == "uint16" || stored == "float16" ? 2
                                                                        : 4;
  return elements() * size;
}

ModelJson read_model_json(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw ModelError("model file not found: " + path.string());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError("cannot read model file " + path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  nlohmann::ordered_json model;
  try {
    model = nlohmann::ordered_json::parse(buffer.str());
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(path.string() + ": not valid JSON (" + e.what() +
                     "); the file is truncated or is not a TF.js model.json");
  }
  ModelJson out;
  out.path = path;
  try {
    if (!model.is_object() || !model.contains("modelTopology")) {
      throw ModelError("no modelTopology: not a TF.js model.json");
    }
    out.format = model.value("format", "");
    if (!out.format.empty() && out.format != "graph-model") {
      throw ModelError("format '" + out.format +
                       "' is not supported (only TF.js graph models, not layers models)");
    }
    out.generated_by = model.value("generatedBy", "");
    out.converted_by = model.value("convertedBy", "");
    const auto& topology = model["modelTopology"];
    if (!topology.contains("node") || !topology["node"].is_array()) {
      throw ModelError("modelTopology has no node list");
    }
    if (topology.contains("library") && topology["library"].contains("function") &&
        !topology["library"]["function"].empty()) {
      throw ModelError("graph functions (control flow) are not supported");
    }
    for (const auto& n : topology["node"]) {
      NodeDef node;
      node.name = n.at("name").get<std::string>();
      node.op = n.at("op").get<std::string>();
      if (n.contains("input")) {
        for (const auto& ref : n["input"]) {
          InputRef input = parse_input_ref(ref.get<std::string>());
          if (!input.control) node.inputs.push_back(std::move(input));
        }
      }
      node.attr = n.value("attr", nlohmann::ordered_json::object());
      out.nodes.push_back(std::move(node));
    }
    if (!model.contains("weightsManifest") || !model["weightsManifest"].is_array()) {
      throw ModelError("no weightsManifest");
    }
    for (const auto& g : model["weightsManifest"]) {
      WeightGroup group;
      for (const auto& p : g.at("paths")) group.paths.push_back(p.get<std::string>());
      for (const auto& w : g.at("weights")) {
        WeightSpec spec;
        spec.name = w.at("name").get<std::string>();
        spec.dtype = w.at("dtype").get<std::string>();
        for (const auto& d : w.at("shape")) spec.shape.push_back(json_int(d));
        if (w.contains("quantization")) {
          const auto& q = w["quantization"];
          Quantization quant;
          quant.dtype = q.at("dtype").get<std::string>();
          if (q.contains("min")) quant.min = q["min"].get<double>();
          if (q.contains("scale")) quant.scale = q["scale"].get<double>();
          spec.quantization = quant;
        }
        group.weights.push_back(std::move(spec));
      }
      out.manifest.push_back(std::move(group));
    }
    out.signature_inputs = signature_side(model, "inputs");
    out.signature_outputs = signature_side(model, "outputs");
  } catch (const ModelError& e) {
    throw ModelError(path.string() + ": " + e.what());
  } catch (const std::exception& e) {  // nlohmann type errors, std::stoll
    throw ModelError(path.string() + ": malformed model.json (" + e.what() + ")");
  }
  return out;
}

std::optional<std::vector<std::int64_t>> placeholder_shape(const NodeDef& node) {
  const auto it = node.attr.find("shape");
  if (it == node.attr.end() || !it->contains("shape")) return std::nullopt;
  const auto& shape = (*it)["shape"];
  if (shape.value("unknownRank", false)) return std::nullopt;
  return shape_of(shape);
}

}  // namespace clipface::tfjs
