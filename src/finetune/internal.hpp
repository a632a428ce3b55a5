// Helpers shared by the fine-tuning sources (internal header; includes LibTorch).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "clipface/clip.hpp"
#include "clipface/finetune.hpp"
#include "clipface/matrix.hpp"

namespace clipface::finetune {

// Seeds for per-epoch shuffles: one stream per (seed, epoch), fixed across compilers.
inline std::uint64_t options_seed_mix(std::uint64_t seed, std::uint64_t epoch) {
  return seed * 0x9E3779B97F4A7C15ull + epoch * 0xBF58476D1CE4E5B9ull + 1;
}

namespace detail {

// [classes, context] ids of the filled template, one row per class.
torch::Tensor prompt_tokens(const ClipModel& model, const std::vector<std::string>& classes,
                            const std::string& prompt_template);
// Unit prompt embeddings through the model's own encode_text (full context).
Matrix class_embeddings(ClipModel& model, const torch::Tensor& tokens);
Matrix to_matrix(const torch::Tensor& t);
torch::Tensor to_tensor(const Matrix& m);

// sha256 of the visual tower's output projection: tells two random-weight bases apart.
std::string base_fingerprint(const ClipModel& model);

}  // namespace detail
}  // namespace clipface::finetune
