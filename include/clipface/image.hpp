// Loading images with clear errors. Every loader returns 8-bit BGR (3 channels): greyscale is
// replicated, alpha is dropped, and EXIF orientation is applied so the picture stands upright.
#pragma once

#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace clipface {

struct ImageLimits {
  std::int64_t max_pixels = 100'000'000;  // refuse decompression bombs before decoding
  std::int64_t max_bytes = 512ll << 20;
};

// Throws ImageError naming the file: missing, empty, truncated, not an image, too large.
cv::Mat load_image(const std::filesystem::path& path, const ImageLimits& limits = {});

// Same for bytes in memory (uploads, later the REST server); `name` is used in messages.
cv::Mat decode_image(const std::vector<unsigned char>& bytes, const std::string& name,
                     const ImageLimits& limits = {});

// True for the file endings clipface treats as images when it walks folders.
bool has_image_extension(const std::filesystem::path& path);

// Image files under `dir` (recursively when asked), sorted by path for reproducible runs.
std::vector<std::filesystem::path> list_images(const std::filesystem::path& dir, bool recursive);

}  // namespace clipface
