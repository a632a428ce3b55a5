// A TF.js graph compiled for ATen (internal header, for code inside src/ that needs tensors:
// the embedders, anti-spoofing and attributes here, the cloaking attacks in src/cloak).
//
// forward() is a chain of ATen ops with no gradient mode of its own: called with inputs that
// require grad (and outside InferenceMode), it records autograd history, so d(output)/d(input)
// comes from .backward() like for any LibTorch module. Safe to call from several threads.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "clipface/tfjs.hpp"
#include "tfjs/model_json.hpp"
#include "tfjs/ops.hpp"
#include "tfjs/weights.hpp"

namespace clipface::tfjs {

struct GraphOptions {
  // Floating weights are converted to this type (kDouble for finite-difference checks).
  at::ScalarType dtype = at::kFloat;
};

class Graph {
 public:
  // Compiles every node reachable from the outputs: unknown ops anywhere in the graph are
  // refused, constants are folded, weights reordered. ModelError naming the file on failure.
  Graph(const ModelJson& model, WeightMap weights, const GraphOptions& options = {});

  // One tensor per input, in inputs() order: NHWC as TensorFlow (or NCHW for rank-4 inputs with
  // nchw_inputs, which saves the entry permutation); batch size free. Outputs in outputs() order,
  // in TensorFlow layout. ModelError for a wrong count or shape, naming the input.
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& inputs,
                                  bool nchw_inputs = false) const;

  const std::vector<TensorInfo>& inputs() const { return inputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }  // shapes: batch -1
  const std::filesystem::path& file() const { return file_; }
  int steps() const { return static_cast<int>(steps_.size()); }  // ops left to run
  int folded() const { return folded_; }                         // ops computed at load

 private:
  struct Step {
    Exec exec;
    std::vector<int> inputs;  // value slots
    int output = -1;
    std::vector<int> release;  // slots no later step reads
    std::string node, op;
  };

  void probe_output_shapes(at::ScalarType dtype);

  std::filesystem::path file_;
  std::vector<TensorInfo> inputs_, outputs_;
  std::vector<int> input_slots_, output_slots_;
  std::vector<std::pair<int, Value>> constants_;  // slots filled before the first step
  std::vector<Step> steps_;
  int slots_ = 0;
  int folded_ = 0;
};

struct GraphModel::Impl {
  ModelInfo info;
  std::shared_ptr<const Graph> graph;
};

}  // namespace clipface::tfjs
