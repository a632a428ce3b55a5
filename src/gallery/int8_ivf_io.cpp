#include "gallery/int8_ivf_io.hpp"

#include <sys/stat.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace clipface::gallery_detail {
namespace {

using idx_t = Int8IvfIndex::idx_t;
constexpr char kMagic[8] = {'C', 'F', 'I', 'V', 'F', '8', '\n', '\0'};
constexpr std::uint32_t kVersion = 1;

// 64-bit checksum over four interleaved lanes of 8-byte words (fast enough for gigabytes; it
// detects damage, it is not cryptographic). Each update() hashes its own buffer, so writer and
// reader must make the same calls, which they do.
class Checksum {
 public:
  void update(const void* data, std::size_t n) {
    if (n == 0) return;  // so an empty record counts the same however it is written
    const auto* bytes = static_cast<const unsigned char*>(data);
    std::uint64_t lanes[4] = {0x243f6a8885a308d3ull, 0x13198a2e03707344ull, 0xa4093822299f31d0ull,
                              0x082efa98ec4e6c89ull};
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
      for (int j = 0; j < 4; ++j) {
        std::uint64_t w;
        std::memcpy(&w, bytes + i + 8 * j, 8);
        lanes[j] = (lanes[j] ^ w) * kPrime;
      }
    }
    for (; i < n; ++i) lanes[i % 4] = (lanes[i % 4] ^ bytes[i]) * kPrime;
    for (std::uint64_t lane : lanes) value_ = (value_ ^ lane) * kPrime;
    value_ = (value_ ^ n) * kPrime;
  }
  std::uint64_t value() const { return value_; }

 private:
  static constexpr std::uint64_t kPrime = 0x100000001b3ull;
  std::uint64_t value_ = 0xcbf29ce484222325ull;
};

class Writer {
 public:
  explicit Writer(std::FILE* file) : file_(file) {}
  void bytes(const void* data, std::size_t n) {
    if (n > 0 && std::fwrite(data, 1, n, file_) != n) throw std::runtime_error("write failed");
    sum_.update(data, n);
  }
  template <class T>
  void value(T v) {
    bytes(&v, sizeof v);
  }
  void checksum() {
    const std::uint64_t v = sum_.value();
    if (std::fwrite(&v, sizeof v, 1, file_) != 1) throw std::runtime_error("write failed");
  }

 private:
  std::FILE* file_;
  Checksum sum_;
};

class Reader {
 public:
  explicit Reader(std::FILE* file) : file_(file) {
    struct stat st {};
    const long at = std::ftell(file);
    if (::fstat(::fileno(file), &st) != 0 || at < 0 || st.st_size < at) {
      throw std::runtime_error("cannot tell the size of the index file");
    }
    left_ = static_cast<std::uint64_t>(st.st_size - at);
  }
  // Throws unless `n` more bytes are in the file (checked before allocating for them).
  void need(std::uint64_t n, const char* what) const {
    if (n > left_) throw std::runtime_error(std::string("index file is truncated (") + what + ")");
  }
  // The same for `count` records of `size` bytes, without overflowing on a damaged count.
  void need(std::uint64_t count, std::uint64_t size, const char* what) const {
    if (size > 0 && count > left_ / size) need(left_ + 1, what);
  }
  void bytes(void* data, std::size_t n, const char* what) {
    need(n, what);
    if (n > 0 && std::fread(data, 1, n, file_) != n) {
      throw std::runtime_error(std::string("index file is truncated (") + what + ")");
    }
    left_ -= n;
    sum_.update(data, n);
  }
  template <class T>
  T value(const char* what) {
    T v{};
    bytes(&v, sizeof v, what);
    return v;
  }
  void checksum() {
    const std::uint64_t expected = sum_.value();
    std::uint64_t stored = 0;
    need(sizeof stored, "checksum");
    if (std::fread(&stored, sizeof stored, 1, file_) != 1) {
      throw std::runtime_error("index file is truncated (checksum)");
    }
    left_ -= sizeof stored;
    if (stored != expected) throw std::runtime_error("index file is damaged (checksum mismatch)");
    if (left_ != 0) throw std::runtime_error("index file has trailing bytes");
  }

 private:
  std::FILE* file_;
  std::uint64_t left_ = 0;
  Checksum sum_;
};

}  // namespace

void write_int8_ivf(const Int8IvfIndex& index, std::FILE* file) {
  if (std::fwrite(kMagic, sizeof kMagic, 1, file) != 1) throw std::runtime_error("write failed");
  Writer out(file);
  out.value(kVersion);
  out.value<std::int64_t>(index.d);
  out.value<std::int64_t>(index.nlist);
  out.value<std::int64_t>(index.nprobe);
  out.value<std::int64_t>(index.rerank);
  out.value<std::int64_t>(index.ntotal);
  out.value<std::int32_t>(index.train_iterations);
  out.value<std::int32_t>(index.train_points_per_list);
  out.value<std::uint8_t>(index.is_trained ? 1 : 0);
  if (index.is_trained) {
    out.bytes(index.codec.scales().data(), sizeof(float) * index.d);
    out.value<std::uint8_t>(index.routing.whitened() ? 1 : 0);
    if (index.routing.whitened()) {
      out.bytes(index.routing.matrix().data(), sizeof(float) * index.d * index.d);
      out.bytes(index.routing.bias().data(), sizeof(float) * index.d);
    }
    // The centroids are the quantizer's rows 0 .. nlist-1, contiguous (one record, as read).
    out.bytes(index.quantizer.rows.vector(0), sizeof(float) * index.d * index.nlist);
    // The lists, then the recent vectors in the same form.
    for (std::size_t l = 0; l <= index.lists.size(); ++l) {
      const PackedRows& list = l < index.lists.size() ? index.lists[l] : index.recent;
      const auto n = static_cast<std::int64_t>(list.size());
      out.value(n);
      out.bytes(list.labels().data(), sizeof(std::int64_t) * list.size());
      if (n > 0) out.bytes(list.vector(0), sizeof(float) * index.d * list.size());
    }
  }
  out.checksum();
}

std::unique_ptr<Int8IvfIndex> read_int8_ivf(std::FILE* file, int dim) {
  char magic[sizeof kMagic] = {};
  if (std::fread(magic, sizeof magic, 1, file) != 1 ||
      std::memcmp(magic, kMagic, sizeof magic) != 0) {
    throw std::runtime_error("not a clipface int8 IVF index");
  }
  Reader in(file);
  if (in.value<std::uint32_t>("version") != kVersion) {
    throw std::runtime_error("int8 IVF index of another format version");
  }
  const auto d = in.value<std::int64_t>("header");
  const auto nlist = in.value<std::int64_t>("header");
  const auto nprobe = in.value<std::int64_t>("header");
  const auto rerank = in.value<std::int64_t>("header");
  const auto ntotal = in.value<std::int64_t>("header");
  const auto iterations = in.value<std::int32_t>("header");
  const auto points = in.value<std::int32_t>("header");
  const auto trained = in.value<std::uint8_t>("header");
  if (d != dim || nlist < 1 || nlist > Int8IvfIndex::kMaxLists || nprobe < 1 || nprobe > nlist ||
      rerank < 1 || rerank > Int8IvfIndex::kMaxRerank || ntotal < 0 || trained > 1 ||
      (!trained && ntotal != 0)) {
    throw std::runtime_error("int8 IVF index header is invalid or of another dimension");
  }
  auto index = std::make_unique<Int8IvfIndex>(d, nlist);
  index->nprobe = nprobe;
  index->rerank = rerank;
  index->train_iterations = iterations;
  index->train_points_per_list = points;
  if (!trained) {
    in.checksum();
    return index;
  }
  const auto row_bytes = static_cast<std::uint64_t>(sizeof(float) * d);
  std::vector<float> scales(static_cast<std::size_t>(d));
  in.bytes(scales.data(), row_bytes, "scales");
  for (float s : scales) {
    if (!std::isfinite(s) || s <= 0) throw std::runtime_error("int8 IVF index has bad scales");
  }
  index->codec.set_scales(std::move(scales));
  const auto whitened = in.value<std::uint8_t>("routing");
  if (whitened > 1) throw std::runtime_error("int8 IVF index has a bad routing flag");
  if (whitened) {
    in.need(static_cast<std::uint64_t>(d) + 1, row_bytes, "routing");
    std::vector<float> matrix(static_cast<std::size_t>(d * d));
    std::vector<float> bias(static_cast<std::size_t>(d));
    in.bytes(matrix.data(), matrix.size() * sizeof(float), "routing matrix");
    in.bytes(bias.data(), bias.size() * sizeof(float), "routing bias");
    for (float v : matrix) {
      if (!std::isfinite(v)) throw std::runtime_error("int8 IVF index has a bad routing matrix");
    }
    index->routing.set(std::move(matrix), std::move(bias));
  } else {
    index->routing.set_identity();
  }
  in.need(static_cast<std::uint64_t>(nlist), row_bytes, "centroids");
  std::vector<float> centroids(static_cast<std::size_t>(nlist * d));
  in.bytes(centroids.data(), centroids.size() * sizeof(float), "centroids");
  index->set_centroids(centroids.data());
  index->is_trained = true;

  std::vector<std::int64_t> ids;
  std::vector<float> vectors;
  std::int64_t seen = 0;
  for (std::size_t l = 0; l <= index->lists.size(); ++l) {
    PackedRows& list = l < index->lists.size() ? index->lists[l] : index->recent;
    const auto n = in.value<std::int64_t>("list size");
    if (n < 0 || n > ntotal - seen) throw std::runtime_error("int8 IVF index has bad list sizes");
    in.need(static_cast<std::uint64_t>(n), sizeof(std::int64_t) + row_bytes, "list");
    ids.resize(static_cast<std::size_t>(n));
    in.bytes(ids.data(), ids.size() * sizeof(std::int64_t), "list ids");
    vectors.resize(static_cast<std::size_t>(n * d));
    in.bytes(vectors.data(), vectors.size() * sizeof(float), "list vectors");
    list.reserve(static_cast<std::size_t>(n));
    for (std::int64_t r = 0; r < n; ++r) {
      list.append(index->codec, &vectors[static_cast<std::size_t>(r * d)], ids[r]);
    }
    seen += n;
  }
  if (seen != ntotal) throw std::runtime_error("int8 IVF index holds fewer vectors than it says");
  in.checksum();
  index->ntotal = ntotal;
  return index;
}

}  // namespace clipface::gallery_detail
