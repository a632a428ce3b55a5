// A small HTTP/1.1 file server on 127.0.0.1 (ephemeral port) for download tests. One thread,
// one connection at a time, "Connection: close". It serves registered files with Range support
// and has switches for the failures a download must survive: a dropped connection, a stalled
// one, corrupted bytes, 404, and a server that ignores Range. It records every request.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace clipface::testing {

class LocalHttpServer {
 public:
  struct Request {
    std::string path;
    std::optional<std::uint64_t> range_start;  // from "Range: bytes=N-"
  };

  LocalHttpServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) throw std::runtime_error("test server: socket() failed");
    int yes = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;  // let the kernel pick a free port
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("test server: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }

  ~LocalHttpServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }

  LocalHttpServer(const LocalHttpServer&) = delete;
  LocalHttpServer& operator=(const LocalHttpServer&) = delete;

  // Serves `body` at "/<name>".
  void add_file(const std::string& name, std::string body) {
    std::lock_guard lock(mutex_);
    files_["/" + name] = std::move(body);
  }

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string url(const std::string& name) const { return base_url() + "/" + name; }

  // The next `times` responses send `bytes` body bytes, then close the connection.
  void drop_after(std::uint64_t bytes, int times = 1) {
    std::lock_guard lock(mutex_);
    drop_after_ = bytes;
    drops_left_ = times;
  }
  // Responses send `bytes` body bytes, then go silent until the client gives up.
  void stall_after(std::optional<std::uint64_t> bytes) {
    std::lock_guard lock(mutex_);
    stall_after_ = bytes;
  }
  // Every 1000th byte of each body is flipped (length unchanged).
  void set_corrupt(bool on) {
    std::lock_guard lock(mutex_);
    corrupt_ = on;
  }
  void set_not_found(bool on) {
    std::lock_guard lock(mutex_);
    not_found_ = on;
  }
  // Answer Range requests with 200 and the whole file, as some servers do.
  void set_ignore_range(bool on) {
    std::lock_guard lock(mutex_);
    ignore_range_ = on;
  }

  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      handle(client);
      ::close(client);
    }
  }

  // Reads the request head (up to the blank line) so that closing never resets the connection.
  static std::optional<std::string> read_head(int fd) {
    std::string head;
    char buffer[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return std::nullopt;
      const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
      if (got <= 0) return std::nullopt;
      head.append(buffer, static_cast<std::size_t>(got));
    }
    return head;
  }

  static bool send_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
      const ssize_t sent = ::send(fd, data, size, MSG_NOSIGNAL);
      if (sent <= 0) return false;
      data += sent;
      size -= static_cast<std::size_t>(sent);
    }
    return true;
  }

  // Waits until the client hangs up or the server stops.
  void wait_for_hangup(int fd) {
    char byte;
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0 && ::recv(fd, &byte, 1, 0) <= 0) return;
    }
  }

  void handle(int fd) {
    const auto head = read_head(fd);
    if (!head) return;
    Request request;
    const std::size_t path_start = head->find(' ') + 1;
    request.path = head->substr(path_start, head->find(' ', path_start) - path_start);
    if (const std::size_t range = head->find("Range: bytes="); range != std::string::npos) {
      request.range_start = std::strtoull(head->c_str() + range + 13, nullptr, 10);
    }

    std::unique_lock lock(mutex_);
    requests_.push_back(request);
    const auto file = files_.find(request.path);
    if (not_found_ || file == files_.end()) {
      lock.unlock();
      const std::string response =
          "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found";
      send_all(fd, response.data(), response.size());
      return;
    }
    std::string body = file->second;
    if (corrupt_) {
      for (std::size_t i = 0; i < body.size(); i += 1000) body[i] = static_cast<char>(~body[i]);
    }
    std::optional<std::uint64_t> limit = stall_after_;
    const bool stall = stall_after_.has_value();
    if (!stall && drops_left_ != 0) {
      limit = drop_after_;
      if (drops_left_ > 0) --drops_left_;
    }
    const bool use_range = request.range_start && !ignore_range_;
    lock.unlock();

    const std::uint64_t total = body.size();
    std::string header;
    std::uint64_t start = 0;
    if (use_range && *request.range_start >= total) {
      header = "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */" +
               std::to_string(total) + "\r\nContent-Length: 0\r\n";
      body.clear();
    } else if (use_range) {
      start = *request.range_start;
      header = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " + std::to_string(start) +
               "-" + std::to_string(total - 1) + "/" + std::to_string(total) +
               "\r\nContent-Length: " + std::to_string(total - start) + "\r\n";
    } else {
      header = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(total) + "\r\n";
    }
    header += "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n";
    if (!send_all(fd, header.data(), header.size())) return;
    std::uint64_t count = body.size() - std::min<std::uint64_t>(start, body.size());
    if (limit) count = std::min(count, *limit);
    if (!send_all(fd, body.data() + start, count)) return;
    if (stall) {
      wait_for_hangup(fd);
    } else {
      ::shutdown(fd, SHUT_WR);
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::map<std::string, std::string> files_;
  std::vector<Request> requests_;
  std::uint64_t drop_after_ = 0;
  int drops_left_ = 0;
  std::optional<std::uint64_t> stall_after_;
  bool corrupt_ = false;
  bool not_found_ = false;
  bool ignore_range_ = false;
};

}  // namespace clipface::testing
