// clipface serve GALLERY [--listen HOST:PORT] [--tls-cert C --tls-key K] [--no-auth] ...: the
// recognition service (REST API, web page, live events) until SIGTERM or SIGINT. With --source,
// video sources run through clipface watch's pipeline beside it, into its events and previews.
#include <cstdio>
#include <fstream>

#include "clipface/errors.hpp"
#include "clipface/gallery.hpp"
#include "clipface/serve.hpp"
#include "command.hpp"
#include "pipeline_args.hpp"

namespace clipface::app {
namespace {

struct ServeArgs {
  std::string gallery;
  std::string listen = "127.0.0.1:8080";
  std::string tls_cert, tls_key;
  bool no_auth = false;
  std::string max_body = "5MB";
  int connections = 64;
  int read_timeout = 10;
  bool no_batching = false;
  double batch_wait_ms = 2;
  int max_batch = 32;
  std::string web_root;
  std::string port_file;
  PipelineArgs pipeline;
  std::vector<std::string> sources;  // [NAME=]SOURCE
  std::string sources_file;
  bool strict = false;
  bool realtime = false;
  int every = 1;
  double max_fps = 0;
};

// "127.0.0.1:8080", "[::1]:8080", ":8080" (loopback), "0.0.0.0:0" (any free port).
std::pair<std::string, int> parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw InputError("--listen wants HOST:PORT, not '" + text + "'");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  const std::string port = text.substr(colon + 1);
  std::size_t used = 0;
  int value = -1;
  try {
    value = std::stoi(port, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (port.empty() || used != port.size() || value < 0 || value > 65535) {
    throw InputError("--listen: '" + port + "' is not a port (0-65535)");
  }
  return {host, value};
}

// "5MB", "512KB", "1048576", "2M".
std::size_t parse_size(const std::string& text) {
  std::size_t used = 0;
  double value = -1;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  for (auto& c : unit) c = static_cast<char>(std::toupper(c));
  const double scale = unit.empty() || unit == "B"   ? 1
                       : unit == "K" || unit == "KB" ? 1024.0
                       : unit == "M" || unit == "MB" ? 1024.0 * 1024
                       : unit == "G" || unit == "GB" ? 1024.0 * 1024 * 1024
                                                     : -1;
  if (used == 0 || value <= 0 || scale < 0) {
    throw InputError("--max-body: '" + text + "' is not a size (e.g. 5MB, 512KB, 1048576)");
  }
  return static_cast<std::size_t>(value * scale);
}

const bool registered = register_command(
    "serve", "run the recognition service: REST API, web page, live events", [](CLI::App& app) {
      auto args = std::make_shared<ServeArgs>();
      app.add_option("gallery", args->gallery, "gallery folder")->required();
      app.add_option("--listen", args->listen,
                     "address to listen on, HOST:PORT (port 0 = any free one)")
          ->capture_default_str();
      app.add_option("--tls-cert", args->tls_cert, "PEM certificate (chain): serve HTTPS");
      app.add_option("--tls-key", args->tls_key, "PEM private key of --tls-cert");
      app.add_flag("--no-auth", args->no_auth,
                   "serve without API keys, even beyond loopback (otherwise keys are required "
                   "once any exists, and always beyond loopback)");
      app.add_option("--max-body", args->max_body, "largest request body (e.g. 5MB)")
          ->capture_default_str();
      app.add_option("--connections", args->connections, "connections served at once")
          ->check(CLI::Range(2, 4096))
          ->capture_default_str();
      app.add_option("--read-timeout", args->read_timeout,
                     "seconds a client may take to send a request")
          ->check(CLI::Range(1, 3600))
          ->capture_default_str();
      app.add_flag("--no-batching", args->no_batching,
                   "embed each request on its own (no micro-batching across requests)");
      app.add_option("--batch-wait-ms", args->batch_wait_ms,
                     "how long the first face of a batch waits for others")
          ->check(CLI::Range(0.0, 100.0))
          ->capture_default_str();
      app.add_option("--max-batch", args->max_batch, "face crops per embedding batch")
          ->check(CLI::Range(1, 1024))
          ->capture_default_str();
      app.add_option("--web-root", args->web_root,
                     "serve the web page from this folder instead of the built-in copy");
      app.add_option("--port-file", args->port_file,
                     "write the port listened on to this file once listening (for scripts)");
      args->pipeline.add_to(app);
      app.add_option("--source", args->sources,
                     "[NAME=]SOURCE (repeatable): a video file, camera, stream or image folder as "
                     "`clipface watch` takes, run live; its events reach /api/v1/events and its "
                     "annotated frames /api/v1/preview?source=NAME");
      app.add_option("--sources", args->sources_file,
                     "a file of [NAME=]SOURCE lines (# comments), added to --source");
      app.add_flag("--strict", args->strict, "refuse to start if a source cannot be opened");
      app.add_flag("--realtime", args->realtime,
                   "read video files at their frame rate, like a camera (frames may be dropped)");
      app.add_option("--every", args->every, "sources: process every Nth frame")
          ->check(CLI::PositiveNumber);
      app.add_option("--max-fps", args->max_fps,
                     "sources: process at most F frames per second of video")
          ->check(CLI::NonNegativeNumber);
      return [args]() {
        TerminationSignals signals;  // from here on SIGTERM / SIGINT stop the server gracefully
        ServeOptions o;
        o.gallery = args->gallery;
        std::tie(o.host, o.port) = parse_listen(args->listen);
        o.tls_cert = args->tls_cert;
        o.tls_key = args->tls_key;
        o.no_auth = args->no_auth;
        o.max_body_bytes = parse_size(args->max_body);
        o.connections = args->connections;
        o.read_timeout_s = args->read_timeout;
        o.micro_batching = !args->no_batching;
        o.batch_wait_us = static_cast<int>(args->batch_wait_ms * 1000);
        o.max_batch = args->max_batch;
        o.web_root = args->web_root;
        for (const std::string& text : args->sources) o.sources.push_back(parse_live_source(text));
        if (!args->sources_file.empty()) {
          for (auto& source : read_live_sources(args->sources_file)) o.sources.push_back(source);
        }
        o.watch.every = args->every;
        o.watch.max_fps = args->max_fps;
        o.watch.source.realtime = args->realtime;
        o.watch.source.on_skip = [](const std::string& what, const std::string& reason) {
          std::fprintf(stderr, "clipface: skipped %s: %s\n", what.c_str(), reason.c_str());
        };
        o.on_source_end = [](const std::string& name, const SourceReport& r) {
          const std::string how = !r.stats.message.empty()            ? r.stats.message
                                  : r.stats.end == SourceEnd::stopped ? "stopped"
                                                                      : "finished";
          std::fprintf(stderr, "clipface: source %s ended (%s): %lld frames, %d track%s\n",
                       name.c_str(), how.c_str(), static_cast<long long>(r.processed), r.tracks,
                       r.tracks == 1 ? "" : "s");
        };
        {
          // The embedding space is the gallery's: read it without loading the index twice.
          const Gallery gallery = Gallery::open(args->gallery, GalleryMode::read);
          o.pipeline = args->pipeline.options(embedder_spec_for(gallery.model()),
                                              gallery.model().crop_style);
        }
        Server server(o);
        // As clipface watch: each source that cannot be opened gets one line and the rest run;
        // with --strict the server does not start.
        const auto& skipped = server.skipped_sources();
        for (const SkippedSource& s : skipped) {
          std::fprintf(stderr, "clipface: skipped %s: %s\n", s.spec.c_str(), s.reason.c_str());
        }
        if (args->strict && !skipped.empty()) {
          std::fprintf(stderr,
                       "clipface: error: %zu of %zu sources cannot be used (--strict); not "
                       "serving\n",
                       skipped.size(), o.sources.size());
          return skipped.front().exit_code;
        }
        server.bind();
        signals.stop_on_signal(server);
        if (!args->port_file.empty()) {
          std::ofstream(args->port_file) << server.port() << '\n';
        }
        std::fprintf(stderr, "clipface: serving %s at %s (API keys %s); stop with Ctrl-C\n",
                     args->gallery.c_str(), server.url().c_str(),
                     server.auth_required() ? "required" : "not required");
        server.run();
        if (signals.received() != 0) {
          std::fprintf(stderr, "clipface: stopped (signal %d), every request answered\n",
                       signals.received());
        }
        return 0;
      };
    });

}  // namespace
}  // namespace clipface::app
