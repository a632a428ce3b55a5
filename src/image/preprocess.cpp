// Pillow 9.4's antialiased bicubic resize (libImaging/Resample.c) reproduced exactly for 8-bit
// images, and CLIP's preprocessing built on it. Each output pixel is computed independently, so
// computing only the centre crop of the resized image gives the same bytes as resizing then
// cropping, at a fraction of the work.
#include "clipface/preprocess.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "clipface/errors.hpp"

namespace clipface {
namespace {

// Pillow: 8 bits for the result, 2 for overflow and sign, the rest for the fraction.
constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr std::int32_t kHalf = 1 << (kPrecisionBits - 1);

// Keys' cubic with a = -0.5, as Pillow's bicubic_filter.
double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Fixed-point weights along one axis for outputs [out_begin, out_begin + out_count) of an
// in_size -> out_size resize: Pillow's precompute_coeffs followed by normalize_coeffs_8bpc.
struct Kernel {
  int ksize = 0;
  std::vector<int> first;          // first source index of each output
  std::vector<int> count;          // number of source samples of each output
  std::vector<std::int32_t> taps;  // ksize weights per output
};

Kernel make_kernel(int in_size, int out_size, int out_begin, int out_count) {
  constexpr double kSupport = 2.0;  // bicubic
  const float in0 = 0.0f;
  const float in1 = static_cast<float>(in_size);  // Pillow's box is float
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = kSupport * filterscale;
  Kernel kernel;
  kernel.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  kernel.first.resize(out_count);
  kernel.count.resize(out_count);
  kernel.taps.assign(static_cast<std::size_t>(out_count) * kernel.ksize, 0);
  std::vector<double> weights(kernel.ksize);
  for (int i = 0; i < out_count; ++i) {
    const int xx = out_begin + i;
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);  // truncation, as in Pillow
    xmin = std::max(xmin, 0);
    int xmax = static_cast<int>(center + support + 0.5);
    xmax = std::min(xmax, in_size) - xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      weights[x] = bicubic_filter((x + xmin - center + 0.5) * ss);
      ww += weights[x];
    }
    std::int32_t* taps = &kernel.taps[static_cast<std::size_t>(i) * kernel.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? weights[x] / ww : weights[x];
      const double fixed = w * (1 << kPrecisionBits);
      taps[x] = static_cast<std::int32_t>(w < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    kernel.first[i] = xmin;
    kernel.count[i] = xmax;
  }
  return kernel;
}

inline unsigned char clip8(std::int32_t sum) {
  return static_cast<unsigned char>(std::clamp(sum >> kPrecisionBits, 0, 255));
}

template <int CN>
cv::Mat resample_horizontal(const cv::Mat& src, const Kernel& kernel) {
  const int out_width = static_cast<int>(kernel.first.size());
  cv::Mat dst(src.rows, out_width, CV_8UC(CN));
  cv::parallel_for_(cv::Range(0, src.rows), [&](const cv::Range& rows) {
    for (int y = rows.start; y < rows.end; ++y) {
      const unsigned char* in = src.ptr<unsigned char>(y);
      unsigned char* out = dst.ptr<unsigned char>(y);
      for (int xx = 0; xx < out_width; ++xx) {
        const std::int32_t* k = &kernel.taps[static_cast<std::size_t>(xx) * kernel.ksize];
        const unsigned char* p = in + kernel.first[xx] * CN;
        std::int32_t sum[CN];
        for (int c = 0; c < CN; ++c) sum[c] = kHalf;
        for (int x = 0; x < kernel.count[xx]; ++x, p += CN) {
          for (int c = 0; c < CN; ++c) sum[c] += p[c] * k[x];
        }
        for (int c = 0; c < CN; ++c) out[xx * CN + c] = clip8(sum[c]);
      }
    }
  });
  return dst;
}

// `src` row 0 is source row `row_offset` of the kernel's numbering.
cv::Mat resample_vertical(const cv::Mat& src, const Kernel& kernel, int row_offset) {
  const int out_height = static_cast<int>(kernel.first.size());
  const int values = src.cols * src.channels();
  cv::Mat dst(out_height, src.cols, src.type());
  cv::parallel_for_(cv::Range(0, out_height), [&](const cv::Range& rows) {
    std::vector<std::int32_t> sum(values);
    for (int yy = rows.start; yy < rows.end; ++yy) {
      const std::int32_t* k = &kernel.taps[static_cast<std::size_t>(yy) * kernel.ksize];
      std::fill(sum.begin(), sum.end(), kHalf);
      // Tap-major order keeps the inner loop contiguous (vectorised); integer sums are exact,
      // so the result equals Pillow's pixel-major loop.
      for (int y = 0; y < kernel.count[yy]; ++y) {
        const unsigned char* in = src.ptr<unsigned char>(kernel.first[yy] - row_offset + y);
        const std::int32_t weight = k[y];
        for (int i = 0; i < values; ++i) sum[i] += in[i] * weight;
      }
      unsigned char* out = dst.ptr<unsigned char>(yy);
      for (int i = 0; i < values; ++i) out[i] = clip8(sum[i]);
    }
  });
  return dst;
}

void check_resizable(const cv::Mat& src, cv::Size size) {
  const int cn = src.channels();
  if (src.empty() || src.depth() != CV_8U || (cn != 1 && cn != 3 && cn != 4)) {
    throw InputError(
        "pil_resize_bicubic: expected a non-empty 8-bit image with 1, 3 or 4 "
        "channels");
  }
  if (size.width <= 0 || size.height <= 0) {
    throw InputError("pil_resize_bicubic: invalid output size " + std::to_string(size.width) + "x" +
                     std::to_string(size.height));
  }
}

// The `roi` part of pil_resize_bicubic(src, size). Like Pillow, an axis whose size does not
// change is not resampled, and the horizontal pass only covers rows the vertical pass reads.
cv::Mat resize_region(const cv::Mat& src, cv::Size size, cv::Rect roi) {
  const bool need_horizontal = size.width != src.cols;
  const bool need_vertical = size.height != src.rows;
  Kernel vertical;
  int row_first = roi.y;
  int row_last = roi.y + roi.height;
  if (need_vertical) {
    vertical = make_kernel(src.rows, size.height, roi.y, roi.height);
    row_first = vertical.first.front();
    row_last = vertical.first.back() + vertical.count.back();
  }
  const cv::Mat rows = src.rowRange(row_first, row_last);
  cv::Mat temp;
  if (need_horizontal) {
    const Kernel horizontal = make_kernel(src.cols, size.width, roi.x, roi.width);
    switch (src.channels()) {
      case 1:
        temp = resample_horizontal<1>(rows, horizontal);
        break;
      case 3:
        temp = resample_horizontal<3>(rows, horizontal);
        break;
      default:
        temp = resample_horizontal<4>(rows, horizontal);
        break;
    }
  } else {
    temp = rows.colRange(roi.x, roi.x + roi.width);
  }
  if (!need_vertical) return need_horizontal ? temp : temp.clone();
  return resample_vertical(temp, vertical, row_first);
}

// torchvision's center_crop offset: int(round(x / 2.0)) with Python's halves-to-even rounding.
int crop_offset(int extent, int size) {
  return static_cast<int>(std::nearbyint((extent - size) / 2.0));  // default mode: to even
}

}  // namespace

cv::Mat pil_resize_bicubic(const cv::Mat& src, cv::Size size) {
  check_resizable(src, size);
  return resize_region(src, size, cv::Rect(0, 0, size.width, size.height));
}

void append_clip_pixels(const cv::Mat& image, int size, ImageResize mode, std::vector<float>& out) {
  if (size <= 0) throw InputError("clip preprocessing: invalid size " + std::to_string(size));
  cv::Mat src = image;
  // Pillow premultiplies alpha before resizing RGBA; dropping alpha first is the same for opaque
  // images (the loader drops alpha anyway).
  if (src.type() == CV_8UC4) cv::cvtColor(src, src, cv::COLOR_BGRA2BGR);
  check_resizable(src, {size, size});

  cv::Size resized(size, size);
  cv::Rect crop(0, 0, size, size);
  if (mode == ImageResize::center_crop) {
    // torchvision Resize(size): the shorter side becomes `size`, the other int(size*long/short).
    const std::int64_t w = src.cols;
    const std::int64_t h = src.rows;
    if (w <= h) {
      resized = {size, static_cast<int>(static_cast<double>(size * h) / static_cast<double>(w))};
    } else {
      resized = {static_cast<int>(static_cast<double>(size * w) / static_cast<double>(h)), size};
    }
    crop.x = crop_offset(resized.width, size);
    crop.y = crop_offset(resized.height, size);
  }
  const cv::Mat pixels = resize_region(src, resized, crop);

  // ToTensor + Normalize in float32: (u8 / 255 - mean) / std, a true division, per channel.
  float table[3][256];
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) table[c][v] = (v / 255.0f - kClipMean[c]) / kClipStd[c];
  }
  const std::size_t plane = static_cast<std::size_t>(size) * size;
  const std::size_t base = out.size();
  out.resize(base + 3 * plane);
  float* dst = out.data() + base;
  const int cn = pixels.channels();
  for (int y = 0; y < size; ++y) {
    const unsigned char* row = pixels.ptr<unsigned char>(y);
    for (int x = 0; x < size; ++x) {
      const std::size_t at = static_cast<std::size_t>(y) * size + x;
      const unsigned char* px = row + x * cn;
      // RGB planes from BGR pixels; grey feeds all three.
      dst[at] = table[0][px[cn == 1 ? 0 : 2]];
      dst[plane + at] = table[1][px[cn == 1 ? 0 : 1]];
      dst[2 * plane + at] = table[2][px[0]];
    }
  }
}

std::vector<float> clip_pixels(const cv::Mat& image, int size, ImageResize mode) {
  std::vector<float> out;
  append_clip_pixels(image, size, mode, out);
  return out;
}

}  // namespace clipface
