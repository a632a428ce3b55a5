// Keys and the audit log over HTTP (scope admin), for the web page; `clipface keys` and
// `clipface audit` do the same from a shell.
#include "clipface/errors.hpp"
#include "serve/api_error.hpp"
#include "serve/routes.hpp"

namespace clipface::serve_detail {
namespace {
using nlohmann::json;

void list_keys(Service& s, Call& c) {
  json keys = json::array();
  for (const auto& k : s.keys().list()) keys.push_back(to_json(k));
  send_json(c.res, 200, {{"keys", keys}});
}

void create_key(Service& s, Call& c) {
  const json& j = c.body.json();
  if (!j.is_object()) throw ApiError(400, code::validation, "the body must be a JSON object");
  const std::string name = j.value("name", std::string());
  std::string scopes = "recognize";
  if (j.contains("scopes")) {
    scopes.clear();
    if (j["scopes"].is_string()) {
      scopes = j["scopes"].get<std::string>();
    } else if (j["scopes"].is_array()) {
      for (const auto& item : j["scopes"]) {
        if (!item.is_string()) throw ApiError(400, code::validation, "scopes must be strings");
        if (!scopes.empty()) scopes += ',';
        scopes += item.get<std::string>();
      }
    }
  }
  std::vector<Scope> parsed;
  try {
    parsed = parse_scopes(scopes);
  } catch (const InputError& e) {
    throw ApiError(400, code::validation, e.what());
  }
  const auto created = s.keys().create(name, parsed);
  c.audit.subject = "key " + created.key.id;
  json out = to_json(created.key);
  out["key"] = created.secret;  // shown this once
  send_json(c.res, 201, out);
}

void revoke_key(Service& s, Call& c) {
  const std::string id = c.path_param("id");
  c.audit.subject = "key " + id;
  if (!s.keys().revoke(id)) {
    throw ApiError(404, code::key_not_found, "no valid key with id '" + id + "'");
  }
  send_json(c.res, 200, {{"id", id}, {"revoked", true}});
}

void read_audit(Service& s, Call& c) {
  AuditQuery q;
  q.limit = int_param(c.req, "limit", 100, 1, 100000);
  q.since = string_param(c.req, "since");
  q.key_id = string_param(c.req, "key");
  q.subject = string_param(c.req, "subject");
  json entries = json::array();
  for (const auto& e : s.audit().query(q)) {
    entries.push_back(to_json(e));
  }
  send_json(c.res, 200, {{"entries", entries}});
}

}  // namespace

std::vector<Route> admin_routes(Service& s) {
  return {
      {"GET", "/api/v1/keys", Scope::admin, [&s](Call& c) { list_keys(s, c); }},
      {"POST", "/api/v1/keys", Scope::admin, [&s](Call& c) { create_key(s, c); }},
      {"DELETE", "/api/v1/keys/{id}", Scope::admin, [&s](Call& c) { revoke_key(s, c); }},
      {"GET", "/api/v1/audit", Scope::admin, [&s](Call& c) { read_audit(s, c); }},
  };
}

}  // namespace clipface::serve_detail
