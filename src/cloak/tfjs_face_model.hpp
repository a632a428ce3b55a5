// The TF.js face embedders of the model registry (mobileface, faceres, mobilefacenet) behind the
// cloaks' FaceModel interface (internal header, LibTorch): the same graph, output and crop as
// the embedder make_embedder() gives for the same spec, run with autograd by src/tfjs.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "cloak/face_model.hpp"
#include "embed/embedders.hpp"

namespace clipface::cloak {

// `model_json` empty: the registry's integrity-checked file (as make_embedder). `dtype` kDouble
// runs a float64 copy of the graph (for finite-difference checks; embed() then returns float64).
// ModelError for a missing or unusable file, InputError for a device other than the CPU.
std::unique_ptr<FaceModel> make_tfjs_face_model(const detail::TfjsRecipe& recipe, std::string spec,
                                                const std::filesystem::path& model_json,
                                                const RuntimeOptions& runtime,
                                                at::ScalarType dtype = at::kFloat);

}  // namespace clipface::cloak
