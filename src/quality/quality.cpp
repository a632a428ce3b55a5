#include "clipface/quality.hpp"

#include <cmath>
#include <cstdio>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "clipface/align.hpp"
#include "clipface/errors.hpp"

namespace clipface {
namespace {

constexpr float kPi = 3.14159265358979f;
constexpr int kSharpnessCrop = 112;

float degrees(float radians) {
  return radians * 180.0f / kPi;
}

// Rigid-head geometry (anthropometric averages): the nose tip stands about 0.8 half eye
// distances in front of the eye-mouth plane once the mouth's own depth is accounted for, and
// about 0.44 eye-to-mouth distances. On frontal faces YuNet puts the nose tip 0.56 of the way
// from the eye line down to the mouth line (median over the Yale and LFW development photos; the
// ArcFace template's 0.495 would read them as looking down by 10 degrees).
constexpr float kNoseDepthPerHalfEye = 0.8f;
constexpr float kNoseDepthPerEyeMouth = 0.44f;
constexpr float kFrontalNoseHeight = 0.56f;

std::string number(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", static_cast<double>(v));
  return buf;
}

}  // namespace

void estimate_pose(const Face& face, float& yaw, float& pitch, float& roll) {
  const auto& p = face.landmarks;
  const cv::Point2f eyes = (p[0] + p[1]) * 0.5f;
  const cv::Point2f mouth = (p[3] + p[4]) * 0.5f;
  const cv::Point2f across = p[1] - p[0];
  roll = degrees(std::atan2(across.y, across.x));
  // Undo the roll about the eyes' midpoint, so what is left is turn and nod.
  const float c = std::cos(-std::atan2(across.y, across.x));
  const float s = std::sin(-std::atan2(across.y, across.x));
  const auto upright = [&](cv::Point2f q) {
    q -= eyes;
    return cv::Point2f(c * q.x - s * q.y, s * q.x + c * q.y);
  };
  const cv::Point2f nose = upright(p[2]);
  const cv::Point2f mouth_u = upright(mouth);
  const float half_eye = 0.5f * std::hypot(across.x, across.y);
  const float eye_mouth = std::max(mouth_u.y, 1e-3f);
  if (half_eye < 1e-3f) {
    yaw = pitch = 0;
    return;
  }
  // The midline runs from the eyes' midpoint to the mouth's; the nose tip leaves it when turned.
  const float midline_x = mouth_u.x * (nose.y / eye_mouth);
  yaw = degrees(std::atan2(nose.x - midline_x, kNoseDepthPerHalfEye * half_eye));
  const float height = nose.y / eye_mouth;
  pitch = degrees(std::atan((height - kFrontalNoseHeight) / kNoseDepthPerEyeMouth));
}

FaceQuality measure_quality(const cv::Mat& image, const Face& face) {
  if (image.empty()) throw InputError("quality: empty image");
  FaceQuality q;
  q.size = std::min(face.box.width, face.box.height);
  q.detector_score = face.score;
  estimate_pose(face, q.yaw, q.pitch, q.roll);
  cv::Mat crop = align_face(image, face, kSharpnessCrop, CropStyle::tight);
  if (crop.channels() == 3) {
    cv::cvtColor(crop, crop, cv::COLOR_BGR2GRAY);
  } else if (crop.channels() == 4) {
    cv::cvtColor(crop, crop, cv::COLOR_BGRA2GRAY);
  }
  cv::Mat laplacian;
  cv::Laplacian(crop, laplacian, CV_32F);
  cv::Scalar mean, stddev;
  cv::meanStdDev(laplacian, mean, stddev);
  q.sharpness = static_cast<float>(stddev[0] * stddev[0]);
  return q;
}

std::string quality_problems(const FaceQuality& q, const QualityBar& bar) {
  if (!bar.enabled) return {};
  std::string out;
  const auto add = [&](const std::string& text) { out += (out.empty() ? "" : "; ") + text; };
  if (bar.min_size > 0 && q.size < bar.min_size) {
    add("too small (" + number(q.size) + " px < " + number(bar.min_size) + ")");
  }
  if (bar.min_sharpness > 0 && q.sharpness < bar.min_sharpness) {
    add("blurry (sharpness " + number(q.sharpness) + " < " + number(bar.min_sharpness) + ")");
  }
  if (bar.max_yaw < 180 && std::fabs(q.yaw) > bar.max_yaw) {
    add("turned away (yaw " + number(q.yaw) + " deg, limit " + number(bar.max_yaw) + ")");
  }
  if (bar.max_pitch < 180 && std::fabs(q.pitch) > bar.max_pitch) {
    add("looking up or down (pitch " + number(q.pitch) + " deg, limit " + number(bar.max_pitch) +
        ")");
  }
  if (bar.max_roll < 180 && std::fabs(q.roll) > bar.max_roll) {
    add("tilted (roll " + number(q.roll) + " deg, limit " + number(bar.max_roll) + ")");
  }
  if (bar.min_detector_score > 0 && q.detector_score < bar.min_detector_score) {
    add("uncertain detection (score " + number(q.detector_score) + " < " +
        number(bar.min_detector_score) + ")");
  }
  return out;
}

std::string quality_tags(const FaceQuality& q, const QualityBar& bar) {
  if (!bar.enabled) return "ok";
  std::string out;
  const auto tag = [&](bool failed, const char* name) {
    if (!failed) return;
    if (!out.empty()) out += ',';
    out += name;
  };
  tag(bar.min_size > 0 && q.size < bar.min_size, "small");
  tag(bar.min_sharpness > 0 && q.sharpness < bar.min_sharpness, "blurry");
  tag(bar.max_yaw < 180 && std::fabs(q.yaw) > bar.max_yaw, "turned");
  tag(bar.max_pitch < 180 && std::fabs(q.pitch) > bar.max_pitch, "nodding");
  tag(bar.max_roll < 180 && std::fabs(q.roll) > bar.max_roll, "tilted");
  tag(bar.min_detector_score > 0 && q.detector_score < bar.min_detector_score, "unsure");
  return out.empty() ? "ok" : out;
}

QualityBar parse_quality_bar(const std::string& spec) {
  QualityBar bar;
  if (spec == "off" || spec == "none") {
    bar.enabled = false;
    return bar;
  }
  if (spec.empty() || spec == "default") return bar;
  std::stringstream items(spec);
  for (std::string item; std::getline(items, item, ',');) {
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq);
    float value = 0;
    try {
      std::size_t used = 0;
      if (eq == std::string::npos) throw std::invalid_argument("no value");
      value = std::stof(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1 || !std::isfinite(value)) throw std::invalid_argument("");
    } catch (const std::logic_error&) {
      throw InputError("quality bar '" + spec + "': '" + item +
                       "' is not key=number (keys: size, sharpness, yaw, pitch, roll, score)");
    }
    if (key == "size") {
      bar.min_size = value;
    } else if (key == "sharpness") {
      bar.min_sharpness = value;
    } else if (key == "yaw") {
      bar.max_yaw = value;
    } else if (key == "pitch") {
      bar.max_pitch = value;
    } else if (key == "roll") {
      bar.max_roll = value;
    } else if (key == "score") {
      bar.min_detector_score = value;
    } else {
      throw InputError("quality bar '" + spec + "': unknown key '" + key +
                       "' (keys: size, sharpness, yaw, pitch, roll, score)");
    }
  }
  return bar;
}

std::string to_string(const QualityBar& bar) {
  if (!bar.enabled) return "off";
  return "size>=" + number(bar.min_size) + " sharpness>=" + number(bar.min_sharpness) +
         " |yaw|<=" + number(bar.max_yaw) + " |pitch|<=" + number(bar.max_pitch) +
         " |roll|<=" + number(bar.max_roll) + " score>=" + number(bar.min_detector_score);
}

}  // namespace clipface
