// Health, readiness, metrics, what the server runs (for the page), the OpenAPI document, and
// the web page itself (built into the binary; or, for development, from --web-root).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "clipface/serve.hpp"
#include "serve/api_error.hpp"
#include "serve/routes.hpp"

namespace clipface::serve_detail {
namespace {
using nlohmann::json;

const char* mime_type(const std::string& name) {
  const auto ends = [&](const char* ext) {
    const std::string e(ext);
    return name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".json")) return "application/json";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  return "application/octet-stream";
}

// Only plain names: no separators, no "..", nothing hidden. Everything else is not found.
bool plain_name(const std::string& name) {
  if (name.empty() || name[0] == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return name.find("..") == std::string::npos;
}

void send_asset(const Service& s, Call& c, const std::string& name) {
  if (!plain_name(name)) throw ApiError(404, code::file_not_found, "no such file");
  c.res.set_header("Cache-Control", "no-cache");
  c.res.set_header("X-Content-Type-Options", "nosniff");
  const auto& root = s.options().web_root;
  if (!root.empty() && name != "openapi.json") {
    const auto path = root / name;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      throw ApiError(404, code::file_not_found, "no such file");
    std::ifstream in(path, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    c.res.status = 200;
    c.res.set_content(bytes.str(), mime_type(name));
    return;
  }
  const Asset* asset = find_asset(name);
  if (!asset) throw ApiError(404, code::file_not_found, "no such file");
  c.res.status = 200;
  c.res.set_content(reinterpret_cast<const char*>(asset->data), asset->size, mime_type(name));
}

json info(Service& s) {
  const auto snapshot = s.snapshot();
  const auto& model = s.pipeline().embedder().info();
  const KnnVote& v = s.default_vote();
  return {
      {"service", "clipface"},
      {"auth_required", s.auth_required()},
      {"embedder",
       {{"name", model.name},
        {"checksum", model.checksum},
        {"dim", model.dim},
        {"random_weights", model.random_weights}}},
      {"detector", s.pipeline().detector().name()},
      {"vote", {{"k1", v.k1}, {"k2", v.k2}, {"threshold", std::round(v.threshold * 1e5) / 1e5}}},
      {"det_prob_threshold", std::round(s.default_min_score() * 1e5) / 1e5},
      {"max_body_bytes", s.options().max_body_bytes},
      {"micro_batching", s.options().micro_batching},
      {"gallery", {{"faces", snapshot->size()}, {"people", snapshot->people()}}}};
}

}  // namespace

std::vector<Route> system_routes(Service& s) {
  std::vector<Route> routes = {
      {"GET", "/healthz", std::nullopt,
       [](Call& c) {
         send_json(c.res, 200, {{"status", "ok"}});
       }},
      {"GET", "/readyz", std::nullopt,
       [&s](Call& c) {
         if (s.events().closed()) {
           throw ApiError(503, code::unavailable, "shutting down");
         }
         const auto snapshot = s.snapshot();
         send_json(c.res, 200,
                   {{"status", "ready"},
                    {"faces", snapshot->size()},
                    {"people", snapshot->people()},
                    {"generation", snapshot->generation()}});
       }},
      {"GET", "/metrics", std::nullopt,
       [&s](Call& c) {
         c.res.status = 200;
         c.res.set_content(s.metrics().render(), "text/plain; version=0.0.4");
       }},
      // Open, so that the page can learn whether it needs a key; the rest only with one.
      {"GET", "/api/v1/info", std::nullopt,
       [&s](Call& c) {
         const bool may_see =
             !s.auth_required() || s.keys().authenticate(c.req.get_header_value("x-api-key"));
         send_json(c.res, 200,
                   may_see ? info(s) : json{{"service", "clipface"}, {"auth_required", true}});
       }},
      {"GET", "/openapi.json", std::nullopt, [&s](Call& c) { send_asset(s, c, "openapi.json"); }},
      {"GET", "/", std::nullopt, [&s](Call& c) { send_asset(s, c, "index.html"); }},
      {"GET", "/ui/{file}", std::nullopt,
       [&s](Call& c) { send_asset(s, c, c.path_param("file")); }},
  };
  for (auto& r : routes) r.audited = false;
  return routes;
}

}  // namespace clipface::serve_detail
