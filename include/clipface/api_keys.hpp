// API keys of a recognition service, kept in `keys.db` beside the gallery (never in gallery.db).
// A key is shown once, when it is created; the store keeps only a salted hash of its secret
// (libsodium), compares in constant time, and lets keys be listed and revoked by their public id.
//
// Key format: "cfk_<id>_<secret>": <id> 8 hex digits (public, names the key in lists and in the
// audit log), <secret> 64 hex digits (32 random bytes).
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace clipface {

// What a key may do. recognize: recognize, verify, detect, embed, list, live events; manage: add,
// delete, rename subjects and faces; admin: keys and the audit log. A key holds any set of them.
enum class Scope { recognize = 1, manage = 2, admin = 4 };

std::string to_string(Scope scope);
// "recognize", "manage", "admin", or a comma-separated list of them; "all" = every scope.
// InputError for anything else or an empty list.
std::vector<Scope> parse_scopes(const std::string& text);

struct ApiKey {
  std::string id;  // public part
  std::string name;
  std::vector<Scope> scopes;
  std::string created;  // UTC, ISO 8601
  std::string revoked;  // "" while valid

  bool allows(Scope scope) const;
  std::string scopes_text() const;  // "recognize,manage"
};

// {"id", "name", "scopes": [...], "created", "revoked": null or time}: never the secret.
nlohmann::json to_json(const ApiKey& key);

class KeyStore {
 public:
  // Opens (creating when asked) `dir`/keys.db. GalleryError when it cannot be opened or is not a
  // key store; a missing store is an empty one unless `create` is set.
  static KeyStore open(const std::filesystem::path& dir, bool create = true);
  KeyStore(KeyStore&&) noexcept;
  KeyStore& operator=(KeyStore&&) noexcept;
  ~KeyStore();

  struct Created {
    ApiKey key;
    std::string secret;  // the whole key string, "cfk_<id>_<secret>", shown this once only
  };
  // InputError for no scopes.
  Created create(const std::string& name, const std::vector<Scope>& scopes);
  std::vector<ApiKey> list() const;  // oldest first, revoked keys included
  // False when there is no such key or it was revoked already.
  bool revoke(const std::string& id);
  // The valid key this string is, or nullopt (unknown, malformed, wrong secret, revoked). Safe
  // to call from several threads.
  std::optional<ApiKey> authenticate(const std::string& presented) const;
  // Whether any key was ever created (revoked ones count: revoking the last key must not open
  // the service to everyone).
  bool any() const;

 private:
  struct Impl;
  explicit KeyStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

inline constexpr const char* kKeysDbName = "keys.db";

}  // namespace clipface
