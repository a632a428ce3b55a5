// Video files and network streams decoded with libavformat/libavcodec. Directly rather than
// through cv::VideoCapture, whose FFmpeg wrapper (OpenCV 4.6) stops at the first undecodable
// packet, reports no timestamps for the frames drained at the end, and cannot be interrupted
// while a stream stalls. Here every packet that fails to decode is skipped and counted, a
// blocking read returns as soon as interrupt() is called or the read timeout passes, and a
// stream that drops reconnects with bounded back-off.
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "clipface/errors.hpp"
#include "video/libav.hpp"
#include "video/sources.hpp"

namespace clipface::detail {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class LibavSource final : public FrameSource {
 public:
  LibavSource(std::string spec, SourceKind kind, SourceOptions options)
      : spec_(std::move(spec)), kind_(kind), options_(std::move(options)) {
    quiet_ffmpeg_log();
    info_.name = spec_;
    info_.kind = kind_;
    info_.live = kind_ == SourceKind::stream || options_.realtime;
    if (kind_ == SourceKind::file) {
      std::error_code ec;
      if (!std::filesystem::exists(spec_, ec)) {
        throw ImageError("cannot open video " + spec_ + ": no such file");
      }
      if (std::filesystem::is_directory(spec_, ec)) {
        throw ImageError("cannot open video " + spec_ + ": is a folder");
      }
    }
    std::string error;
    if (!open_input(&error)) {
      // A stream that never connected is most likely a wrong address: say so at once.
      if (kind_ == SourceKind::stream)
        throw DownloadError("cannot open stream " + spec_ + ": " + error);
      throw ImageError("cannot open video " + spec_ + ": " + error);
    }
    opened_at_ = Clock::now();
  }

  ~LibavSource() override { close_input(); }

  const SourceInfo& info() const override { return info_; }
  SourceStats stats() const override { return stats_.get(); }
  void interrupt() override { interrupted_ = true; }

  std::optional<VideoFrame> next() override {
    while (true) {
      if (interrupted_) {
        stats_.end(SourceEnd::stopped);
        return std::nullopt;
      }
      if (format_) {
        if (auto frame = decode_next()) {
          if (options_.realtime && !pace(frame->time)) continue;  // interrupted while pacing
          stats_.update([](SourceStats& s) { ++s.frames; });
          return frame;
        }
      }
      if (interrupted_) continue;
      // The input has ended.
      if (kind_ == SourceKind::file) {
        finish_file();
        return std::nullopt;
      }
      if (!reconnect()) return std::nullopt;
    }
  }

 private:
  static int interrupt_callback(void* opaque) {
    auto* self = static_cast<LibavSource*>(opaque);
    if (self->interrupted_) return 1;
    const std::int64_t deadline = self->deadline_ns_.load();
    return deadline != 0 && Clock::now().time_since_epoch().count() > deadline ? 1 : 0;
  }

  // Blocking I/O after this must finish within `seconds` (streams only; files never stall).
  void arm_deadline(double seconds) {
    if (kind_ != SourceKind::stream || seconds <= 0) {
      deadline_ns_ = 0;
      return;
    }
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(seconds));
    deadline_ns_ = deadline.time_since_epoch().count();
  }

  bool open_input(std::string* error) {
    close_input();
    format_ = avformat_alloc_context();
    if (!format_) {
      *error = "out of memory";
      return false;
    }
    format_->interrupt_callback.callback = &LibavSource::interrupt_callback;
    format_->interrupt_callback.opaque = this;
    AvDictionary options;
    if (kind_ == SourceKind::stream) {
      // Start quickly: a live source is probed for half a second of video at most. (Not
      // AVFMT_FLAG_NOBUFFER: it discards the packets read while probing, keyframe included.)
      options.set("probesize", "500000");
      options.set("analyzeduration", "500000");
      if (spec_.rfind("rtsp", 0) == 0) options.set("rtsp_transport", "tcp");
    }
    arm_deadline(options_.open_timeout);
    int r = avformat_open_input(&format_, spec_.c_str(), nullptr, options.get());
    if (r < 0) {
      format_ = nullptr;  // freed by avformat_open_input on failure
      *error = open_error_text(r);
      return false;
    }
    r = avformat_find_stream_info(format_, nullptr);
    if (r >= 0 && interrupt_callback(this)) r = AVERROR_EXIT;  // it returns what it has so far
    if (r < 0) {
      *error = "cannot read stream information: " + open_error_text(r);
      close_input();
      return false;
    }
    const AVCodec* decoder = nullptr;
    stream_ = av_find_best_stream(format_, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
    if (stream_ < 0 || !decoder) {
      *error = stream_ == AVERROR_DECODER_NOT_FOUND ? "no decoder for its video codec"
                                                    : "no video stream";
      close_input();
      return false;
    }
    AVStream* stream = format_->streams[stream_];
    codec_.reset(avcodec_alloc_context3(decoder));
    if (!codec_ || avcodec_parameters_to_context(codec_.get(), stream->codecpar) < 0) {
      *error = "cannot set up the decoder";
      close_input();
      return false;
    }
    // One decoding thread: decoding costs 1-3 ms a frame, and frame threads would add a frame of
    // latency per thread while competing with detection for the same cores.
    codec_->thread_count = 1;
    codec_->pkt_timebase = stream->time_base;
    r = avcodec_open2(codec_.get(), decoder, nullptr);
    if (r < 0) {
      *error = "cannot open the " + std::string(decoder->name) + " decoder: " + av_error_text(r);
      close_input();
      return false;
    }
    packet_.reset(av_packet_alloc());
    frame_.reset(av_frame_alloc());
    draining_ = false;
    stall_errors_ = 0;
    read_error_ = 0;
    time_base_ = av_q2d(stream->time_base);
    start_pts_ = stream->start_time != AV_NOPTS_VALUE ? stream->start_time : 0;

    if (info_.size.empty()) {  // the first open describes the source; reconnects keep it
      info_.size = cv::Size(stream->codecpar->width, stream->codecpar->height);
      const AVRational rate = av_guess_frame_rate(format_, stream, nullptr);
      info_.fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0;
      if (kind_ == SourceKind::file) {
        if (format_->duration > 0) info_.duration = format_->duration / double(AV_TIME_BASE);
        if (stream->duration > 0) info_.duration = stream->duration * time_base_;
        if (stream->nb_frames > 0) {
          info_.frame_count = stream->nb_frames;
        } else if (info_.duration > 0 && info_.fps > 0) {
          info_.frame_count = std::llround(info_.duration * info_.fps);
        }
      }
    }
    return true;
  }

  std::string open_error_text(int code) const {
    if (code == AVERROR_EXIT && interrupted_) return "interrupted";
    if (code == AVERROR_EXIT) return "timed out";
    if (code == AVERROR_INVALIDDATA && kind_ == SourceKind::file) {
      return "not a video file, or damaged (for MP4: truncated before its index)";
    }
    return av_error_text(code);
  }

  void close_input() {
    codec_.reset();
    sws_.reset();
    if (format_) avformat_close_input(&format_);
    format_ = nullptr;
  }

  void skip_frame(const std::string& reason) {
    const std::int64_t index = next_index_++;
    stats_.update([](SourceStats& s) { ++s.corrupt; });
    if (options_.on_skip) options_.on_skip("frame " + std::to_string(index), reason);
  }

  // The next good frame of the open input, nullopt when it has ended (or on interrupt).
  std::optional<VideoFrame> decode_next() {
    while (!interrupted_) {
      int r = avcodec_receive_frame(codec_.get(), frame_.get());
      if (r == 0) {
        const bool damaged = (frame_->flags & AV_FRAME_FLAG_CORRUPT) || frame_->decode_error_flags;
        if (damaged) {
          av_frame_unref(frame_.get());
          skip_frame("damaged frame (decoding errors)");
          continue;
        }
        VideoFrame out = convert();
        av_frame_unref(frame_.get());
        return out;
      }
      if (r == AVERROR_EOF) return std::nullopt;
      if (r != AVERROR(EAGAIN)) {
        skip_frame("cannot decode: " + av_error_text(r));
        if (++stall_errors_ > kMaxErrorsWithoutFrame) return std::nullopt;
        continue;
      }
      if (draining_) return std::nullopt;
      arm_deadline(options_.read_timeout);
      r = av_read_frame(format_, packet_.get());
      if (r < 0) {
        // End of input, a damaged tail or (streams) a disconnect/stall: drain what is decoded.
        read_error_ = r;
        draining_ = true;
        avcodec_send_packet(codec_.get(), nullptr);
        continue;
      }
      if (packet_->stream_index != stream_) {
        av_packet_unref(packet_.get());
        continue;
      }
      r = avcodec_send_packet(codec_.get(), packet_.get());
      av_packet_unref(packet_.get());
      if (r < 0 && r != AVERROR(EAGAIN)) {
        skip_frame("cannot decode: " + av_error_text(r));
        if (++stall_errors_ > kMaxErrorsWithoutFrame) return std::nullopt;
      }
    }
    return std::nullopt;
  }

  VideoFrame convert() {
    const int w = frame_->width, h = frame_->height;
    sws_.reset(sws_getCachedContext(sws_.release(), w, h,
                                    static_cast<AVPixelFormat>(frame_->format), w, h,
                                    AV_PIX_FMT_BGR24, SWS_BILINEAR, nullptr, nullptr, nullptr));
    VideoFrame out;
    out.image.create(h, w, CV_8UC3);
    if (sws_) {
      // The source's colour matrix and range (BT.709 for most HD video), not swscale's BT.601.
      const int space =
          frame_->colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : frame_->colorspace;
      const int* coefficients = sws_getCoefficients(space);
      const int full_range = frame_->color_range == AVCOL_RANGE_JPEG ? 1 : 0;
      sws_setColorspaceDetails(sws_.get(), coefficients, full_range, coefficients, 1, 0, 1 << 16,
                               1 << 16);
      std::uint8_t* dst[1] = {out.image.data};
      const int dst_stride[1] = {static_cast<int>(out.image.step)};
      sws_scale(sws_.get(), frame_->data, frame_->linesize, 0, h, dst, dst_stride);
    } else {
      out.image.setTo(cv::Scalar::all(0));
    }
    out.index = next_index_++;
    stall_errors_ = 0;
    out.decoded = Clock::now();
    if (kind_ == SourceKind::stream) {
      out.time = seconds_since(opened_at_);
    } else if (frame_->best_effort_timestamp != AV_NOPTS_VALUE) {
      out.time = (frame_->best_effort_timestamp - start_pts_) * time_base_;
    } else {
      out.time = info_.fps > 0 ? out.index / info_.fps : 0;
    }
    if (info_.size.empty()) info_.size = out.image.size();
    return out;
  }

  // Holds a realtime file's frame until its time has come; false when interrupted meanwhile.
  bool pace(double frame_time) {
    if (!first_time_) {  // the clock starts with the first frame asked for, not at opening
      first_time_ = frame_time;
      pace_origin_ = Clock::now();
    }
    const auto due = pace_origin_ + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(frame_time - *first_time_));
    while (Clock::now() < due) {
      if (interrupted_) return false;
      std::this_thread::sleep_for(
          std::min<Clock::duration>(due - Clock::now(), std::chrono::milliseconds(20)));
    }
    return true;
  }

  void finish_file() {
    const SourceStats s = stats_.get();
    const std::int64_t seen = s.frames + s.corrupt;
    if (read_error_ != 0 && read_error_ != AVERROR_EOF) {
      stats_.end(SourceEnd::truncated, "the file is damaged after frame " + std::to_string(seen) +
                                           " (" + av_error_text(read_error_) + ")");
    } else if (info_.frame_count > 0 && seen < info_.frame_count * 98 / 100) {
      stats_.end(SourceEnd::truncated, "the file ends after " + std::to_string(seen) + " of " +
                                           std::to_string(info_.frame_count) +
                                           " frames (truncated)");
    } else {
      stats_.end(SourceEnd::finished);
    }
    close_input();
  }

  // Reopens a stream after it ended or stalled, waiting longer before each try. False (and the
  // source ends as lost) when every attempt failed or interrupt() came first.
  bool reconnect() {
    const std::string why =
        read_error_ == AVERROR_EXIT
            ? "stalled (no data for " + format_seconds(options_.read_timeout) + ")"
        : read_error_ == AVERROR_EOF ? "ended"
        : read_error_ != 0           ? av_error_text(read_error_)
                                     : "stopped sending frames";
    close_input();
    double delay = options_.reconnect_delay;
    std::string error;
    for (int attempt = 1; attempt <= options_.reconnect_attempts; ++attempt) {
      const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(delay));
      while (Clock::now() < until) {
        if (interrupted_) {
          stats_.end(SourceEnd::stopped);
          return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (open_input(&error)) {
        stats_.update([](SourceStats& s) { ++s.reconnects; });
        return true;
      }
      if (interrupted_) {
        stats_.end(SourceEnd::stopped);
        return false;
      }
      delay = std::min(2 * delay, options_.reconnect_max_delay);
    }
    stats_.end(SourceEnd::lost,
               "stream " + why + "; " + std::to_string(options_.reconnect_attempts) +
                   " reconnection attempts failed (last: " + (error.empty() ? "none made" : error) +
                   ")");
    return false;
  }

  static std::string format_seconds(double s) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3g s", s);
    return text;
  }

  static constexpr int kMaxErrorsWithoutFrame = 500;  // a decoder that only fails: give up

  std::string spec_;
  SourceKind kind_;
  SourceOptions options_;
  SourceInfo info_;
  StatsKeeper stats_;

  AVFormatContext* format_ = nullptr;
  CodecContextPtr codec_;
  PacketPtr packet_;
  AvFramePtr frame_;
  SwsPtr sws_;
  int stream_ = -1;
  bool draining_ = false;
  int read_error_ = 0;
  int stall_errors_ = 0;
  double time_base_ = 0;
  std::int64_t start_pts_ = 0;
  std::int64_t next_index_ = 0;
  std::optional<double> first_time_;
  Clock::time_point opened_at_ = Clock::now();
  Clock::time_point pace_origin_;
  std::atomic<bool> interrupted_{false};
  std::atomic<std::int64_t> deadline_ns_{0};
};

}  // namespace

std::unique_ptr<FrameSource> open_libav_source(const std::string& spec, SourceKind kind,
                                               const SourceOptions& options) {
  return std::make_unique<LibavSource>(spec, kind, options);
}

}  // namespace clipface::detail
