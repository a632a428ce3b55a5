#include "clipface/npy.hpp"

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "clipface/errors.hpp"
#include "clipface/paths.hpp"

namespace clipface {
namespace {

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1f;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400u)) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <typename T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

std::int64_t NpyArray::size() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::vector<float> NpyArray::as_floats() const {
  const std::int64_t n = size();
  std::vector<float> out(n);
  const unsigned char* p = bytes.data();
  for (std::int64_t i = 0; i < n; ++i) {
    if (dtype == "f4") out[i] = load<float>(p + 4 * i);
    else if (dtype == "f8") out[i] = static_cast<float>(load<double>(p + 8 * i));
    else if (dtype == "f2") out[i] = half_to_float(load<std::uint16_t>(p + 2 * i));
    else if (dtype == "i4") out[i] = static_cast<float>(load<std::int32_t>(p + 4 * i));
    else if (dtype == "i8") out[i] = static_cast<float>(load<std::int64_t>(p + 8 * i));
    else throw InputError("npy dtype " + dtype + " cannot be read as float");
  }
  return out;
}

std::vector<std::int64_t> NpyArray::as_ints() const {
  const std::int64_t n = size();
  std::vector<std::int64_t> out(n);
  const unsigned char* p = bytes.data();
  for (std::int64_t i = 0; i < n; ++i) {
    if (dtype == "i4") out[i] = load<std::int32_t>(p + 4 * i);
    else if (dtype == "i8") out[i] = load<std::int64_t>(p + 8 * i);
    else if (dtype == "u1") out[i] = p[i];
    else throw InputError("npy dtype " + dtype + " cannot be read as integer");
  }
  return out;
}

NpyArray read_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open " + path.string());
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() < 10 || data.compare(0, 6, "\x93NUMPY") != 0) {
    throw InputError(path.string() + " is not a .npy file");
  }
  const int major = static_cast<unsigned char>(data[6]);
  std::size_t header_len, header_start;
  if (major == 1) {
    header_len = load<std::uint16_t>(reinterpret_cast<const unsigned char*>(data.data() + 8));
    header_start = 10;
  } else {
    header_len = load<std::uint32_t>(reinterpret_cast<const unsigned char*>(data.data() + 8));
    header_start = 12;
  }
  if (header_start + header_len > data.size()) throw InputError(path.string() + ": truncated header");
  const std::string header = data.substr(header_start, header_len);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([<|>])([a-z][0-9]+)'"))) {
    throw InputError(path.string() + ": no dtype in header");
  }
  if (m[1] == ">") throw InputError(path.string() + ": big-endian data is not supported");
  NpyArray arr;
  arr.dtype = m[2];
  if (header.find("'fortran_order': True") != std::string::npos) {
    throw InputError(path.string() + ": Fortran order is not supported");
  }
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) {
    throw InputError(path.string() + ": no shape in header");
  }
  std::stringstream dims(m[1].str());
  std::string item;
  while (std::getline(dims, item, ',')) {
    if (item.find_first_not_of(" ") != std::string::npos) arr.shape.push_back(std::stoll(item));
  }
  const std::size_t elem = static_cast<std::size_t>(std::stoi(arr.dtype.substr(1)));
  const std::size_t need = static_cast<std::size_t>(arr.size()) * elem;
  const std::size_t offset = header_start + header_len;
  if (data.size() - offset < need) throw InputError(path.string() + ": truncated data");
  arr.bytes.assign(data.begin() + static_cast<std::ptrdiff_t>(offset),
                   data.begin() + static_cast<std::ptrdiff_t>(offset + need));
  return arr;
}

void write_npy(const std::filesystem::path& path, const std::vector<float>& values,
               const std::vector<std::int64_t>& shape) {
  std::string dims;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    dims += (i ? ", " : "") + std::to_string(shape[i]);
  }
  if (shape.size() == 1) dims += ",";  // numpy spells a 1-tuple (n,)
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  const std::uint16_t len = static_cast<std::uint16_t>(header.size());
  out.append(reinterpret_cast<const char*>(&len), 2);
  out += header;
  out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  write_file_atomically(path, out);
}

}  // namespace clipface
