// The HTTP side: cpp-httplib (Debian's libcpp-httplib, with OpenSSL for HTTPS) carries the route
// table of routes.hpp. Around every route: the API key and its scope (before any body is read),
// the body read with its limit, errors as JSON {"message", "code"}, metrics, and one audit entry.
// Bodies announced larger than the limit get 413 from their headers, before a byte is read.
#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <regex>
#include <thread>

#include "clipface/errors.hpp"
#include "clipface/serve.hpp"
#include "serve/api_error.hpp"
#include "serve/live_sources.hpp"
#include "serve/routes.hpp"

namespace clipface {
using namespace serve_detail;

namespace {

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr v4{};
  return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

// "/api/v1/recognition/faces/{image_id}/img" -> a regex, and the names of its parameters. The last
// segment may hold anything (a subject's name with '/' in it arrives decoded); the others not '/'.
std::pair<std::string, std::vector<std::string>> route_regex(const std::string& path) {
  static const std::regex param(R"(\{([a-z_]+)\})");
  std::string pattern;
  std::vector<std::string> names;
  std::size_t at = 0;
  for (auto it = std::sregex_iterator(path.begin(), path.end(), param);
       it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    pattern += std::regex_replace(path.substr(at, m.position() - at),
                                  std::regex(R"([.^$|()\[\]*+?\\])"), R"(\$&)");
    const bool last = static_cast<std::size_t>(m.position() + m.length()) == path.size();
    pattern += last ? "(.+)" : "([^/]+)";
    names.push_back(m[1]);
    at = m.position() + m.length();
  }
  pattern += path.substr(at);
  return {pattern, names};
}

void send_error(httplib::Response& res, const ApiError& e) {
  send_json(res, e.status(), {{"message", e.what()}, {"code", e.code()}});
}

// For httplib's own error answers (the request could not be parsed or is refused as a whole).
std::string reason(int status) {
  switch (status) {
    case 400:
      return "malformed request";
    case 413:
      return "request body too large";
    case 414:
      return "request target too long";
    case 416:
      return "range not satisfiable";
    default:
      return "HTTP error " + std::to_string(status);
  }
}

// httplib (0.11) gives handlers no hold on the connection, and after an answer it reads on for
// the next request, so a body we refuse would still be read, as request lines of any length. To
// stop that, once the answer is out (httplib's logger runs then, on the same thread), the
// connection's socket is found by its two addresses and its read side shut down: nothing more
// comes in, and httplib ends the connection. (Before the answer it would not do: httplib then
// takes the socket for dead and sends nothing.)
thread_local bool stop_reading_after_answer = false;

void stop_reading(const httplib::Request& req) {
  const auto port_of = [](const sockaddr_storage& a) {
    return a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port)
                                   : ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  };
  const auto addr_of = [](const sockaddr_storage& a) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(a).sin6_addr, text, sizeof text);
    } else {
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(a).sin_addr, text, sizeof text);
    }
    return std::string(text);
  };
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    sockaddr_storage peer{}, local{};
    socklen_t n = sizeof peer, m = sizeof local;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &n) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &m) != 0) {
      continue;
    }
    if (port_of(peer) == req.remote_port && port_of(local) == req.local_port &&
        addr_of(peer) == req.remote_addr && addr_of(local) == req.local_addr) {
      ::shutdown(fd, SHUT_RD);
      return;
    }
  }
}

std::size_t announced_length(const httplib::Request& req) {
  if (!req.has_header("Content-Length")) return 0;
  try {
    return std::stoull(req.get_header_value("Content-Length"));
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

std::string serve_detail::Call::path_param(const std::string& name) const {
  for (std::size_t i = 0; i < param_names.size(); ++i) {
    if (param_names[i] == name && i + 1 < req.matches.size()) return req.matches[i + 1].str();
  }
  return {};
}

struct Server::Impl {
  ServeOptions options;
  std::unique_ptr<Service> service;
  std::unique_ptr<LiveSources> live;  // after service: its pipelines use the service's models
  std::unique_ptr<httplib::Server> http;
  std::vector<Route> routes;
  int port = 0;
  int listen_socket = -1;
  std::atomic<bool> stop_requested = false;
  std::atomic<bool> running = false;

  void handle(const Route& route, const std::vector<std::string>& names,
              const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader* reader);
  void install();
};

void Server::Impl::handle(const Route& route, const std::vector<std::string>& names,
                          const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader* reader) {
  const auto start = std::chrono::steady_clock::now();
  Service& s = *service;
  s.metrics().in_flight(1);
  AuditNote note;
  std::optional<ApiKey> key;
  std::string outcome = "ok";
  bool body_complete = reader == nullptr;
  try {
    if (route.scope && s.auth_required()) {
      std::string presented = req.get_header_value("x-api-key");
      if (presented.empty() && route.key_in_query) presented = req.get_param_value("api_key");
      if (presented.empty()) {
        throw ApiError(401, code::unauthorized,
                       "missing API key (send it in the x-api-key header)");
      }
      key = s.keys().authenticate(presented);
      if (!key) throw ApiError(401, code::unauthorized, "invalid or revoked API key");
      if (!key->allows(*route.scope)) {
        throw ApiError(403, code::forbidden,
                       "key " + key->id + " lacks the '" + to_string(*route.scope) + "' scope");
      }
    }
    Body body;
    if (reader) {
      body = read_body(req, *reader, options.max_body_bytes);
      body_complete = true;
    }
    Call call{req, res, body, note, key, names};
    route.handler(call);
  } catch (const std::exception& e) {
    const ApiError error = to_api_error(e);
    if (error.status() >= 500) spdlog::error("serve: {} {}: {}", req.method, req.path, e.what());
    send_error(res, error);
    outcome = error.what();
  }
  // A body left unread, or read in part, would be taken for the next request: end the
  // connection after this answer instead.
  if (!body_complete) {
    if (req.get_header_value("Connection") != "close") res.set_header("Connection", "close");
    stop_reading_after_answer = true;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  s.metrics().observe(route.path, route.method, res.status, seconds);
  s.metrics().in_flight(-1);
  if (!route.audited) return;
  try {
    AuditEntry entry;
    entry.key_id = key ? key->id : "";
    entry.remote = req.remote_addr;
    entry.method = route.method;
    entry.route = route.path;
    entry.target = req.target;
    entry.subject = note.subject;
    entry.status = res.status;
    entry.outcome = outcome;
    entry.faces = note.faces;
    entry.duration_ms = seconds * 1000;
    s.audit().append(std::move(entry));
  } catch (const std::exception& e) {
    spdlog::error("serve: audit entry not written for {} {}: {}", req.method, req.target, e.what());
  }
}

void Server::Impl::install() {
  httplib::Server& h = *http;
  const std::size_t limit = options.max_body_bytes;
  const int threads = std::max(2, options.connections);
  h.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  h.set_read_timeout(options.read_timeout_s, 0);
  h.set_write_timeout(options.write_timeout_s, 0);
  h.set_keep_alive_timeout(options.keep_alive_s);
  h.set_keep_alive_max_count(1000);
  // Bodies of routes without a content reader (GET, DELETE) are read by httplib up to this.
  h.set_payload_max_length(limit);
  // httplib's own options (address reuse), and the listening socket kept, for bind().
  h.set_socket_options([this](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_socket = sock;
  });

  // Too large by its own headers: answered before any of the body is read.
  h.set_pre_routing_handler([this, limit](const httplib::Request& req, httplib::Response& res) {
    if (announced_length(req) <= limit) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res,
               ApiError(413, code::body_too_large,
                        "request body of " + std::to_string(announced_length(req)) +
                            " bytes exceeds the limit of " + std::to_string(limit) + " bytes"));
    res.set_header("Connection", "close");
    stop_reading_after_answer = true;
    service->metrics().observe("-", req.method, 413, 0);
    return httplib::Server::HandlerResponse::Handled;
  });
  h.set_expect_100_continue_handler([limit](const httplib::Request& req, httplib::Response& res) {
    if (announced_length(req) <= limit) return 100;
    send_error(res,
               ApiError(413, code::body_too_large,
                        "request body exceeds the limit of " + std::to_string(limit) + " bytes"));
    res.set_header("Connection", "close");
    stop_reading_after_answer = true;
    return 413;
  });
  // No route for this path and method (httplib's 404), or httplib's own errors (400 for a
  // malformed request line, 413 for a GET with a large body...): JSON like every other answer.
  h.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                  httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const ApiError e =
        res.status == 404 ? ApiError(404, code::no_route, "no route " + req.method + " " + req.path)
                          : ApiError(res.status, code::undefined, reason(res.status));
    send_error(res, e);
    if (res.status == 404) service->metrics().observe("-", req.method, 404, 0);
    return httplib::Server::HandlerResponse::Handled;
  }));
  h.set_logger([](const httplib::Request& req, const httplib::Response&) {
    if (!stop_reading_after_answer) return;
    stop_reading_after_answer = false;
    stop_reading(req);
  });
  h.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          send_error(res, to_api_error(e));
        } catch (...) {
          send_error(res, ApiError(500, code::internal, "unknown error"));
        }
      });

  for (const Route& route : routes) {
    auto [pattern, names] = route_regex(route.path);
    const Route* r = &route;
    auto plain = [this, r, names = names](const httplib::Request& req, httplib::Response& res) {
      handle(*r, names, req, res, nullptr);
    };
    auto with_body = [this, r, names = names](const httplib::Request& req, httplib::Response& res,
                                              const httplib::ContentReader& reader) {
      handle(*r, names, req, res, &reader);
    };
    if (route.method == "GET") {
      h.Get(pattern, plain);
    } else if (route.method == "DELETE") {
      h.Delete(pattern, plain);
    } else if (route.method == "POST") {
      h.Post(pattern, with_body);
    } else if (route.method == "PUT") {
      h.Put(pattern, with_body);
    }
  }
}

Server::Server(const ServeOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = options;
  // A client that goes away mid-answer must not kill the server (httplib writes with send()).
  ::signal(SIGPIPE, SIG_IGN);
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    throw InputError("HTTPS needs both --tls-cert and --tls-key");
  }
  for (const auto& f : {options.tls_cert, options.tls_key}) {
    if (!f.empty() && !std::filesystem::is_regular_file(f)) {
      throw InputError("TLS file not found: " + f.string());
    }
  }
  if (options.max_body_bytes == 0) throw InputError("the body limit must be positive");
  // Checked before the models load: a refusal should come at once.
  if (!options.no_auth && !is_loopback(options.host) &&
      std::filesystem::exists(options.gallery / kGalleryDbName) &&
      !KeyStore::open(options.gallery).any()) {
    throw InputError("refusing to listen on " + options.host +
                     " (beyond this machine) without API keys: create one with `clipface keys " +
                     options.gallery.string() +
                     " create --scope recognize` (or pass --no-auth to serve without keys)");
  }
  s.service = std::make_unique<Service>(options);
  if (!options.sources.empty()) {
    s.live = std::make_unique<LiveSources>(s.service->gallery(), s.service->pipeline().embedder(),
                                           options, s.service->default_vote(), s.service->events());
  }
  if (!options.tls_cert.empty()) {
    auto tls =
        std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
    if (!tls->is_valid()) {
      throw InputError("cannot use the TLS certificate " + options.tls_cert.string() +
                       " with key " + options.tls_key.string() +
                       " (not PEM, or they do not match)");
    }
    s.http = std::move(tls);
  } else {
    s.http = std::make_unique<httplib::Server>();
  }
  s.routes = all_routes(*s.service);
  s.install();
}

Server::~Server() {
  stop();
}

void Server::bind() {
  Impl& s = *impl_;
  const std::string host = s.options.host == "localhost" ? "127.0.0.1" : s.options.host;
  const int port = s.options.port == 0
                       ? s.http->bind_to_any_port(host)
                       : (s.http->bind_to_port(host, s.options.port) ? s.options.port : -1);
  if (port <= 0) {
    throw InputError("cannot listen on " + s.options.host + ":" + std::to_string(s.options.port) +
                     " (address in use, not an address of this machine, or not allowed)");
  }
  s.port = port;
  // httplib listens with a backlog of 5: clients connecting at once beyond that wait for SYN
  // retries (seconds). Listening again on the same socket raises it.
  if (s.listen_socket >= 0) ::listen(s.listen_socket, SOMAXCONN);
}

int Server::port() const {
  return impl_->port;
}

std::string Server::url() const {
  const std::string host = impl_->options.host.find(':') != std::string::npos
                               ? "[" + impl_->options.host + "]"
                               : impl_->options.host;
  return (impl_->options.tls_cert.empty() ? "http://" : "https://") + host + ":" +
         std::to_string(impl_->port);
}

bool Server::auth_required() const {
  return impl_->service->auth_required();
}

void Server::run() {
  Impl& s = *impl_;
  if (s.port == 0) bind();
  s.running = true;
  if (s.live && !s.stop_requested) s.live->start();
  if (!s.stop_requested) s.http->listen_after_bind();  // returns once stopped and drained
  s.running = false;
  if (s.live) s.live->stop();  // the pipelines drain before the gallery is closed
  s.service->shutdown();
}

LiveEventSink& Server::live_events() {
  return impl_->service->events();
}

const std::vector<SkippedSource>& Server::skipped_sources() const {
  static const std::vector<SkippedSource> none;
  return impl_->live ? impl_->live->skipped() : none;
}

void Server::stop() {
  Impl& s = *impl_;
  if (s.stop_requested.exchange(true)) return;
  // The sources first: their pipelines drain and their last events reach the streams.
  if (s.live) s.live->stop();
  s.service->events().close();  // live streams end, so their connections can finish
  // listen_after_bind() may not have started listening yet: stop() acts only once it runs.
  for (int i = 0; i < 500 && s.running && !s.http->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  s.http->stop();
}

// --- signals ---
// A handler that writes the signal's number to a pipe (all it may safely do), and a thread that
// reads it and stops the server. Blocking the signals instead would not do: libraries start
// threads before main (OpenBLAS does), and a signal delivered to one of those would kill the
// process.

namespace {
int signal_pipe[2] = {-1, -1};

extern "C" void on_termination_signal(int sig) {
  const unsigned char byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] const auto n = ::write(signal_pipe[1], &byte, 1);
}
}  // namespace

struct TerminationSignals::Impl {
  std::thread waiter;
  std::atomic<int> received = 0;
  struct sigaction old_term {};
  struct sigaction old_int {};
};

TerminationSignals::TerminationSignals() : impl_(std::make_unique<Impl>()) {
  if (signal_pipe[0] < 0 && ::pipe2(signal_pipe, O_CLOEXEC) != 0) {
    throw Error(std::string("cannot set up signal handling: ") + std::strerror(errno));
  }
  struct sigaction action {};
  action.sa_handler = on_termination_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &action, &impl_->old_term);
  ::sigaction(SIGINT, &action, &impl_->old_int);
}

TerminationSignals::~TerminationSignals() {
  ::sigaction(SIGTERM, &impl_->old_term, nullptr);
  ::sigaction(SIGINT, &impl_->old_int, nullptr);
  if (impl_->waiter.joinable()) {
    const unsigned char wake = 0;  // not a signal: just ends the waiting thread
    [[maybe_unused]] const auto n = ::write(signal_pipe[1], &wake, 1);
    impl_->waiter.join();
  }
}

void TerminationSignals::stop_on_signal(Server& server) {
  impl_->waiter = std::thread([this, &server] {
    unsigned char byte = 0;
    while (::read(signal_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    if (byte == 0) return;
    impl_->received = byte;
    server.stop();
  });
}

int TerminationSignals::received() const {
  return impl_->received;
}

}  // namespace clipface
