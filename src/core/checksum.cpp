#include "clipface/checksum.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "clipface/errors.hpp"

namespace clipface {
namespace {

using DigestContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string to_hex(const unsigned char* digest, unsigned int n) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::vector<unsigned char> file_digest(const std::filesystem::path& path, const EVP_MD* md) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!f) throw InputError("cannot read " + path.string());
  DigestContext ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), md, nullptr);
  std::vector<char> buffer(1 << 20);
  std::size_t got = 0;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), f.get())) > 0) {
    EVP_DigestUpdate(ctx.get(), buffer.data(), got);
  }
  if (std::ferror(f.get())) throw InputError("read error in " + path.string());
  std::vector<unsigned char> digest(EVP_MAX_MD_SIZE);
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), digest.data(), &n);
  digest.resize(n);
  return digest;
}

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &n, EVP_sha256(), nullptr);
  return to_hex(digest, n);
}

std::string sha256_file(const std::filesystem::path& path) {
  const std::vector<unsigned char> digest = file_digest(path, EVP_sha256());
  return to_hex(digest.data(), static_cast<unsigned int>(digest.size()));
}

std::string sha512_integrity_file(const std::filesystem::path& path) {
  const std::vector<unsigned char> digest = file_digest(path, EVP_sha512());
  std::string base64(4 * ((digest.size() + 2) / 3) + 1, '\0');  // + its NUL
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(base64.data()), digest.data(),
                                static_cast<int>(digest.size()));
  base64.resize(static_cast<std::size_t>(n));
  return "sha512-" + base64;
}

}  // namespace clipface
