// GraphModel: the public face of the runner (no LibTorch types in its header).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <set>

#include "clipface/errors.hpp"
#include "tfjs/graph.hpp"

namespace clipface::tfjs {
namespace {

ModelInfo describe(const ModelJson& model, const Graph& graph) {
  ModelInfo info;
  info.json = model.path;
  info.format = model.format;
  info.generated_by = model.generated_by;
  info.converted_by = model.converted_by;
  std::set<std::string> codes;
  for (const auto& group : model.manifest) {
    for (const auto& p : group.paths) info.weight_files.push_back(model.path.parent_path() / p);
    for (const auto& w : group.weights) {
      info.parameters += w.elements();
      if (w.quantization) codes.insert(w.quantization->dtype);
    }
  }
  for (const auto& c : codes) info.quantization += (info.quantization.empty() ? "" : ",") + c;
  for (const auto& node : model.nodes) ++info.ops[node.op];
  info.inputs = graph.inputs();
  info.outputs = graph.outputs();
  info.steps = graph.steps();
  info.folded = graph.folded();
  return info;
}

}  // namespace

GraphModel::GraphModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GraphModel::GraphModel(GraphModel&&) noexcept = default;
GraphModel& GraphModel::operator=(GraphModel&&) noexcept = default;
GraphModel::~GraphModel() = default;

GraphModel GraphModel::load(const std::filesystem::path& model_json) {
  const ModelJson model = read_model_json(model_json);
  auto impl = std::make_unique<Impl>();
  auto graph = std::make_shared<Graph>(model, read_weights(model));
  impl->info = describe(model, *graph);
  impl->graph = std::move(graph);
  return GraphModel(std::move(impl));
}

const ModelInfo& GraphModel::info() const {
  return impl_->info;
}

std::vector<Tensor> GraphModel::run(const std::vector<Tensor>& inputs) const {
  c10::InferenceMode guard;
  std::vector<at::Tensor> tensors;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    std::int64_t n = 1;
    for (const auto d : t.shape) n *= d;
    if (n != static_cast<std::int64_t>(t.data.size())) {
      throw InputError("input " + std::to_string(i) + " has " + std::to_string(t.data.size()) +
                       " values for its shape");
    }
    tensors.push_back(at::from_blob(const_cast<float*>(t.data.data()), t.shape, at::kFloat));
  }
  std::vector<Tensor> out;
  for (const at::Tensor& y : impl_->graph->forward(tensors)) {
    const at::Tensor c = y.to(at::kFloat).contiguous();
    out.push_back({c.sizes().vec(), {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()}});
  }
  return out;
}

}  // namespace clipface::tfjs
