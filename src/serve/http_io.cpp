#include "serve/http_io.hpp"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>

#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "serve/api_error.hpp"

namespace clipface::serve_detail {
namespace {

[[noreturn]] void too_large(std::size_t limit) {
  throw ApiError(413, code::body_too_large,
                 "request body exceeds the limit of " + std::to_string(limit) + " bytes");
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::string content_type(const httplib::Request& req) {
  std::string type = req.get_header_value("Content-Type");
  type = type.substr(0, type.find(';'));
  std::transform(type.begin(), type.end(), type.begin(), ::tolower);
  while (!type.empty() && type.back() == ' ') type.pop_back();
  return type;
}

std::vector<unsigned char> from_base64(const std::string& text, const std::string& field) {
  // An optional data URL prefix ("data:image/jpeg;base64,").
  std::size_t start = 0;
  if (starts_with(text, "data:")) {
    const auto comma = text.find(',');
    if (comma == std::string::npos) {
      throw ApiError(400, code::validation, "field '" + field + "' is a data URL without data");
    }
    start = comma + 1;
  }
  std::vector<unsigned char> out(text.size() / 4 * 3 + 3);
  std::size_t length = 0;
  const char* end = nullptr;
  for (const int variant :
       {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING}) {
    if (sodium_base642bin(out.data(), out.size(), text.data() + start, text.size() - start,
                          " \t\r\n", &length, &end, variant) == 0 &&
        end == text.data() + text.size()) {
      out.resize(length);
      return out;
    }
  }
  throw ApiError(400, code::validation, "field '" + field + "' is not valid base64");
}

}  // namespace

const nlohmann::json& Body::json() const {
  if (!parsed_) {
    parsed_ = nlohmann::json::parse(raw, nullptr, false);
    if (parsed_->is_discarded()) {
      parsed_.reset();
      throw ApiError(400, code::validation, "the request body is not valid JSON");
    }
  }
  return *parsed_;
}

Body read_body(const httplib::Request& req, const httplib::ContentReader& reader,
               std::size_t limit) {
  Body body;
  std::size_t total = 0;
  bool over = false;
  auto count = [&](std::size_t n) {
    total += n;
    over = over || total > limit;
    return !over;
  };
  bool ok = true;
  if (req.is_multipart_form_data()) {
    body.multipart = true;
    std::string current;
    ok = reader(
        [&](const httplib::MultipartFormData& part) {
          current = part.name;
          auto& p = body.parts[current];
          p.filename = part.filename;
          p.content_type = part.content_type;
          p.content.clear();
          return true;
        },
        [&](const char* data, std::size_t n) {
          if (!count(n)) return false;
          body.parts[current].content.append(data, n);
          return true;
        });
  } else {
    ok = reader([&](const char* data, std::size_t n) {
      if (!count(n)) return false;
      body.raw.append(data, n);
      return true;
    });
  }
  if (over) too_large(limit);
  if (!ok) {
    throw ApiError(400, code::validation,
                   body.multipart ? "malformed multipart body (truncated, or a bad boundary)"
                                  : "the request body could not be read (truncated?)");
  }
  return body;
}

bool has_image_field(const httplib::Request& req, const Body& body, const std::string& field) {
  const std::string type = content_type(req);
  if (type == "multipart/form-data") return body.parts.count(field) > 0;
  if (type == "application/json") {
    const auto& j = body.json();
    return j.is_object() && j.contains(field);
  }
  return false;
}

Image image_field(const httplib::Request& req, const Body& body, const std::string& field) {
  const std::string type = content_type(req);
  Image image;
  if (type == "multipart/form-data") {
    const auto part = body.parts.find(field);
    if (part == body.parts.end()) {
      throw ApiError(400, code::missing_parameter,
                     "missing multipart field '" + field + "' (the image)");
    }
    image.bytes.assign(part->second.content.begin(), part->second.content.end());
    image.name = part->second.filename.empty() ? field : part->second.filename;
  } else if (type == "application/json") {
    const auto& j = body.json();
    if (!j.is_object() || !j.contains(field) || !j[field].is_string()) {
      throw ApiError(400, code::missing_parameter,
                     "missing JSON field '" + field + "' (the image, base64)");
    }
    image.bytes = from_base64(j[field].get<std::string>(), field);
    image.name = field;
  } else {
    throw ApiError(415, code::unsupported_media,
                   "unsupported content type '" + req.get_header_value("Content-Type") +
                       "': send multipart/form-data (field '" + field +
                       "') or application/json (base64)");
  }
  return image;
}

cv::Mat decode(const Image& image) {
  if (!image.bytes.empty() && sniff_image_format(image.bytes).empty()) {
    throw ApiError(415, code::unavailable_file,
                   "'" + image.name + "' is not an image (JPEG, PNG, BMP, PNM, WebP or TIFF)");
  }
  try {
    return decode_image(image.bytes, image.name);
  } catch (const ImageError& e) {
    throw ApiError(400, code::unavailable_file, e.what());
  }
}

int int_param(const httplib::Request& req, const std::string& name, int fallback, int min,
              int max) {
  if (!req.has_param(name.c_str())) return fallback;
  const std::string text = req.get_param_value(name.c_str());
  std::size_t used = 0;
  long value = 0;
  try {
    value = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || value < min || value > max) {
    throw ApiError(400, code::validation,
                   "parameter '" + name + "' must be an integer from " + std::to_string(min) +
                       " to " + std::to_string(max) + ", not '" + text + "'");
  }
  return static_cast<int>(value);
}

double float_param(const httplib::Request& req, const std::string& name, double fallback,
                   double min, double max) {
  if (!req.has_param(name.c_str())) return fallback;
  const std::string text = req.get_param_value(name.c_str());
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || !std::isfinite(value) || value < min || value > max) {
    throw ApiError(400, code::validation,
                   "parameter '" + name + "' must be a number from " + std::to_string(min) +
                       " to " + std::to_string(max) + ", not '" + text + "'");
  }
  return value;
}

bool bool_param(const httplib::Request& req, const std::string& name, bool fallback) {
  if (!req.has_param(name.c_str())) return fallback;
  const std::string text = req.get_param_value(name.c_str());
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  throw ApiError(400, code::validation,
                 "parameter '" + name + "' must be true or false, not '" + text + "'");
}

std::string string_param(const httplib::Request& req, const std::string& name,
                         const std::string& fallback) {
  return req.has_param(name.c_str()) ? req.get_param_value(name.c_str()) : fallback;
}

std::string required_param(const httplib::Request& req, const std::string& name) {
  const std::string value = string_param(req, name);
  if (value.empty()) {
    throw ApiError(400, code::missing_parameter, "missing parameter '" + name + "'");
  }
  return value;
}

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

nlohmann::json box_json(const Face& face, int width, int height) {
  const cv::Rect2f b = clip_box(face.box, cv::Size(width, height));
  return {{"probability", std::round(face.score * 1e5) / 1e5},
          {"x_min", std::lround(b.x)},
          {"y_min", std::lround(b.y)},
          {"x_max", std::lround(b.x + b.width)},
          {"y_max", std::lround(b.y + b.height)}};
}

nlohmann::json box_raw_json(const Face& face) {
  return {face.box.x, face.box.y, face.box.width, face.box.height};
}

nlohmann::json landmarks_json(const Face& face) {
  nlohmann::json points = nlohmann::json::array();
  for (const auto& p : face.landmarks) {
    points.push_back({static_cast<int>(std::lround(p.x)), static_cast<int>(std::lround(p.y))});
  }
  return points;
}

}  // namespace clipface::serve_detail
