// A dense row-major float matrix: the currency between stages (embeddings, logits).
// Plain std storage so that headers stay free of LibTorch, FAISS and OpenCV.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace clipface {

struct Matrix {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<float> data;  // rows * cols values, row after row

  Matrix() = default;
  Matrix(std::size_t r, std::size_t c) : rows(r), cols(c), data(r * c, 0.0f) {}

  std::span<float> row(std::size_t i) { return {data.data() + i * cols, cols}; }
  std::span<const float> row(std::size_t i) const { return {data.data() + i * cols, cols}; }
  float& at(std::size_t i, std::size_t j) { return data[i * cols + j]; }
  float at(std::size_t i, std::size_t j) const { return data[i * cols + j]; }
  bool empty() const { return rows == 0; }
};

// Scales every row to unit L2 length (rows of zeros stay zero).
void normalize_rows(Matrix& m);

// Inner product of two equally long vectors.
float dot(std::span<const float> a, std::span<const float> b);

}  // namespace clipface
