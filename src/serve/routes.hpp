// The service's routes, one table: method, path template (as the OpenAPI document writes it),
// the scope a key needs, and the handler. The HTTP layer (server.cpp) turns each into an httplib
// route with authentication, body limits, errors as JSON, metrics and an audit entry around it,
// and the OpenAPI test compares this table with the document.
#pragma once

#include <httplib.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "clipface/api_keys.hpp"
#include "serve/http_io.hpp"
#include "serve/service.hpp"

namespace clipface::serve_detail {

// What a handler tells the audit log beyond what the HTTP layer knows.
struct AuditNote {
  std::string subject;
  int faces = 0;
};

struct Call {
  const httplib::Request& req;
  httplib::Response& res;
  const Body& body;  // empty for routes without a body
  AuditNote& audit;
  const std::optional<ApiKey>& key;  // nullopt when auth is off

  // A path parameter by its name in the template ("subject", "image_id", ...).
  std::string path_param(const std::string& name) const;
  std::vector<std::string> param_names;
};

struct Route {
  std::string method;          // GET POST PUT DELETE
  std::string path;            // template, e.g. /api/v1/recognition/faces/{image_id}
  std::optional<Scope> scope;  // nullopt: open (health, metrics, the page, the document)
  std::function<void(Call&)> handler;
  bool audited = true;        // an entry in the audit log per call
  bool key_in_query = false;  // streams opened by EventSource/<img>, which cannot send headers
};

std::vector<Route> recognition_routes(Service& service);  // recognize, verify, detect, embed
std::vector<Route> subject_routes(Service& service);
std::vector<Route> face_routes(Service& service);
std::vector<Route> admin_routes(Service& service);   // keys, audit
std::vector<Route> live_routes(Service& service);    // events, preview
std::vector<Route> system_routes(Service& service);  // health, metrics, info, document, page

inline std::vector<Route> all_routes(Service& service) {
  std::vector<Route> all;
  for (auto part : {recognition_routes, subject_routes, face_routes, admin_routes, live_routes,
                    system_routes}) {
    for (auto& r : part(service)) all.push_back(std::move(r));
  }
  return all;
}

// The embedded files: the web page and the OpenAPI document (generated at build time from web/
// and src/serve/openapi.json).
struct Asset {
  const char* name;
  const unsigned char* data;
  std::size_t size;
};
const Asset* find_asset(const std::string& name);

}  // namespace clipface::serve_detail
