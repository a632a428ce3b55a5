#include "tfjs/registry_graph.hpp"

#include <map>
#include <mutex>

#include "clipface/checksum.hpp"
#include "clipface/errors.hpp"
#include "clipface/models.hpp"
#include "clipface/paths.hpp"

namespace clipface::tfjs {
namespace fs = std::filesystem;

LoadedGraph load_graph(const std::string& registry_name, const fs::path& path) {
  fs::path json = path;
  if (json.empty()) {
    const models::ModelEntry& graph = models::lookup(registry_name);
    const models::ModelEntry& weights = models::lookup(registry_name + "-weights");
    json = models_dir() / graph.file;
    models::check_installed(graph, json);
    models::check_installed(weights, models_dir() / weights.file);
  }
  static std::mutex mutex;
  static std::map<std::string, LoadedGraph> cache;
  std::error_code ec;
  const std::string key = fs::weakly_canonical(json, ec).string() + "|" +
                          std::to_string(fs::last_write_time(json, ec).time_since_epoch().count());
  std::lock_guard lock(mutex);
  if (const auto it = cache.find(key); it != cache.end()) return it->second;
  const ModelJson model = read_model_json(json);
  LoadedGraph loaded;
  loaded.json = json;
  loaded.graph = std::make_shared<const Graph>(model, read_weights(model));
  if (!model.manifest.empty() && !model.manifest[0].paths.empty()) {
    try {
      loaded.weights_sha256 = sha256_file(json.parent_path() / model.manifest[0].paths[0]);
    } catch (const InputError& e) {
      throw ModelError(e.what());
    }
  }
  return cache[key] = loaded;
}

}  // namespace clipface::tfjs
