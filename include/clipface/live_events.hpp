// Live events of a recognition service: what the service saw (faces named in an uploaded photo,
// later faces tracked in camera streams), streamed to clients as Server-Sent Events, and
// annotated frames per source for an MJPEG preview. Producers (the REST API's recognize today, the
// video pipeline of `clipface watch` once it is wired in) publish through this interface; they
// never see the HTTP side.
#pragma once

#include <opencv2/core.hpp>
#include <string>

namespace clipface {

struct LiveEvent {
  std::string type;    // e.g. "recognition"
  std::string source;  // e.g. "api", or a camera's name
  std::string data;    // a JSON object (names, scores, boxes; never images or embeddings)
};

class LiveEventSink {
 public:
  virtual ~LiveEventSink() = default;
  virtual void publish(const LiveEvent& event) = 0;
  // Whether anyone watches this source's preview: producers skip drawing frames otherwise.
  virtual bool wants_frames(const std::string& source) const = 0;
  // An annotated 8-bit BGR frame of a source, for its preview.
  virtual void publish_frame(const std::string& source, const cv::Mat& frame) = 0;
};

}  // namespace clipface
