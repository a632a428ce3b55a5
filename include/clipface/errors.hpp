// Typed exceptions thrown by the library. Apps catch `Error`, print what() on one line and
// exit with `exit_code()`, so scripts can tell a bad input from a broken model or gallery.
#pragma once

#include <stdexcept>
#include <string>

namespace clipface {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  virtual int exit_code() const noexcept { return 1; }
};

// Bad arguments or data from the user: wrong options, malformed files, unknown names.
class InputError : public Error {
 public:
  using Error::Error;
  int exit_code() const noexcept override { return 2; }
};

// An image that cannot be read or decoded (missing, truncated, not an image, too large).
class ImageError : public Error {
 public:
  using Error::Error;
  int exit_code() const noexcept override { return 3; }
};

// A model file that is missing, corrupt, of the wrong kind or shape, or fails its checksum.
class ModelError : public Error {
 public:
  using Error::Error;
  int exit_code() const noexcept override { return 4; }
};

// A gallery that is missing, foreign, busy, read-only, inconsistent or of another model.
class GalleryError : public Error {
 public:
  using Error::Error;
  int exit_code() const noexcept override { return 5; }
};

// Network and download failures (model manager).
class DownloadError : public Error {
 public:
  using Error::Error;
  int exit_code() const noexcept override { return 6; }
};

}  // namespace clipface
