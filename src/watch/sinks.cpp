#include <opencv2/imgcodecs.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "clipface/errors.hpp"
#include "clipface/watch_sinks.hpp"

namespace clipface {
namespace fs = std::filesystem;

JsonLinesSink::JsonLinesSink(std::FILE* out, std::string name, bool frames)
    : out_(out), name_(std::move(name)), frames_(frames) {}

std::shared_ptr<JsonLinesSink> JsonLinesSink::open(const fs::path& path, bool frames) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw InputError("cannot write " + path.string() + ": " + std::strerror(errno));
  auto sink = std::make_shared<JsonLinesSink>(f, path.string(), frames);
  sink->owned_ = true;
  return sink;
}

JsonLinesSink::~JsonLinesSink() {
  if (owned_) std::fclose(out_);
}

void JsonLinesSink::write_line(const std::string& line) {
  std::lock_guard lock(mutex_);
  if (failed_) return;  // reported once, by the write that failed
  // One write per line and a flush, so readers (tail -f, a pipe) always see whole lines.
  const std::string text = line + '\n';
  const long before = std::ftell(out_);  // -1 for pipes and terminals
  errno = 0;
  if (std::fwrite(text.data(), 1, text.size(), out_) != text.size() || std::fflush(out_) != 0) {
    const int error = errno;
    failed_ = true;
    // A full disk may have taken part of the line: cut the file back to its last whole line.
    if (before >= 0) {
      if (::ftruncate(::fileno(out_), before) != 0) {
        // Nothing more can be done; the message below says what happened.
      }
    }
    std::clearerr(out_);
    throw InputError("cannot write " + name_ + ": " +
                     (error ? std::strerror(error) : "write failed"));
  }
}

void JsonLinesSink::event(const WatchEvent& event) {
  write_line(to_json(event));
}

void JsonLinesSink::frame(const WatchFrame& frame, const cv::Mat&, const cv::Mat&) {
  if (frames_) write_line(to_json(frame));
}

AnnotatedVideoSink::AnnotatedVideoSink(fs::path path, VideoWriterOptions options)
    : path_(std::move(path)), options_(std::move(options)) {}

void AnnotatedVideoSink::begin(int, const SourceInfo& info) {
  if (writer_) throw InputError("an annotated video (" + path_.string() + ") serves one source");
  if (info.fps > 0) options_.fps = info.fps;
  if (!info.size.empty()) writer_ = std::make_unique<VideoWriter>(path_, info.size, options_);
}

void AnnotatedVideoSink::frame(const WatchFrame& frame, const cv::Mat&, const cv::Mat& annotated) {
  if (!writer_) writer_ = std::make_unique<VideoWriter>(path_, annotated.size(), options_);
  writer_->write(annotated, frame.time);
}

void AnnotatedVideoSink::end(int, const SourceReport&) {
  if (writer_) writer_->close();
}

std::int64_t AnnotatedVideoSink::frames() const {
  return writer_ ? writer_->frames() : 0;
}

SnapshotSink::SnapshotSink(fs::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec || !fs::is_directory(dir_)) {
    throw InputError("cannot create " + dir_.string() + ": " +
                     (ec ? ec.message() : "not a folder"));
  }
}

void SnapshotSink::begin(int source, const SourceInfo& info) {
  std::lock_guard lock(mutex_);
  std::string stem = source_stem(info.name);
  for (int n = 2;
       std::any_of(stems_.begin(), stems_.end(), [&](const auto& s) { return s.second == stem; });
       ++n) {
    stem = source_stem(info.name) + "-" + std::to_string(n);
  }
  stems_[source] = stem;
}

void SnapshotSink::frame(const WatchFrame& frame, const cv::Mat& image, const cv::Mat&) {
  std::lock_guard lock(mutex_);
  for (const WatchFace& face : frame.faces) {
    Best& best = best_[{frame.source, face.track}];
    if (face.quality <= best.quality) continue;
    // The face with a third of its size around it, as people expect a portrait.
    const cv::Rect2f& b = face.box_raw;
    const cv::Rect2f wide(b.x - b.width / 3, b.y - b.height / 3, b.width * 5 / 3, b.height * 5 / 3);
    const cv::Rect region = cv::Rect(wide) & cv::Rect(cv::Point(), image.size());
    if (region.empty()) continue;
    best.quality = face.quality;
    best.crop = image(region).clone();
  }
}

void SnapshotSink::event(const WatchEvent& event) {
  if (event.kind != WatchEventKind::track_ended) return;
  std::lock_guard lock(mutex_);
  const auto it = best_.find({event.source, event.track});
  if (it == best_.end() || it->second.crop.empty()) return;
  std::string label = event.label;
  for (char& c : label) {
    if (c == '/' || c == '\\' || std::isspace(static_cast<unsigned char>(c))) c = '_';
  }
  const fs::path path =
      dir_ / (stems_[event.source] + "-track" + std::to_string(event.track) + "-" + label + ".jpg");
  if (!cv::imwrite(path.string(), it->second.crop)) {
    throw InputError("cannot write " + path.string() + " (disk full or not writable?)");
  }
  written_.push_back(path);
  best_.erase(it);
}

std::vector<fs::path> SnapshotSink::written() const {
  std::lock_guard lock(mutex_);
  return written_;
}

}  // namespace clipface
