// Small RAII helpers around FFmpeg's C structures, shared by the decoder and the encoder.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include <memory>
#include <string>

namespace clipface::detail {

// FFmpeg's message for an error code ("No space left on device", "Invalid data found ...").
std::string av_error_text(int code);

// FFmpeg prints its own diagnostics on stderr; clipface reports problems itself, one line each,
// so the library's log is silenced unless CLIPFACE_FFMPEG_LOG=1 (for debugging).
void quiet_ffmpeg_log();

struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using AvFramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;

// An AVDictionary freed on scope exit.
class AvDictionary {
 public:
  AvDictionary() = default;
  ~AvDictionary() { av_dict_free(&dict_); }
  AvDictionary(const AvDictionary&) = delete;
  AvDictionary& operator=(const AvDictionary&) = delete;
  void set(const char* key, const std::string& value) {
    av_dict_set(&dict_, key, value.c_str(), 0);
  }
  AVDictionary** get() { return &dict_; }

 private:
  AVDictionary* dict_ = nullptr;
};

}  // namespace clipface::detail
