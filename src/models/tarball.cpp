#include "models/tarball.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "clipface/errors.hpp"

namespace clipface::models {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kBlock = 512;

class GzipReader {
 public:
  explicit GzipReader(const fs::path& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    if (!file_) throw DownloadError("cannot read " + path.string());
  }
  ~GzipReader() { gzclose(file_); }
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;

  // Reads exactly n bytes; false at a clean end of stream before any byte.
  bool read(char* out, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      const int got = gzread(file_, out + done, static_cast<unsigned>(n - done));
      if (got < 0) {
        int code = 0;
        throw DownloadError(path_.string() + ": corrupt gzip data (" + gzerror(file_, &code) + ")");
      }
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    if (done == 0) return false;
    if (done < n) throw DownloadError(path_.string() + ": truncated archive");
    return true;
  }

  void skip(std::uint64_t n) {
    std::vector<char> buffer(1 << 16);
    while (n > 0) {
      const std::size_t step = static_cast<std::size_t>(std::min<std::uint64_t>(n, buffer.size()));
      if (!read(buffer.data(), step)) throw DownloadError(path_.string() + ": truncated archive");
      n -= step;
    }
  }

 private:
  fs::path path_;
  gzFile file_;
};

std::uint64_t octal(const char* field, std::size_t size) {
  if (static_cast<unsigned char>(field[0]) & 0x80) {  // GNU base-256 for large sizes
    std::uint64_t v = static_cast<unsigned char>(field[0]) & 0x7f;
    for (std::size_t i = 1; i < size; ++i) v = (v << 8) | static_cast<unsigned char>(field[i]);
    return v;
  }
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < size && field[i]; ++i) {
    if (field[i] == ' ') continue;
    if (field[i] < '0' || field[i] > '7') break;
    v = v * 8 + static_cast<std::uint64_t>(field[i] - '0');
  }
  return v;
}

std::string text(const char* field, std::size_t size) {
  return std::string(field, strnlen(field, size));
}

bool checksum_ok(const std::array<char, kBlock>& header) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < kBlock; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(header[i]);
  }
  return sum == octal(header.data() + 148, 8);
}

// "len path=value\n" records of a pax extended header; returns the path, if any.
std::string pax_path(const std::string& records) {
  std::size_t pos = 0;
  std::string path;
  while (pos < records.size()) {
    const std::size_t space = records.find(' ', pos);
    if (space == std::string::npos) break;
    const std::size_t length = std::strtoull(records.c_str() + pos, nullptr, 10);
    if (length == 0 || pos + length > records.size()) break;
    const std::string record = records.substr(space + 1, pos + length - space - 2);
    if (record.rfind("path=", 0) == 0) path = record.substr(5);
    pos += length;
  }
  return path;
}

void copy_member(GzipReader& in, std::uint64_t size, const fs::path& dest) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> out(std::fopen(dest.c_str(), "wb"),
                                                         &std::fclose);
  if (!out) throw DownloadError("cannot write " + dest.string());
  std::vector<char> buffer(1 << 16);
  while (size > 0) {
    const std::size_t step = static_cast<std::size_t>(std::min<std::uint64_t>(size, buffer.size()));
    if (!in.read(buffer.data(), step)) throw DownloadError("truncated archive");
    if (std::fwrite(buffer.data(), 1, step, out.get()) != step) {
      throw DownloadError("cannot write " + dest.string() + " (disk full?)");
    }
    size -= step;
  }
  if (std::fflush(out.get()) != 0) throw DownloadError("cannot write " + dest.string());
}

}  // namespace

void extract_members(const fs::path& archive, const std::map<std::string, fs::path>& wanted) {
  GzipReader in(archive);
  std::set<std::string> found;
  std::string long_name;
  std::array<char, kBlock> header{};
  while (in.read(header.data(), kBlock)) {
    if (std::all_of(header.begin(), header.end(), [](char c) { return c == 0; })) break;
    if (!checksum_ok(header)) {
      throw DownloadError(archive.string() + ": corrupt tar header (checksum)");
    }
    const std::uint64_t size = octal(header.data() + 124, 12);
    const char type = header[156];
    const std::uint64_t padded = (size + kBlock - 1) / kBlock * kBlock;
    if (type == 'x' || type == 'L') {  // the next member's long name
      std::string data(static_cast<std::size_t>(padded), '\0');
      if (!in.read(data.data(), data.size()))
        throw DownloadError(archive.string() + ": truncated archive");
      data.resize(static_cast<std::size_t>(size));
      long_name = type == 'L' ? text(data.data(), data.size()) : pax_path(data);
      continue;
    }
    std::string name = text(header.data(), 100);
    if (std::memcmp(header.data() + 257, "ustar", 5) == 0 && header[345]) {
      name = text(header.data() + 345, 155) + "/" + name;
    }
    if (!long_name.empty()) name = long_name;
    long_name.clear();
    const auto it = wanted.find(name);
    if ((type == '0' || type == '\0') && it != wanted.end()) {
      copy_member(in, size, it->second);
      in.skip(padded - size);
      found.insert(name);
    } else {
      in.skip(padded);
    }
  }
  for (const auto& [name, dest] : wanted) {
    if (!found.count(name)) {
      throw DownloadError(archive.string() + " has no file " + name +
                          " (not the package version clipface pins?)");
    }
  }
}

}  // namespace clipface::models
