// Typed exceptions thrown by the library. Apps catch `Error`, print what() on one line and
// exit with `exit_code()`, so scripts can tell a bad input from a broken model or gallery.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace clipface {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  virtual int exit_code() const noexcept { return 1; }
  // What is wrong, for a line that already names the input ("clipface: skipped PATH: REASON").
  virtual std::string reason() const { return what(); }
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
  ImageError(const std::string& image, const std::string& reason)
      : Error("cannot read image '" + image + "': " + reason), reason_(reason) {}
  int exit_code() const noexcept override { return 3; }
  std::string reason() const override { return reason_.empty() ? what() : reason_; }

 private:
  std::string reason_;
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

// --strict: some inputs of a call could not be used, so it did nothing at all. Carries every one
// of them, so the app lists each (path and reason) before its error line; exits with the first
// one's code.
class SkippedInputsError : public Error {
 public:
  struct Input {
    std::string path;
    std::string reason;
    int exit_code = 2;
  };
  SkippedInputsError(std::vector<Input> inputs, std::size_t total)
      : Error(std::to_string(inputs.size()) + " of " + std::to_string(total) +
              " inputs cannot be used (--strict); nothing was written"),
        inputs_(std::move(inputs)) {}
  int exit_code() const noexcept override {
    return inputs_.empty() ? 2 : inputs_.front().exit_code;
  }
  const std::vector<Input>& inputs() const noexcept { return inputs_; }

 private:
  std::vector<Input> inputs_;
};

}  // namespace clipface
