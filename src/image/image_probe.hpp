// Reading what an image file claims to be before decoding it: its format, its dimensions from
// the header (so decompression bombs are refused without decoding) and whether the file is
// complete (libjpeg "decodes" a truncated JPEG with only a warning; we refuse it instead).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace clipface::detail {

enum class ImageFormat { unknown, jpeg, png, bmp, pnm, webp, tiff, gif };

const char* format_name(ImageFormat format);

// Format from the leading bytes (the file name's extension is not trusted).
ImageFormat sniff_format(std::span<const unsigned char> bytes);

struct ImageProbe {
  ImageFormat format = ImageFormat::unknown;
  std::int64_t width = 0;  // 0 when the header does not say (or the format is not parsed)
  std::int64_t height = 0;
  bool truncated = false;  // the data ends before the image does (JPEG EOI / PNG IEND missing)
  std::string problem;     // non-empty when the header itself is malformed
};

// Parses the header of JPEG, PNG, BMP, PNM, WebP and TIFF data. Never throws.
ImageProbe probe_image(std::span<const unsigned char> bytes);

}  // namespace clipface::detail
