#include <map>
#include <mutex>
#include <opencv2/core.hpp>

#include "clipface/checksum.hpp"
#include "clipface/errors.hpp"
#include "clipface/paths.hpp"
#include "embed/embedders.hpp"

namespace clipface {

namespace detail {

std::string cached_file_sha256(const std::filesystem::path& path) {
  static std::mutex mutex;
  static std::map<std::string, std::string> cache;
  const std::string key = std::filesystem::weakly_canonical(path).string();
  std::lock_guard lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  std::string sum;
  try {
    sum = sha256_file(path);
  } catch (const InputError& e) {
    throw ModelError(std::string("cannot read model file: ") + e.what());
  }
  return cache[key] = sum;
}

std::vector<cv::Mat> mirrored(const std::vector<cv::Mat>& crops) {
  std::vector<cv::Mat> out(crops.size());
  for (std::size_t i = 0; i < crops.size(); ++i) cv::flip(crops[i], out[i], 1);
  return out;
}

Matrix average_rows(const Matrix& a, const Matrix& b) {
  Matrix sum = a;
  for (std::size_t i = 0; i < sum.data.size(); ++i) sum.data[i] += b.data[i];
  normalize_rows(sum);
  return sum;
}

std::pair<std::filesystem::path, std::filesystem::path> dlib_model_files(
    const std::string& folder) {
  const std::string predictor = "shape_predictor_5_face_landmarks.dat";
  const std::string resnet = "dlib_face_recognition_resnet_model_v1.dat";
  if (folder.empty()) return {find_model_file(predictor), find_model_file(resnet)};
  const std::filesystem::path dir(folder);
  for (const auto& name : {predictor, resnet}) {
    if (!std::filesystem::is_regular_file(dir / name)) {
      throw ModelError("model file not found: " + (dir / name).string());
    }
  }
  return {dir / predictor, dir / resnet};
}

}  // namespace detail

std::unique_ptr<Embedder> make_embedder(const std::string& spec, const EmbedderOptions& options) {
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string argument = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (kind == "dlib") {
    const auto [predictor, resnet] = detail::dlib_model_files(argument);
    return detail::make_dlib_embedder(predictor, resnet, options);
  }
  if ((kind == "clip" || kind == "clip-random") && argument.empty()) {
    throw InputError("embedder '" + spec + "' names no model (e.g. " + kind + ":ViT-B-32)");
  }
  if (kind == "clip") {
    return detail::make_clip_embedder(find_model_file(argument).string(), false, options);
  }
  if (kind == "clip-random") return detail::make_clip_embedder(argument, true, options);
  if (const detail::TfjsRecipe* recipe = detail::find_tfjs_recipe(kind)) {
    return detail::make_tfjs_embedder(*recipe, argument, options);
  }
  std::string tfjs;
  for (const auto& name : detail::tfjs_embedder_names()) tfjs += ", " + name;
  throw InputError("unknown embedder '" + spec + "' (expected dlib" + tfjs +
                   ", clip:<model file> or clip-random:<architecture>)");
}

}  // namespace clipface
