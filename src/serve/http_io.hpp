// Reading requests and writing responses for the routes: bodies read with a size limit (also for
// chunked uploads, which carry no length), images from a multipart field or base64 JSON as
// CompreFace takes them, query parameters with clear errors, JSON answers.
#pragma once

#include <httplib.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "clipface/detect.hpp"

namespace cv {
class Mat;
}

namespace clipface::serve_detail {

// A request body: multipart parts (by field name) or the raw bytes (JSON bodies).
struct Body {
  struct Part {
    std::string content;
    std::string filename;
    std::string content_type;
  };
  std::map<std::string, Part> parts;
  std::string raw;
  bool multipart = false;

  // The JSON body (ApiError 400 when it is not JSON; 415 when the request is not JSON).
  const nlohmann::json& json() const;

 private:
  mutable std::optional<nlohmann::json> parsed_;
};

// Reads the body through `reader`, refusing (413) as soon as it passes `limit` bytes.
Body read_body(const httplib::Request& req, const httplib::ContentReader& reader,
               std::size_t limit);

// Requests that carry an image: multipart/form-data with the image in `field`, or
// application/json with {"<field>": "<base64>"} (a data: URL prefix is allowed). 415 for other
// content types, 400 for a missing field, bad base64 or an unreadable image, 415 for data that is
// no image format.
struct Image {
  std::vector<unsigned char> bytes;
  std::string name;  // the upload's file name, or the field name
};
Image image_field(const httplib::Request& req, const Body& body, const std::string& field);
bool has_image_field(const httplib::Request& req, const Body& body, const std::string& field);
cv::Mat decode(const Image& image);

// Query parameters: absent -> the default; malformed or out of range -> ApiError 400.
int int_param(const httplib::Request& req, const std::string& name, int fallback, int min, int max);
double float_param(const httplib::Request& req, const std::string& name, double fallback,
                   double min, double max);
bool bool_param(const httplib::Request& req, const std::string& name, bool fallback);
std::string string_param(const httplib::Request& req, const std::string& name,
                         const std::string& fallback = "");
std::string required_param(const httplib::Request& req, const std::string& name);

void send_json(httplib::Response& res, int status, const nlohmann::json& body);

// CompreFace's box, clipped to the image: {"probability", "x_max", "y_max", "x_min", "y_min"}.
nlohmann::json box_json(const Face& face, int width, int height);
// The detector's own box [x, y, width, height] (it may reach past the edge), as the CLI's box_raw.
nlohmann::json box_raw_json(const Face& face);
nlohmann::json landmarks_json(const Face& face);

}  // namespace clipface::serve_detail
