#include "image/image_probe.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace clipface::detail {
namespace {

using Bytes = std::span<const unsigned char>;

std::uint32_t be16(Bytes b, std::size_t at) {
  return (b[at] << 8) | b[at + 1];
}
std::uint32_t be32(Bytes b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
}
std::uint32_t le16(Bytes b, std::size_t at) {
  return b[at] | (b[at + 1] << 8);
}
std::uint32_t le24(Bytes b, std::size_t at) {
  return le16(b, at) | (b[at + 2] << 16);
}
std::uint32_t le32(Bytes b, std::size_t at) {
  return le16(b, at) | (le16(b, at + 2) << 16);
}

bool starts_with(Bytes b, const char* magic, std::size_t at = 0) {
  const std::size_t n = std::strlen(magic);
  return b.size() >= at + n && std::memcmp(b.data() + at, magic, n) == 0;
}

// Walks the marker segments the way libjpeg does: length-prefixed segments, and after each SOS
// the entropy-coded data up to the next real marker (0xFF not followed by 0x00 or RSTn). The
// file is complete when EOI is reached; bytes after EOI (camera trailers) are allowed.
void probe_jpeg(Bytes b, ImageProbe& probe) {
  std::size_t pos = 2;  // after SOI
  const std::size_t n = b.size();
  while (true) {
    // Find the next 0xFF; libjpeg skips stray bytes between segments with a warning.
    while (pos < n && b[pos] != 0xFF) ++pos;
    while (pos < n && b[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) {
      probe.truncated = true;
      return;
    }
    const unsigned marker = b[pos++];
    if (marker == 0xD9) return;                                          // EOI: complete
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
    if (pos + 2 > n) {
      probe.truncated = true;
      return;
    }
    const std::size_t length = be16(b, pos);
    if (length < 2) {
      probe.problem = "malformed JPEG segment";
      return;
    }
    const bool is_sof =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (is_sof && probe.width == 0 && pos + 7 <= n) {
      probe.height = be16(b, pos + 3);  // 0 means "defined later by DNL": left unknown
      probe.width = be16(b, pos + 5);
    }
    pos += length;
    if (pos > n) {
      probe.truncated = true;
      return;
    }
    if (marker == 0xDA) {  // SOS: skip the entropy-coded segment
      while (true) {
        const void* ff = std::memchr(b.data() + pos, 0xFF, n - pos);
        if (ff == nullptr) {
          probe.truncated = true;
          return;
        }
        pos = static_cast<const unsigned char*>(ff) - b.data();
        if (pos + 1 >= n) {
          probe.truncated = true;
          return;
        }
        const unsigned next = b[pos + 1];
        if (next == 0x00 || (next >= 0xD0 && next <= 0xD7) || next == 0xFF) {
          pos += next == 0xFF ? 1 : 2;  // stuffed byte, restart marker or fill byte
          continue;
        }
        break;  // a real marker: back to the segment loop
      }
    }
  }
}

// Chunks are length-prefixed; the image is complete when IEND is reached.
void probe_png(Bytes b, ImageProbe& probe) {
  if (b.size() < 8 + 8 + 13 || !starts_with(b, "IHDR", 12)) {
    probe.truncated = b.size() < 8 + 8 + 13;
    if (!probe.truncated) probe.problem = "PNG without an IHDR header";
    return;
  }
  probe.width = be32(b, 16);
  probe.height = be32(b, 20);
  std::size_t pos = 8;
  while (true) {
    if (pos + 8 > b.size()) {
      probe.truncated = true;
      return;
    }
    const std::uint64_t length = be32(b, pos);
    const bool is_end = starts_with(b, "IEND", pos + 4);
    const std::uint64_t next = pos + 12 + length;  // length, type, data, CRC
    if (next > b.size()) {
      probe.truncated = true;
      return;
    }
    if (is_end) return;
    pos = static_cast<std::size_t>(next);
  }
}

void probe_bmp(Bytes b, ImageProbe& probe) {
  if (b.size() < 26) {
    probe.truncated = true;
    return;
  }
  const std::uint32_t header_size = le32(b, 14);
  if (header_size == 12) {  // BITMAPCOREHEADER: 16-bit dimensions
    probe.width = le16(b, 18);
    probe.height = le16(b, 20);
  } else {
    probe.width = static_cast<std::int32_t>(le32(b, 18));
    probe.height = static_cast<std::int32_t>(le32(b, 22));
  }
  probe.width = std::abs(probe.width);
  probe.height = std::abs(probe.height);       // negative height: rows stored top-down
  const std::uint32_t file_size = le32(b, 2);  // some writers leave it 0
  if (file_size > b.size()) probe.truncated = true;
}

// P1..P6: magic, then width, height (and maxval except for P1/P4) as decimal tokens with '#'
// comments between, one whitespace byte, then the raster.
void probe_pnm(Bytes b, ImageProbe& probe) {
  const char kind = static_cast<char>(b[1]);
  const bool bitmap = kind == '1' || kind == '4';
  std::size_t pos = 2;
  std::int64_t values[3] = {0, 0, bitmap ? 1 : 0};  // width, height, maxval
  for (int v = 0; v < (bitmap ? 2 : 3); ++v) {
    while (pos < b.size()) {
      if (b[pos] == '#') {
        while (pos < b.size() && b[pos] != '\n' && b[pos] != '\r') ++pos;
      } else if (std::isspace(b[pos])) {
        ++pos;
      } else {
        break;
      }
    }
    if (pos >= b.size()) {
      probe.truncated = true;
      return;
    }
    if (!std::isdigit(b[pos])) {
      probe.problem = "malformed PNM header";
      return;
    }
    while (pos < b.size() && std::isdigit(b[pos]) && values[v] < (std::int64_t{1} << 40)) {
      values[v] = values[v] * 10 + (b[pos++] - '0');
    }
  }
  probe.width = values[0];
  probe.height = values[1];
  // Binary rasters have a known length; a shorter file is cut.
  const std::int64_t channels = kind == '6' ? 3 : 1;
  const std::int64_t sample_bytes = values[2] > 255 ? 2 : 1;
  std::int64_t raster = -1;
  if (kind == '5' || kind == '6') raster = probe.width * probe.height * channels * sample_bytes;
  if (kind == '4') raster = (probe.width + 7) / 8 * probe.height;
  const bool sane = probe.width < (1 << 20) && probe.height < (1 << 20);  // no overflow below
  if (raster >= 0 && sane &&
      static_cast<std::int64_t>(b.size()) < static_cast<std::int64_t>(pos) + 1 + raster) {
    probe.truncated = true;
  }
}

void probe_webp(Bytes b, ImageProbe& probe) {
  if (b.size() < 30) {
    probe.truncated = true;
    return;
  }
  if (starts_with(b, "VP8X", 12)) {
    probe.width = le24(b, 24) + 1;
    probe.height = le24(b, 27) + 1;
  } else if (starts_with(b, "VP8L", 12)) {
    const std::uint32_t bits = le32(b, 21);  // after the 0x2F signature byte
    probe.width = (bits & 0x3FFF) + 1;
    probe.height = ((bits >> 14) & 0x3FFF) + 1;
  } else if (starts_with(b, "VP8 ", 12)) {
    probe.width = le16(b, 26) & 0x3FFF;
    probe.height = le16(b, 28) & 0x3FFF;
  }
  // RIFF size says how long the file must be.
  if (std::uint64_t{le32(b, 4)} + 8 > b.size()) probe.truncated = true;
}

// First IFD's ImageWidth (256) and ImageLength (257), SHORT or LONG.
void probe_tiff(Bytes b, ImageProbe& probe) {
  const bool little = b[0] == 'I';
  auto u16 = [&](std::size_t at) { return little ? le16(b, at) : be16(b, at); };
  auto u32 = [&](std::size_t at) { return little ? le32(b, at) : be32(b, at); };
  if (b.size() < 8) {
    probe.truncated = true;
    return;
  }
  const std::size_t ifd = u32(4);
  if (ifd + 2 > b.size()) {
    probe.truncated = true;
    return;
  }
  const std::size_t count = u16(ifd);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t entry = ifd + 2 + 12 * i;
    if (entry + 12 > b.size()) {
      probe.truncated = true;
      return;
    }
    const unsigned tag = u16(entry);
    const unsigned type = u16(entry + 2);
    if (tag != 256 && tag != 257) continue;
    const std::int64_t value = type == 3 ? u16(entry + 8) : u32(entry + 8);
    (tag == 256 ? probe.width : probe.height) = value;
  }
}

}  // namespace

const char* format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::jpeg:
      return "JPEG";
    case ImageFormat::png:
      return "PNG";
    case ImageFormat::bmp:
      return "BMP";
    case ImageFormat::pnm:
      return "PNM";
    case ImageFormat::webp:
      return "WebP";
    case ImageFormat::tiff:
      return "TIFF";
    case ImageFormat::gif:
      return "GIF";
    case ImageFormat::unknown:
      break;
  }
  return "unknown";
}

ImageFormat sniff_format(Bytes b) {
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return ImageFormat::jpeg;
  if (starts_with(b, "\x89PNG\r\n\x1a\n")) return ImageFormat::png;
  if (starts_with(b, "BM")) return ImageFormat::bmp;
  if (b.size() >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && std::isspace(b[2])) {
    return ImageFormat::pnm;
  }
  if (starts_with(b, "RIFF") && starts_with(b, "WEBP", 8)) return ImageFormat::webp;
  if (starts_with(b, "II*") || starts_with(b, "MM")) {
    if (b.size() >= 4 && ((b[0] == 'I' && b[3] == 0) || (b[0] == 'M' && b[2] == 0 && b[3] == 42)))
      return ImageFormat::tiff;
  }
  if (starts_with(b, "GIF87a") || starts_with(b, "GIF89a")) return ImageFormat::gif;
  return ImageFormat::unknown;
}

ImageProbe probe_image(Bytes bytes) {
  ImageProbe probe;
  probe.format = sniff_format(bytes);
  switch (probe.format) {
    case ImageFormat::jpeg:
      probe_jpeg(bytes, probe);
      break;
    case ImageFormat::png:
      probe_png(bytes, probe);
      break;
    case ImageFormat::bmp:
      probe_bmp(bytes, probe);
      break;
    case ImageFormat::pnm:
      probe_pnm(bytes, probe);
      break;
    case ImageFormat::webp:
      probe_webp(bytes, probe);
      break;
    case ImageFormat::tiff:
      probe_tiff(bytes, probe);
      break;
    case ImageFormat::gif:
    case ImageFormat::unknown:
      break;
  }
  return probe;
}

}  // namespace clipface::detail
