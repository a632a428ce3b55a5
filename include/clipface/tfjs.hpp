// TensorFlow.js graph models (model.json + weight shards, as tensorflowjs_converter writes them)
// run natively with LibTorch: the graph is read once, its ops compiled to ATen ops (NHWC weights
// reordered to NCHW, fused ops expanded, constants folded) and then run on any batch. This header
// holds no LibTorch types; src/tfjs/graph.hpp gives code inside src/ the tensor-level forward
// (with autograd).
//
// Unknown ops are refused at load, naming the op and its node; see supported_ops().
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace clipface::tfjs {

struct TensorInfo {
  std::string name;                 // the signature's key, else the node name
  std::vector<std::int64_t> shape;  // TensorFlow layout; -1 for a free size (the batch)
};

struct ModelInfo {
  std::filesystem::path json;
  std::vector<std::filesystem::path> weight_files;
  std::string format;        // "graph-model"
  std::string generated_by;  // e.g. the upstream project the converter noted
  std::string converted_by;
  std::vector<TensorInfo> inputs, outputs;
  std::map<std::string, int> ops;  // op name -> nodes using it
  std::int64_t parameters = 0;     // weight elements in the manifest
  std::string quantization;        // "" or the codes the weights are stored as ("float16", ...)
  int steps = 0;                   // ops run per forward after constant folding
  int folded = 0;                  // ops computed once at load
};

// A dense float tensor in TensorFlow layout (row-major, NHWC for images).
struct Tensor {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};

class GraphModel {
 public:
  // Reads `model_json` and its shards (beside it). Throws ModelError naming the file and the
  // problem: missing, not JSON, truncated or padded shard, unknown op (named), bad attribute.
  static GraphModel load(const std::filesystem::path& model_json);

  GraphModel(GraphModel&&) noexcept;
  GraphModel& operator=(GraphModel&&) noexcept;
  ~GraphModel();

  const ModelInfo& info() const;

  // One tensor per input (info().inputs order), outputs in info().outputs order; no gradients.
  // Throws ModelError for a wrong number of inputs or a shape the model does not take.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;

  struct Impl;  // src/tfjs/graph.hpp: the compiled graph, for code inside src/
  const Impl& impl() const { return *impl_; }

 private:
  explicit GraphModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The ops the runner executes (TensorFlow op names as in model.json), sorted.
std::vector<std::string> supported_ops();

}  // namespace clipface::tfjs
