// SHA-256 of files and buffers (OpenSSL), used to name models and verify downloads; SHA-512 in
// the Subresource Integrity form npm's registry publishes for package tarballs.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace clipface {

std::string sha256_hex(std::string_view bytes);
std::string sha256_file(const std::filesystem::path& path);  // throws InputError if unreadable
// "sha512-<base64 of the digest>", as in package-lock.json and `npm view PKG dist.integrity`.
std::string sha512_integrity_file(const std::filesystem::path& path);

}  // namespace clipface
