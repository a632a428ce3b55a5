// H.264 (libx264) through libavformat, because cv::VideoWriter (OpenCV 4.6) neither reports
// write errors nor passes muxer options: fragmented MP4 needs `movflags`.
#include "clipface/video_writer.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <string>

#include "clipface/errors.hpp"
#include "video/libav.hpp"

namespace clipface {

using namespace detail;

struct VideoWriter::Impl {
  std::filesystem::path path;
  VideoWriterOptions options;
  cv::Size size;  // encoded (even) size
  AVFormatContext* format = nullptr;
  AVStream* stream = nullptr;
  CodecContextPtr codec;
  AvFramePtr frame;
  PacketPtr packet;
  SwsPtr sws;
  std::int64_t frames = 0;
  std::int64_t last_pts = -1;
  bool header_written = false;
  bool closed = false;
  bool failed = false;
  cv::Mat resized;

  ~Impl() {
    codec.reset();
    if (format) {
      if (format->pb) avio_closep(&format->pb);
      avformat_free_context(format);
    }
  }

  [[noreturn]] void fail(const std::string& what, int code) {
    failed = true;
    throw InputError("cannot write " + path.string() + ": " + what +
                     (code ? " (" + av_error_text(code) + ")" : ""));
  }

  // Sends `f` (nullptr: flush) to the encoder and writes every packet it returns.
  void encode(AVFrame* f) {
    int r = avcodec_send_frame(codec.get(), f);
    if (r < 0) fail("encoding failed", r);
    while (true) {
      r = avcodec_receive_packet(codec.get(), packet.get());
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
      if (r < 0) fail("encoding failed", r);
      av_packet_rescale_ts(packet.get(), codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      r = av_interleaved_write_frame(format, packet.get());  // takes the packet's reference
      if (r < 0) fail("writing failed", r);
      // avio buffers; an error of the underlying write (ENOSPC) shows up here.
      if (format->pb && format->pb->error < 0) fail("writing failed", format->pb->error);
    }
  }
};

namespace {

constexpr int kTimeBase = 90000;  // the MPEG clock: exact for 24, 25, 30, 29.97 and 60 fps

const char* muxer_for(const std::filesystem::path& path, const std::string& container) {
  std::string ext = container.empty() ? path.extension().string() : "." + container;
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (ext == ".mp4" || ext == ".m4v") return "mp4";
  if (ext == ".mov") return "mov";
  if (ext == ".mkv") return "matroska";
  return nullptr;
}

}  // namespace

VideoWriter::VideoWriter(const std::filesystem::path& path, cv::Size size,
                         const VideoWriterOptions& options)
    : impl_(std::make_unique<Impl>()) {
  quiet_ffmpeg_log();
  Impl& w = *impl_;
  w.path = path;
  w.options = options;
  w.size = cv::Size(size.width & ~1, size.height & ~1);
  if (w.size.width < 2 || w.size.height < 2) {
    throw InputError("cannot write " + path.string() + ": frame size " +
                     std::to_string(size.width) + "x" + std::to_string(size.height));
  }
  const char* muxer = muxer_for(path, options.container);
  if (!muxer) {
    throw InputError("cannot write " + path.string() +
                     ": unknown video container (use .mp4, .mov or .mkv)");
  }
  int r = avformat_alloc_output_context2(&w.format, nullptr, muxer, path.c_str());
  if (r < 0 || !w.format)
    throw InputError("cannot write " + path.string() + ": " + av_error_text(r));

  const AVCodec* encoder = avcodec_find_encoder_by_name("libx264");
  if (!encoder) encoder = avcodec_find_encoder(AV_CODEC_ID_H264);
  if (!encoder) throw ModelError("FFmpeg has no H.264 encoder (install libavcodec with libx264)");
  w.stream = avformat_new_stream(w.format, nullptr);
  w.codec.reset(avcodec_alloc_context3(encoder));
  if (!w.stream || !w.codec) throw InputError("cannot write " + path.string() + ": out of memory");
  AVCodecContext* c = w.codec.get();
  const double fps = options.fps > 0 ? options.fps : 30;
  c->width = w.size.width;
  c->height = w.size.height;
  c->pix_fmt = AV_PIX_FMT_YUV420P;
  c->time_base = AVRational{1, kTimeBase};
  c->framerate = av_d2q(fps, 100000);
  c->gop_size = std::max(1, static_cast<int>(std::lround(fps * options.keyframe_seconds)));
  c->max_b_frames = 0;
  c->thread_count = 1;  // the pipeline's other stages use the cores
  c->color_range = AVCOL_RANGE_MPEG;
  c->colorspace = AVCOL_SPC_BT709;
  c->color_primaries = AVCOL_PRI_BT709;
  c->color_trc = AVCOL_TRC_BT709;
  if (w.format->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AvDictionary codec_options;
  codec_options.set("preset", options.preset);
  codec_options.set("tune", "zerolatency");  // no look-ahead: each frame leaves at once
  codec_options.set("crf", std::to_string(options.crf));
  r = avcodec_open2(c, encoder, codec_options.get());
  if (r < 0) throw ModelError("cannot open the H.264 encoder: " + av_error_text(r));
  r = avcodec_parameters_from_context(w.stream->codecpar, c);
  if (r < 0) throw InputError("cannot write " + path.string() + ": " + av_error_text(r));
  w.stream->time_base = c->time_base;

  r = avio_open(&w.format->pb, path.c_str(), AVIO_FLAG_WRITE);
  if (r < 0) throw InputError("cannot write " + path.string() + ": " + av_error_text(r));
  // Each packet reaches the file at once, not when avio's buffer fills, so a writer that dies
  // loses at most the fragment it was writing.
  w.format->flags |= AVFMT_FLAG_FLUSH_PACKETS;
  AvDictionary muxer_options;
  muxer_options.set("flush_packets", "1");
  if (std::string(muxer) != "matroska") {
    // Fragmented: playable up to the last fragment if the writer never gets to finish.
    muxer_options.set("movflags", "frag_keyframe+empty_moov+default_base_moof");
  }
  r = avformat_write_header(w.format, muxer_options.get());
  if (r < 0) w.fail("cannot write the header", r);
  w.header_written = true;

  w.frame.reset(av_frame_alloc());
  w.packet.reset(av_packet_alloc());
  w.frame->format = c->pix_fmt;
  w.frame->width = c->width;
  w.frame->height = c->height;
  if (!w.frame || !w.packet || av_frame_get_buffer(w.frame.get(), 0) < 0) {
    throw InputError("cannot write " + path.string() + ": out of memory");
  }
}

VideoWriter::~VideoWriter() {
  try {
    close();
  } catch (...) {
    // A destructor cannot report; callers who care call close().
  }
}

void VideoWriter::write(const cv::Mat& bgr, double time) {
  Impl& w = *impl_;
  if (w.closed) throw InputError("cannot write " + w.path.string() + ": already closed");
  if (w.failed) return;  // the error was reported by the call that failed
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    throw InputError("video frames must be 8-bit BGR images");
  }
  const cv::Mat* input = &bgr;
  if (bgr.size() != w.size) {
    if (bgr.cols - w.size.width <= 1 && bgr.rows - w.size.height <= 1 && bgr.cols >= w.size.width &&
        bgr.rows >= w.size.height) {
      w.resized = bgr(cv::Rect(0, 0, w.size.width, w.size.height));  // an odd side: crop a pixel
    } else {
      cv::resize(bgr, w.resized, w.size, 0, 0, cv::INTER_AREA);
    }
    input = &w.resized;
  }
  int r = av_frame_make_writable(w.frame.get());
  if (r < 0) w.fail("out of memory", r);
  w.sws.reset(sws_getCachedContext(w.sws.release(), w.size.width, w.size.height, AV_PIX_FMT_BGR24,
                                   w.size.width, w.size.height, AV_PIX_FMT_YUV420P, SWS_BILINEAR,
                                   nullptr, nullptr, nullptr));
  if (!w.sws) w.fail("cannot convert colours", 0);
  sws_setColorspaceDetails(w.sws.get(), sws_getCoefficients(SWS_CS_ITU709), 1,
                           sws_getCoefficients(SWS_CS_ITU709), 0, 0, 1 << 16, 1 << 16);
  const std::uint8_t* src[1] = {input->data};
  const int src_stride[1] = {static_cast<int>(input->step)};
  sws_scale(w.sws.get(), src, src_stride, 0, w.size.height, w.frame->data, w.frame->linesize);
  std::int64_t pts = std::llround(std::max(0.0, time) * kTimeBase);
  if (pts <= w.last_pts) pts = w.last_pts + 1;
  w.last_pts = pts;
  w.frame->pts = pts;
  w.encode(w.frame.get());
  ++w.frames;
}

void VideoWriter::close() {
  Impl& w = *impl_;
  if (w.closed) return;
  w.closed = true;
  if (!w.header_written || !w.format) return;
  if (!w.failed) {
    w.encode(nullptr);
    const int r = av_write_trailer(w.format);
    if (r < 0) w.fail("cannot finish the file", r);
  }
  if (w.format->pb) {
    avio_flush(w.format->pb);
    const int error = w.format->pb->error;
    avio_closep(&w.format->pb);
    if (error < 0 && !w.failed) w.fail("writing failed", error);
  }
}

std::int64_t VideoWriter::frames() const {
  return impl_->frames;
}
const std::filesystem::path& VideoWriter::path() const {
  return impl_->path;
}

}  // namespace clipface
