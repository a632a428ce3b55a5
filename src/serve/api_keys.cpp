// keys.db: API keys as salted hashes.
//
// Why BLAKE2b (crypto_generichash, keyed with a per-key random salt) and not a password hash such
// as Argon2: the secret is 32 bytes from the system's CSPRNG, not something a person chose, so
// there is no dictionary to try and 2^256 guesses to make; a slow hash would add nothing but its
// cost (Argon2's interactive setting takes about 100 ms and 64 MB), paid on every request. The
// salt keeps equal secrets (there are none in practice) from having equal hashes, and the stored
// hash is compared in constant time (sodium_memcmp).
#include "clipface/api_keys.hpp"

#include <sodium.h>

#include <algorithm>
#include <mutex>

#include "clipface/errors.hpp"
#include "serve/side_db.hpp"

namespace clipface {
using gallery_detail::Database;
using gallery_detail::Transaction;

namespace {

constexpr const char* kFormat = "clipface-keys";
constexpr int kVersion = 1;
constexpr const char* kSchema = R"sql(
CREATE TABLE keys(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  scopes TEXT NOT NULL,
  salt BLOB NOT NULL,
  hash BLOB NOT NULL,
  created TEXT NOT NULL,
  revoked TEXT);
)sql";

constexpr std::size_t kIdBytes = 4;                                  // 8 hex digits
constexpr std::size_t kSecretBytes = 32;                             // 64 hex digits
constexpr std::size_t kSaltBytes = crypto_generichash_KEYBYTES_MIN;  // 16
constexpr std::size_t kHashBytes = crypto_generichash_BYTES;         // 32
constexpr const char* kPrefix = "cfk_";

void init_sodium() {
  if (sodium_init() < 0) throw Error("libsodium could not be initialised");
}

std::string hex(const unsigned char* data, std::size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data, n);
  out.pop_back();
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  randombytes_buf(buf.data(), buf.size());
  return hex(buf.data(), buf.size());
}

bool is_hex(const std::string& s, std::size_t digits) {
  return s.size() == digits && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::vector<unsigned char> keyed_hash(const std::string& secret, const void* salt) {
  std::vector<unsigned char> out(kHashBytes);
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(), static_cast<const unsigned char*>(salt), kSaltBytes);
  return out;
}

}  // namespace

std::string to_string(Scope scope) {
  switch (scope) {
    case Scope::recognize:
      return "recognize";
    case Scope::manage:
      return "manage";
    case Scope::admin:
      return "admin";
  }
  return "?";
}

std::vector<Scope> parse_scopes(const std::string& text) {
  std::vector<Scope> scopes;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string word = text.substr(start, comma - start);
    std::vector<Scope> these;
    if (word == "recognize") {
      these = {Scope::recognize};
    } else if (word == "manage") {
      these = {Scope::manage};
    } else if (word == "admin") {
      these = {Scope::admin};
    } else if (word == "all") {
      these = {Scope::recognize, Scope::manage, Scope::admin};
    } else {
      throw InputError("unknown scope '" + word +
                       "' (expected recognize, manage, admin, all, or a comma-separated list)");
    }
    for (Scope s : these) {
      if (std::find(scopes.begin(), scopes.end(), s) == scopes.end()) scopes.push_back(s);
    }
    start = comma + 1;
  }
  std::sort(scopes.begin(), scopes.end());
  return scopes;
}

bool ApiKey::allows(Scope scope) const {
  return revoked.empty() && std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

std::string ApiKey::scopes_text() const {
  std::string out;
  for (Scope s : scopes) {
    if (!out.empty()) out += ',';
    out += to_string(s);
  }
  return out;
}

nlohmann::json to_json(const ApiKey& k) {
  nlohmann::json scopes = nlohmann::json::array();
  for (Scope s : k.scopes) scopes.push_back(to_string(s));
  return {{"id", k.id},
          {"name", k.name},
          {"scopes", scopes},
          {"created", k.created},
          {"revoked", k.revoked.empty() ? nlohmann::json() : nlohmann::json(k.revoked)}};
}

struct KeyStore::Impl {
  std::unique_ptr<Database> db;
  mutable std::mutex mutex;  // one connection, statements used from the server's threads
};

KeyStore::KeyStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KeyStore::KeyStore(KeyStore&&) noexcept = default;
KeyStore& KeyStore::operator=(KeyStore&&) noexcept = default;
KeyStore::~KeyStore() = default;

KeyStore KeyStore::open(const std::filesystem::path& dir, bool create) {
  init_sodium();
  auto impl = std::make_unique<Impl>();
  impl->db = serve_detail::open_side_db(dir / kKeysDbName, kFormat, kVersion, kSchema, create);
  return KeyStore(std::move(impl));
}

KeyStore::Created KeyStore::create(const std::string& name, const std::vector<Scope>& scopes) {
  if (scopes.empty()) throw InputError("a key needs at least one scope");
  std::lock_guard lock(impl_->mutex);
  Created out;
  out.key.name = name;
  out.key.scopes = scopes;
  std::sort(out.key.scopes.begin(), out.key.scopes.end());
  out.key.created = serve_detail::utc_now();
  const std::string secret = random_hex(kSecretBytes);
  unsigned char salt[kSaltBytes];
  randombytes_buf(salt, sizeof salt);
  const auto hash = keyed_hash(secret, salt);
  Transaction txn(*impl_->db, Transaction::Kind::write);
  for (;;) {  // ids are random; a clash (1 in 4 billion per key) draws again
    out.key.id = random_hex(kIdBytes);
    auto taken = impl_->db->prepare("SELECT 1 FROM keys WHERE id = ?");
    taken.bind(1, out.key.id);
    if (!taken.step()) break;
  }
  impl_->db
      ->prepare("INSERT INTO keys(id, name, scopes, salt, hash, created) VALUES (?, ?, ?, ?, ?, ?)")
      .bind(1, out.key.id)
      .bind(2, name)
      .bind(3, out.key.scopes_text())
      .bind_blob(4, salt, sizeof salt)
      .bind_blob(5, hash.data(), hash.size())
      .bind(6, out.key.created)
      .run();
  txn.commit();
  out.secret = kPrefix + out.key.id + "_" + secret;
  return out;
}

std::vector<ApiKey> KeyStore::list() const {
  std::lock_guard lock(impl_->mutex);
  auto stmt = impl_->db->prepare(
      "SELECT id, name, scopes, created, coalesce(revoked, '') FROM keys ORDER BY created, id");
  std::vector<ApiKey> keys;
  while (stmt.step()) {
    keys.push_back(
        {stmt.text(0), stmt.text(1), parse_scopes(stmt.text(2)), stmt.text(3), stmt.text(4)});
  }
  return keys;
}

bool KeyStore::revoke(const std::string& id) {
  std::lock_guard lock(impl_->mutex);
  Transaction txn(*impl_->db, Transaction::Kind::write);
  impl_->db->prepare("UPDATE keys SET revoked = ? WHERE id = ? AND revoked IS NULL")
      .bind(1, serve_detail::utc_now())
      .bind(2, id)
      .run();
  const bool revoked = impl_->db->changes() > 0;
  txn.commit();
  return revoked;
}

std::optional<ApiKey> KeyStore::authenticate(const std::string& presented) const {
  // cfk_<8 hex>_<64 hex>
  const std::size_t prefix = std::char_traits<char>::length(kPrefix);
  if (presented.size() != prefix + 2 * kIdBytes + 1 + 2 * kSecretBytes ||
      presented.compare(0, prefix, kPrefix) != 0 || presented[prefix + 2 * kIdBytes] != '_') {
    return std::nullopt;
  }
  const std::string id = presented.substr(prefix, 2 * kIdBytes);
  const std::string secret = presented.substr(prefix + 2 * kIdBytes + 1);
  if (!is_hex(id, 2 * kIdBytes) || !is_hex(secret, 2 * kSecretBytes)) return std::nullopt;
  std::lock_guard lock(impl_->mutex);
  auto stmt = impl_->db->prepare(
      "SELECT name, scopes, salt, hash, created, revoked IS NOT NULL FROM keys WHERE id = ?");
  stmt.bind(1, id);
  if (!stmt.step()) return std::nullopt;
  if (stmt.bytes(2) != kSaltBytes || stmt.bytes(3) != kHashBytes) return std::nullopt;
  const auto hash = keyed_hash(secret, stmt.blob(2));
  if (sodium_memcmp(hash.data(), stmt.blob(3), kHashBytes) != 0) return std::nullopt;
  if (stmt.int64(5) != 0) return std::nullopt;
  return ApiKey{id, stmt.text(0), parse_scopes(stmt.text(1)), stmt.text(4), ""};
}

bool KeyStore::any() const {
  std::lock_guard lock(impl_->mutex);
  auto stmt = impl_->db->prepare("SELECT EXISTS (SELECT 1 FROM keys)");
  stmt.step();
  return stmt.int64(0) != 0;
}

}  // namespace clipface
