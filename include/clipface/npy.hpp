// Reading and writing NumPy .npy files (version 1/2, little-endian, C order): the format of the
// reference fixtures and of the evaluation embedding cache.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace clipface {

struct NpyArray {
  std::vector<std::int64_t> shape;
  std::string dtype;                // numpy descr without byte order: "f4", "i4", "i8", "f2", "u1"
  std::vector<unsigned char> bytes;  // raw little-endian data

  std::int64_t size() const;
  std::vector<float> as_floats() const;       // f4, f2, f8, i4, i8 converted
  std::vector<std::int64_t> as_ints() const;  // i4, i8, u1 converted
};

NpyArray read_npy(const std::filesystem::path& path);  // throws InputError naming the file
void write_npy(const std::filesystem::path& path, const std::vector<float>& values,
               const std::vector<std::int64_t>& shape);

}  // namespace clipface
