// `clipface serve`: a recognition service over a gallery. A REST API shaped like CompreFace's
// (its paths, parameters, multipart field `file`, key header `x-api-key` and response fields,
// with clipface's own fields beside them), API keys with scopes, an audit log, Prometheus
// metrics, live events (Server-Sent Events) with an MJPEG preview, an OpenAPI document, and a web
// page, all served by one binary on the same library the CLI uses. See docs/serve.md.
//
// Concurrency: searches run in parallel on an immutable snapshot of the gallery; writes go
// through the gallery's transactions and publish a new snapshot before they are answered, so no
// request sees half a write; the embeddings of concurrent requests are micro-batched.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "clipface/live_events.hpp"
#include "clipface/recognizer.hpp"
#include "clipface/watch.hpp"

namespace clipface {

// A video source the server runs through clipface watch's pipeline: its track events reach
// /api/v1/events (with `source` set to the name) and its annotated frames
// /api/v1/preview?source=NAME.
struct LiveSource {
  std::string name;  // letters, digits, '-', '_', '.'; "" = source_stem(spec)
  std::string spec;  // as `clipface watch` takes a SOURCE: file, camera, stream, images
};
// "NAME=SOURCE" or "SOURCE" (then named by source_stem). A SOURCE that is itself an existing
// path, or whose text before '=' is not a plain name (a URL's query), is taken whole.
LiveSource parse_live_source(const std::string& text);
// One parse_live_source() line each; blank lines and lines starting with '#' are ignored.
// InputError when the file cannot be read.
std::vector<LiveSource> read_live_sources(const std::filesystem::path& file);

// A source that could not be opened: what `clipface watch` would skip, with its exit code.
struct SkippedSource {
  std::string name, spec, reason;
  int exit_code = 2;
};

struct ServeOptions {
  std::filesystem::path gallery;
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 = any free port (see Server::port())
  // Both or neither: HTTPS with this PEM certificate (chain) and key.
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  // Serve without API keys even beyond loopback. Without it the server refuses to listen on a
  // non-loopback address while the gallery has no keys, and requires keys once any exists.
  bool no_auth = false;
  std::size_t max_body_bytes = 5u << 20;  // larger bodies get 413 before they are read
  int connections = 64;                   // connections served at once (one thread each)
  int read_timeout_s = 10;                // a client this slow to send is cut off
  int write_timeout_s = 10;
  int keep_alive_s = 5;
  // Detection and embedding. An empty embedder spec means the gallery's own model.
  PipelineOptions pipeline;
  bool micro_batching = true;
  int batch_wait_us = 2000;  // how long the first request of a batch waits for company
  int max_batch = 32;        // crops per batch
  // Development: serve the web page from this folder instead of the copy built into the binary.
  std::filesystem::path web_root;

  // Live sources, run from run() until stop() (files end on their own). Their detector is
  // pipeline.detector, their embedder the server's (micro-batched with the requests') and their
  // vote the gallery's rule; the rest of `watch` applies as in `clipface watch`. Sources that
  // cannot be opened are skipped (skipped_sources()); names must be unique (InputError).
  std::vector<LiveSource> sources;
  WatchOptions watch;
  // Each live source's end (file finished, stream lost, server stopped), for a log line.
  std::function<void(const std::string& name, const SourceReport& report)> on_source_end;
};

class Server {
 public:
  // Opens the gallery (for writing), its keys and audit log, and loads the models. InputError for
  // unusable options (TLS files, listening beyond loopback without keys or --no-auth), and the
  // gallery's or models' own errors.
  explicit Server(const ServeOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the address (InputError when it cannot); afterwards port() is the real port.
  void bind();
  int port() const;
  std::string url() const;  // http(s)://host:port
  bool auth_required() const;

  // Serves until stop(); returns once in-flight requests have finished and the gallery's index
  // is saved.
  void run();
  // Graceful: stops the live sources (their pipelines drain, their last events go out), stops
  // accepting, ends live streams, lets running requests finish. Safe from any
  // thread (e.g. a signal-watching one).
  void stop();

  // Where live events and preview frames enter the streams this server serves (/api/v1/events,
  // /api/v1/preview?source=NAME): the REST API's recognize publishes there as source "api", and
  // a video pipeline run beside the server (clipface watch's) publishes its sources' events and
  // annotated frames the same way. Thread-safe; valid while the server lives.
  LiveEventSink& live_events();
  // The live sources that could not be opened (the others run).
  const std::vector<SkippedSource>& skipped_sources() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// For a program that serves until SIGTERM or SIGINT: while it lives, those signals stop the
// server given to stop_on_signal() gracefully instead of killing the process.
class TerminationSignals {
 public:
  TerminationSignals();
  ~TerminationSignals();
  // Starts a thread that waits for SIGTERM or SIGINT and then calls server.stop().
  void stop_on_signal(Server& server);
  int received() const;  // the signal that arrived, 0 if none

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clipface
