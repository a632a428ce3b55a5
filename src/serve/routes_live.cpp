// Live events as Server-Sent Events, and each source's annotated frames as an MJPEG preview.
// Both are long responses: they end when the client goes or the server stops (EventHub::close).
#include <chrono>
#include <memory>

#include "serve/routes.hpp"

namespace clipface::serve_detail {
namespace {

constexpr auto kHeartbeat = std::chrono::seconds(15);
constexpr auto kPoll = std::chrono::milliseconds(1000);  // how often a stream looks at shutdown
constexpr auto kNoWait = std::chrono::milliseconds(0);

void events(Service& s, Call& c) {
  struct Stream {
    std::int64_t cursor;
    std::chrono::steady_clock::time_point last_write;
    bool opened = false;
  };
  // Resumes after the client's Last-Event-ID (EventSource sends it when reconnecting);
  // otherwise starts with what happens from now on.
  std::int64_t cursor = s.events().last_id();
  if (c.req.has_header("Last-Event-ID")) {
    try {
      cursor = std::stoll(c.req.get_header_value("Last-Event-ID"));
    } catch (const std::exception&) {
    }
  }
  auto stream = std::make_shared<Stream>(Stream{cursor, std::chrono::steady_clock::now()});
  EventHub* hub = &s.events();
  hub->add_subscriber(1);
  c.res.set_header("Cache-Control", "no-store");
  c.res.set_header("X-Accel-Buffering", "no");
  c.res.set_chunked_content_provider(
      "text/event-stream",
      [hub, stream](std::size_t, httplib::DataSink& sink) {
        if (!stream->opened) {
          stream->opened = true;
          const std::string hello = "retry: 2000\n: connected\n\n";
          return sink.write(hello.data(), hello.size());
        }
        // Once closed, what was published before (a stopped source's last track_ended) still
        // goes out, then the stream ends.
        const bool closing = hub->closed();
        std::string out;
        for (const auto& e : hub->wait_events(stream->cursor, closing ? kNoWait : kPoll)) {
          out += "id: " + std::to_string(e.id) + "\nevent: " + e.event.type +
                 "\ndata: " + e.event.data + "\n\n";
          stream->cursor = e.id;
        }
        if (closing) {
          if (!out.empty()) sink.write(out.data(), out.size());
          sink.done();
          return true;
        }
        const auto now = std::chrono::steady_clock::now();
        if (out.empty() && now - stream->last_write > kHeartbeat) out = ": keep-alive\n\n";
        if (out.empty()) return sink.is_writable();
        stream->last_write = now;
        return sink.write(out.data(), out.size());
      },
      [hub](bool) { hub->add_subscriber(-1); });
}

void preview(Service& s, Call& c) {
  const std::string source = string_param(c.req, "source", "api");
  EventHub* hub = &s.events();
  hub->watch(source, 1);
  auto cursor = std::make_shared<std::int64_t>(-1);  // -1: the opening boundary not sent yet
  c.res.set_header("Cache-Control", "no-store");
  c.res.set_chunked_content_provider(
      "multipart/x-mixed-replace; boundary=frame",
      [hub, source, cursor](std::size_t, httplib::DataSink& sink) {
        if (*cursor < 0) {
          *cursor = 0;
          return sink.write("--frame\r\n", 9);
        }
        if (hub->closed()) {
          sink.done();
          return true;
        }
        const auto frame = hub->wait_frame(source, *cursor, kPoll);
        if (!frame) return sink.is_writable();
        *cursor = frame->first;
        // Each frame ends with the next boundary: browsers show a part once they see its end.
        const std::string head =
            "Content-Type: image/jpeg\r\nContent-Length: " + std::to_string(frame->second.size()) +
            "\r\n\r\n";
        const std::string tail = "\r\n--frame\r\n";
        return sink.write(head.data(), head.size()) &&
               sink.write(frame->second.data(), frame->second.size()) &&
               sink.write(tail.data(), tail.size());
      },
      [hub, source](bool) { hub->watch(source, -1); });
}

}  // namespace

std::vector<Route> live_routes(Service& s) {
  Route ev{"GET", "/api/v1/events", Scope::recognize, [&s](Call& c) { events(s, c); }};
  ev.key_in_query = true;
  Route pv{"GET", "/api/v1/preview", Scope::recognize, [&s](Call& c) { preview(s, c); }};
  pv.key_in_query = true;
  return {ev, pv};
}

}  // namespace clipface::serve_detail
