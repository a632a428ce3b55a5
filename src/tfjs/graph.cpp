#include "tfjs/graph.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include <map>
#include <set>

#include "clipface/errors.hpp"

namespace clipface::tfjs {
namespace {

std::string shape_text(at::IntArrayRef shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// Every op in the graph must be known, like TF.js (which maps all nodes when it loads).
void refuse_unknown_ops(const ModelJson& model) {
  std::string unknown;
  std::set<std::string> seen;
  for (const auto& node : model.nodes) {
    if (node.op == "Const" || node.op == "Placeholder" || find_op(node.op)) continue;
    if (!seen.insert(node.op).second) continue;
    unknown += (unknown.empty() ? "" : ", ") + ("'" + node.op + "' (node '" + node.name + "')");
  }
  if (!unknown.empty()) {
    throw ModelError("unsupported op" + std::string(seen.size() > 1 ? "s " : " ") + unknown +
                     ": clipface's TF.js runner does not implement " +
                     (seen.size() > 1 ? "them" : "it"));
  }
}

// The node outputs a caller sees: the signature's, else every non-constant node nobody reads.
std::vector<TensorRef> graph_outputs(const ModelJson& model) {
  if (!model.signature_outputs.empty()) return model.signature_outputs;
  std::set<std::string> consumed;
  for (const auto& node : model.nodes) {
    for (const auto& in : node.inputs) consumed.insert(in.node);
  }
  std::vector<TensorRef> out;
  for (const auto& node : model.nodes) {
    if (node.op != "Const" && node.op != "Placeholder" && !consumed.count(node.name)) {
      out.push_back({node.name, {node.name, 0, false}});
    }
  }
  return out;
}

std::vector<TensorRef> graph_inputs(const ModelJson& model) {
  if (!model.signature_inputs.empty()) return model.signature_inputs;
  std::vector<TensorRef> in;
  for (const auto& node : model.nodes) {
    if (node.op == "Placeholder") in.push_back({node.name, {node.name, 0, false}});
  }
  return in;
}

}  // namespace

Graph::Graph(const ModelJson& model, WeightMap weights, const GraphOptions& options)
    : file_(model.path) {
  try {
    refuse_unknown_ops(model);
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < model.nodes.size(); ++i) {
      if (!index.emplace(model.nodes[i].name, i).second) {
        throw ModelError("two nodes are named '" + model.nodes[i].name + "'");
      }
    }
    auto node_of = [&](const InputRef& ref, const std::string& reader) -> std::size_t {
      const auto it = index.find(ref.node);
      if (it == index.end()) {
        throw ModelError(reader + " reads '" + ref.node + "', which is not in the graph");
      }
      if (ref.output != 0) {
        throw ModelError(reader + " reads output " + std::to_string(ref.output) + " of '" +
                         ref.node + "'; only single-output ops are supported");
      }
      return it->second;
    };

    // Topological order of what the outputs need (iterative DFS, cycles refused).
    const auto outputs = graph_outputs(model);
    const auto inputs = graph_inputs(model);
    if (outputs.empty()) throw ModelError("the graph has no outputs");
    std::vector<int> state(model.nodes.size(), 0);  // 0 new, 1 on the stack, 2 done
    std::vector<std::size_t> order;
    for (const auto& out : outputs) {
      std::vector<std::pair<std::size_t, std::size_t>> stack{
          {node_of(out.ref, "output '" + out.key + "'"), 0}};
      while (!stack.empty()) {
        auto& [n, next] = stack.back();
        if (next == 0) {
          if (state[n] == 2) {
            stack.pop_back();
            continue;
          }
          state[n] = 1;
        }
        const NodeDef& node = model.nodes[n];
        if (next < node.inputs.size()) {
          const std::size_t m = node_of(node.inputs[next++], "node '" + node.name + "'");
          if (state[m] == 1) throw ModelError("the graph has a cycle through '" + node.name + "'");
          if (state[m] == 0) stack.emplace_back(m, 0);
          continue;
        }
        state[n] = 2;
        order.push_back(n);
        stack.pop_back();
      }
    }

    // Compile in order; slots are node indices.
    slots_ = static_cast<int>(model.nodes.size());
    std::vector<ValueInfo> info(model.nodes.size());
    std::vector<int> last_read(model.nodes.size(), -1);
    std::map<std::size_t, std::size_t> input_position;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      input_position[node_of(inputs[i].ref, "input '" + inputs[i].key + "'")] = i;
    }
    input_slots_.assign(inputs.size(), -1);
    inputs_.resize(inputs.size());
    for (const std::size_t n : order) {
      const NodeDef& node = model.nodes[n];
      if (node.op == "Const") {
        const auto it = weights.find(node.name);
        if (it == weights.end()) {
          throw ModelError("constant '" + node.name + "' has no weight in the manifest");
        }
        at::Tensor value = it->second;
        if (at::isFloatingType(value.scalar_type())) value = value.to(options.dtype);
        info[n].constant = value;
        info[n].rank = static_cast<int>(value.dim());
        continue;
      }
      if (node.op == "Placeholder") {
        const auto pos = input_position.find(n);
        if (pos == input_position.end()) {
          throw ModelError("placeholder '" + node.name + "' is not an input of the signature");
        }
        const auto shape = placeholder_shape(node);
        inputs_[pos->second] = {inputs[pos->second].key,
                                shape.value_or(std::vector<std::int64_t>{})};
        input_slots_[pos->second] = static_cast<int>(n);
        info[n].rank = shape ? static_cast<int>(shape->size()) : -1;
        info[n].nchw = info[n].rank == 4;  // entered as NCHW (forward permutes once)
        continue;
      }
      OpContext ctx{node, {}};
      bool all_constant = true;
      std::vector<int> reads;
      for (const auto& in : node.inputs) {
        const std::size_t m = node_of(in, "node '" + node.name + "'");
        ctx.inputs.push_back(info[m]);
        reads.push_back(static_cast<int>(m));
        all_constant = all_constant && info[m].constant.has_value();
      }
      Compiled compiled = (*find_op(node.op))(ctx);
      if (all_constant && !node.inputs.empty()) {  // fold: run it now, keep the result
        std::vector<Value> values;
        for (const auto& in : ctx.inputs) values.push_back({*in.constant, false});
        std::vector<const Value*> pointers;
        for (const auto& v : values) pointers.push_back(&v);
        const Value result = compiled.exec(pointers);
        info[n].constant = logical(result).contiguous();
        info[n].rank = static_cast<int>(info[n].constant->dim());
        ++folded_;
        continue;
      }
      info[n] = compiled.out;
      info[n].constant.reset();
      for (const int m : reads) last_read[m] = static_cast<int>(steps_.size());
      steps_.push_back(
          {std::move(compiled.exec), reads, static_cast<int>(n), {}, node.name, node.op});
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (input_slots_[i] < 0) {
        throw ModelError("input '" + inputs[i].key + "' is not a placeholder the outputs need");
      }
    }
    // Constants that runtime steps read go into their slots before each run.
    std::set<int> needed;
    for (const auto& step : steps_) needed.insert(step.inputs.begin(), step.inputs.end());
    for (const auto& out : outputs) {
      const int slot = static_cast<int>(node_of(out.ref, "output"));
      output_slots_.push_back(slot);
      outputs_.push_back({out.key, {}});
      needed.insert(slot);
      last_read[slot] = static_cast<int>(steps_.size());  // outputs are never released
    }
    for (const int slot : needed) {
      if (info[slot].constant) constants_.emplace_back(slot, Value{*info[slot].constant, false});
    }
    for (std::size_t s = 0; s < model.nodes.size(); ++s) {
      if (last_read[s] >= 0 && last_read[s] < static_cast<int>(steps_.size())) {
        steps_[last_read[s]].release.push_back(static_cast<int>(s));
      }
    }
  } catch (const ModelError& e) {
    throw ModelError(file_.string() + ": " + e.what());
  } catch (const c10::Error& e) {
    throw ModelError(file_.string() + ": " + e.what_without_backtrace());
  }
  probe_output_shapes(options.dtype);
}

// One image of zeros through the graph: shape errors surface at load, and the outputs' shapes
// (batch -1) become known.
void Graph::probe_output_shapes(at::ScalarType dtype) {
  std::vector<at::Tensor> inputs;
  for (const auto& in : inputs_) {
    if (in.shape.empty()) return;
    std::vector<std::int64_t> shape = in.shape;
    for (std::size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] < 0 && d > 0) return;  // a free size other than the batch: leave it
      if (shape[d] < 0) shape[d] = 1;
    }
    inputs.push_back(at::zeros(shape, dtype));
  }
  c10::InferenceMode guard;
  const auto outputs = forward(inputs);
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    auto sizes = outputs[i].sizes().vec();
    if (!sizes.empty()) sizes[0] = -1;
    outputs_[i].shape = sizes;
  }
}

std::vector<at::Tensor> Graph::forward(const std::vector<at::Tensor>& inputs,
                                       bool nchw_inputs) const {
  if (inputs.size() != inputs_.size()) {
    throw ModelError(file_.string() + ": the model takes " + std::to_string(inputs_.size()) +
                     " input(s), got " + std::to_string(inputs.size()));
  }
  std::vector<Value> slots(static_cast<std::size_t>(slots_));
  for (const auto& [slot, value] : constants_) slots[slot] = value;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const TensorInfo& spec = inputs_[i];
    at::Tensor x = inputs[i];
    const bool rank4 = spec.shape.size() == 4;
    // Compare in TensorFlow layout.
    const at::Tensor as_tf = rank4 && nchw_inputs ? x.permute({0, 2, 3, 1}) : x;
    bool ok = spec.shape.empty() || as_tf.dim() == static_cast<std::int64_t>(spec.shape.size());
    for (std::size_t d = 0; ok && d < spec.shape.size(); ++d) {
      ok = spec.shape[d] < 0 || spec.shape[d] == as_tf.size(static_cast<std::int64_t>(d));
    }
    if (!ok) {
      throw ModelError(file_.string() + ": input '" + spec.name + "' takes shape " +
                       shape_text(spec.shape) + " (TensorFlow layout; -1 = any), got " +
                       shape_text(as_tf.sizes()));
    }
    if (rank4) {  // NCHW with NHWC memory (channels last): a view of a contiguous NHWC input
      slots[input_slots_[i]] = {
          (nchw_inputs ? x : to_nchw(x)).contiguous(at::MemoryFormat::ChannelsLast), true};
    } else {
      slots[input_slots_[i]] = {x, false};
    }
  }
  std::vector<const Value*> args;
  for (const Step& step : steps_) {
    args.clear();
    for (const int s : step.inputs) args.push_back(&slots[s]);
    try {
      slots[step.output] = step.exec(args);
    } catch (const c10::Error& e) {
      throw ModelError(file_.string() + ": node '" + step.node + "' (" + step.op +
                       "): " + e.what_without_backtrace());
    } catch (const ModelError&) {
      throw;
    } catch (const std::exception& e) {
      throw ModelError(file_.string() + ": node '" + step.node + "' (" + step.op +
                       "): " + e.what());
    }
    for (const int s : step.release) slots[s] = Value{};
  }
  std::vector<at::Tensor> out;
  for (const int slot : output_slots_) out.push_back(logical(slots[slot]));
  return out;
}

}  // namespace clipface::tfjs
