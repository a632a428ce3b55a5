#include "video/libav.hpp"

#include <cstdlib>
#include <mutex>

namespace clipface::detail {

std::string av_error_text(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof text);
  return text;
}

void quiet_ffmpeg_log() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* verbose = std::getenv("CLIPFACE_FFMPEG_LOG");
    av_log_set_level(verbose && *verbose == '1' ? AV_LOG_WARNING : AV_LOG_QUIET);
  });
}

}  // namespace clipface::detail
