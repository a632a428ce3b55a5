// TF.js graphs of the model registry (internal header): a model such as "mobilefacenet" is
// found under models_dir(), both its files are checked against the registry's sha256 before
// loading, and each file is compiled once per process (embedders, anti-spoofing and attributes
// share it).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "tfjs/graph.hpp"

namespace clipface::tfjs {

struct LoadedGraph {
  std::shared_ptr<const Graph> graph;
  std::filesystem::path json;
  std::string weights_sha256;  // of the first shard: names the embedding space
};

// `registry_name` is the registry entry of model.json ("mobilefacenet"; its shard is
// "<name>-weights"). A non-empty `path` loads that model.json instead, without registry sums
// (for models kept elsewhere). ModelError naming the file: missing, altered, unusable.
LoadedGraph load_graph(const std::string& registry_name, const std::filesystem::path& path = {});

}  // namespace clipface::tfjs
