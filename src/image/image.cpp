#include "clipface/image.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "clipface/errors.hpp"
#include "image/image_probe.hpp"

namespace clipface {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& name, const std::string& reason) {
  throw ImageError(name, reason);
}

std::vector<unsigned char> read_bytes(const fs::path& path, const ImageLimits& limits) {
  const std::string name = path.string();
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) fail(name, "no such file");
  if (fs::is_directory(status)) fail(name, "it is a directory, not an image file");
  if (!fs::is_regular_file(status)) fail(name, "not a regular file");
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) fail(name, ec.message());
  if (static_cast<std::int64_t>(size) > limits.max_bytes) {
    fail(name, "file of " + std::to_string(size) + " bytes exceeds the limit of " +
                   std::to_string(limits.max_bytes) + " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(name, std::string("cannot open: ") + std::strerror(errno));
  std::vector<unsigned char> bytes(size);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) fail(name, "read error");
  return bytes;
}

// Every caller gets 8-bit BGR. IMREAD_COLOR already does this for the formats OpenCV reads
// (grey replicated, alpha dropped, 16-bit reduced to 8), this guards the rest.
cv::Mat to_bgr8(cv::Mat image) {
  if (image.depth() != CV_8U) {
    const double scale = image.depth() == CV_16U ? 1.0 / 257.0 : 1.0;
    image.convertTo(image, CV_8U, scale);
  }
  if (image.channels() == 1) cv::cvtColor(image, image, cv::COLOR_GRAY2BGR);
  if (image.channels() == 4) cv::cvtColor(image, image, cv::COLOR_BGRA2BGR);
  return image;
}

}  // namespace

cv::Mat decode_image(const std::vector<unsigned char>& bytes, const std::string& name,
                     const ImageLimits& limits) {
  if (bytes.empty()) fail(name, "file is empty (0 bytes)");
  // cv::imdecode takes an int length.
  if (static_cast<std::int64_t>(bytes.size()) > std::min<std::int64_t>(limits.max_bytes, INT_MAX)) {
    fail(name, std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                   std::to_string(limits.max_bytes) + " bytes");
  }
  const detail::ImageProbe probe = detail::probe_image(bytes);
  const std::string format = detail::format_name(probe.format);
  if (probe.format == detail::ImageFormat::gif) fail(name, "GIF images are not supported");
  if (!probe.problem.empty()) fail(name, probe.problem);
  // Checked on the header's numbers, before any pixel memory is allocated.
  if (probe.width > 0 && probe.height > limits.max_pixels / probe.width) {
    fail(name, std::to_string(probe.width) + "x" + std::to_string(probe.height) + " " + format +
                   " has more pixels than the limit of " + std::to_string(limits.max_pixels));
  }
  if (probe.truncated) fail(name, "truncated " + format + " file (the data ends too early)");

  cv::Mat image;
  try {
    // imdecode applies the EXIF orientation with IMREAD_COLOR (OpenCV >= 4.x, tested).
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8U,
                         const_cast<unsigned char*>(bytes.data()));
    image = cv::imdecode(buffer, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    fail(name, "corrupt " + format + " data (" + e.err + ")");
  }
  if (image.empty()) {
    if (probe.format == detail::ImageFormat::unknown) fail(name, "not an image file");
    fail(name, "corrupt or unsupported " + format + " data");
  }
  if (static_cast<std::int64_t>(image.total()) > limits.max_pixels) {  // formats not probed
    fail(name, std::to_string(image.cols) + "x" + std::to_string(image.rows) +
                   " has more pixels than the limit of " + std::to_string(limits.max_pixels));
  }
  return to_bgr8(std::move(image));
}

cv::Mat load_image(const fs::path& path, const ImageLimits& limits) {
  return decode_image(read_bytes(path, limits), path.string(), limits);
}

bool has_image_extension(const fs::path& path) {
  static const char* const kExtensions[] = {".jpg",  ".jpeg", ".jpe", ".png", ".bmp",
                                            ".dib",  ".pgm",  ".ppm", ".pnm", ".pbm",
                                            ".webp", ".tif",  ".tiff"};
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::any_of(std::begin(kExtensions), std::end(kExtensions),
                     [&](const char* known) { return ext == known; });
}

std::vector<fs::path> list_images(const fs::path& dir, bool recursive) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError("not a folder: '" + dir.string() + "'");
  std::vector<fs::path> images;
  // Hidden entries (".DS_Store", "._photo.jpg" AppleDouble files, ".git") are never photos.
  auto hidden = [](const fs::path& p) { return p.filename().string().starts_with('.'); };
  auto consider = [&](const fs::directory_entry& entry) {
    if (entry.is_regular_file() && has_image_extension(entry.path()) && !hidden(entry.path())) {
      images.push_back(entry.path());
    }
  };
  if (recursive) {
    auto it =
        fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory() && hidden(it->path())) {
        it.disable_recursion_pending();
        continue;
      }
      consider(*it);
    }
  } else {
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      consider(*it);
    }
  }
  if (ec) throw InputError("cannot list folder '" + dir.string() + "': " + ec.message());
  std::sort(images.begin(), images.end());
  return images;
}

std::vector<fs::path> list_person_folders(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw InputError("not a folder of people: '" + dir.string() + "'");
  std::vector<fs::path> people;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_directory() && !name.starts_with('_') && !name.starts_with('.')) {
      people.push_back(it->path());
    }
  }
  if (ec) throw InputError("cannot list folder '" + dir.string() + "': " + ec.message());
  std::sort(people.begin(), people.end());
  return people;
}

}  // namespace clipface
