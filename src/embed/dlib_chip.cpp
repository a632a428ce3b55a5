#include "embed/dlib_chip.hpp"

#include <dlib/image_processing.h>
#include <dlib/opencv.h>

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "clipface/errors.hpp"

namespace clipface::detail {
namespace {

// dlib's 5-point predictor was trained on dlib's own (HOG / MMOD) boxes, which are square and sit
// lower than YuNet's. Fitted on 294 faces (LFW, Yale, face_recognition_examples) where both found
// the face: HOG side = 0.965 sqrt(w h) (+-10%), centre shifted down by 0.118 sqrt(w h) (+-8%).
dlib::rectangle dlib_box(const cv::Rect2f& box) {
  const double s = std::sqrt(static_cast<double>(box.width) * box.height);
  const double side = 0.965 * s;
  const double cx = box.x + box.width / 2.0;
  const double cy = box.y + box.height / 2.0 + 0.118 * s;
  return dlib::rectangle(std::lround(cx - side / 2), std::lround(cy - side / 2),
                         std::lround(cx + side / 2) - 1, std::lround(cy + side / 2) - 1);
}

}  // namespace

struct DlibChipper::Impl {
  dlib::shape_predictor predictor;

  dlib::chip_details details(const cv::Mat& bgr, const Face& face) const {
    dlib::cv_image<dlib::bgr_pixel> view(bgr);
    const dlib::full_object_detection shape = predictor(view, dlib_box(face.box));
    return dlib::get_face_chip_details(shape, kDlibChipSize, kDlibChipPadding);
  }
};

DlibChipper::DlibChipper(const std::filesystem::path& shape_predictor)
    : impl_(std::make_unique<Impl>()) {
  try {
    dlib::deserialize(shape_predictor.string()) >> impl_->predictor;
  } catch (const std::exception& e) {
    throw ModelError("cannot load dlib model " + shape_predictor.string() + ": " + e.what());
  }
  if (impl_->predictor.num_parts() != 5) {
    throw ModelError("not a 5-point shape predictor (" +
                     std::to_string(impl_->predictor.num_parts()) +
                     " parts): " + shape_predictor.string());
  }
}

DlibChipper::~DlibChipper() = default;
DlibChipper::DlibChipper(DlibChipper&&) noexcept = default;

cv::Mat DlibChipper::chip_transform(const cv::Mat& image, const Face& face) const {
  const cv::Mat bgr = to_bgr(image, "dlib chip");
  const dlib::point_transform_affine to_chip = dlib::get_mapping_to_chip(impl_->details(bgr, face));
  const auto& m = to_chip.get_m();
  const auto& b = to_chip.get_b();
  cv::Mat out(2, 3, CV_64F);
  for (int r = 0; r < 2; ++r) {
    out.at<double>(r, 0) = m(r, 0);
    out.at<double>(r, 1) = m(r, 1);
    out.at<double>(r, 2) = b(r);
  }
  return out;
}

std::vector<cv::Mat> DlibChipper::chips(const cv::Mat& image,
                                        const std::vector<Face>& faces) const {
  const cv::Mat bgr = to_bgr(image, "dlib embedder");
  dlib::cv_image<dlib::bgr_pixel> view(bgr);
  std::vector<cv::Mat> out;
  out.reserve(faces.size());
  for (const Face& face : faces) {
    dlib::matrix<dlib::rgb_pixel> chip;
    dlib::extract_image_chip(view, impl_->details(bgr, face), chip);
    cv::Mat converted;
    cv::cvtColor(dlib::toMat(chip), converted, cv::COLOR_RGB2BGR);
    out.push_back(converted);
  }
  return out;
}

cv::Mat to_bgr(const cv::Mat& image, const char* what) {
  if (image.empty()) throw InputError(std::string(what) + ": empty image");
  if (image.depth() != CV_8U) throw InputError(std::string(what) + ": expected an 8-bit image");
  cv::Mat bgr;
  switch (image.channels()) {
    case 3:
      return image;
    case 1:
      cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR);
      return bgr;
    case 4:
      cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);
      return bgr;
    default:
      throw InputError(std::string(what) + ": expected 1, 3 or 4 channels");
  }
}

}  // namespace clipface::detail
