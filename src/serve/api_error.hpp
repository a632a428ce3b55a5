// Errors of the REST API: an HTTP status and a JSON body {"message", "code"}, as CompreFace
// answers (its numeric codes where it has one for the case: java/api .../handler/ExceptionCode),
// clipface's own from 100 on.
#pragma once

#include <stdexcept>
#include <string>

namespace clipface::serve_detail {

namespace code {
// CompreFace's.
inline constexpr int undefined = 0;
inline constexpr int image_not_found = 11;
inline constexpr int missing_header = 20;
inline constexpr int unavailable_file = 21;
inline constexpr int validation = 26;
inline constexpr int no_faces = 28;
inline constexpr int too_many_faces = 31;
inline constexpr int missing_parameter = 33;
// clipface's.
inline constexpr int unauthorized = 101;
inline constexpr int forbidden = 102;
inline constexpr int subject_not_found = 103;
inline constexpr int subject_exists = 104;
inline constexpr int body_too_large = 105;
inline constexpr int unsupported_media = 106;
inline constexpr int busy = 107;
inline constexpr int no_route = 108;
inline constexpr int key_not_found = 109;
inline constexpr int model_mismatch = 110;
inline constexpr int internal = 111;
inline constexpr int unavailable = 112;
inline constexpr int file_not_found = 113;
}  // namespace code

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, int code, const std::string& message)
      : std::runtime_error(message), status_(status), code_(code) {}
  int status() const { return status_; }
  int code() const { return code_; }

 private:
  int status_;
  int code_;
};

// The library's exceptions as API errors: FaceCountError 400 (28 / 31), ImageError 400 (or 415
// for data that is no image format at all), InputError 400, a busy gallery 503, other
// GalleryError and ModelError 500, anything else 500.
ApiError to_api_error(const std::exception& e);

}  // namespace clipface::serve_detail
