// SHA-256 of files and buffers (OpenSSL), used to name models and verify downloads.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace clipface {

std::string sha256_hex(std::string_view bytes);
std::string sha256_file(const std::filesystem::path& path);  // throws InputError if unreadable

}  // namespace clipface
