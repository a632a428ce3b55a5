// Loading images with clear errors. Every loader returns 8-bit BGR (3 channels): greyscale is
// replicated, alpha is dropped, and EXIF orientation is applied so the picture stands upright.
#pragma once

#include <cstdint>
#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace clipface {

struct ImageLimits {
  // Refuses decompression bombs before decoding: JPEG, PNG, BMP, PNM, WebP and TIFF dimensions
  // are read from the header. Other formats OpenCV reads are checked after decoding (OpenCV's
  // own OPENCV_IO_MAX_IMAGE_PIXELS, 2^30 by default, still applies before it).
  std::int64_t max_pixels = 100'000'000;
  std::int64_t max_bytes = 512ll << 20;  // at most 2^31 - 1 (cv::imdecode takes an int)
};

// Throws ImageError naming the file: missing, a directory, empty, truncated (JPEG without its
// end marker, PNG without IEND, short BMP/PNM/WebP), not an image, GIF (OpenCV cannot read
// it), corrupt, too large. The format comes from the content, not the file name.
cv::Mat load_image(const std::filesystem::path& path, const ImageLimits& limits = {});

// Same for bytes in memory (uploads, later the REST server); `name` is used in messages.
cv::Mat decode_image(const std::vector<unsigned char>& bytes, const std::string& name,
                     const ImageLimits& limits = {});

// The format the leading bytes announce ("JPEG", "PNG", "BMP", "PNM", "WebP", "TIFF", "GIF"),
// or "" when they announce no image format at all (a server answers 415 for those).
std::string sniff_image_format(const std::vector<unsigned char>& bytes);

// True for the file endings clipface treats as images when it walks folders.
bool has_image_extension(const std::filesystem::path& path);

// Image files under `dir` (recursively when asked), sorted by path for reproducible runs.
// Hidden entries (".DS_Store", "._x.jpg", ".git/") are skipped. Throws InputError when `dir` is
// not a folder.
std::vector<std::filesystem::path> list_images(const std::filesystem::path& dir, bool recursive);

// The person folders of a labelled set `dir/<person>/...`, sorted by name. Folders starting with
// '_' (the `_group/` photos beside the people) or '.' are not people. Throws InputError when `dir`
// is not a readable folder. Enrollment, evaluation and fine-tuning all read people through this.
std::vector<std::filesystem::path> list_person_folders(const std::filesystem::path& dir);

}  // namespace clipface
