// Picks the int8 kernels once from the CPU's features (and CLIPFACE_INT8_ISA, for comparing).
#include "gallery/int8_kernels.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>

#include "clipface/cpu.hpp"
#include "clipface/errors.hpp"
#include "clipface/gallery.hpp"

namespace clipface::gallery_detail {
namespace {

// cpu_info() also checks that the OS saves the AVX-512 registers (XCR0).
bool cpu_has_vnni() {
  const CpuInfo& cpu = cpu_info();
  return cpu.avx512f && cpu.avx512bw && cpu.avx512_vnni;
}

Int8Isa initial_isa() {
  const char* asked = std::getenv("CLIPFACE_INT8_ISA");
  if (asked && std::string(asked) == "scalar") return Int8Isa::scalar;
  if (asked && *asked && std::string(asked) != "avx512_vnni") {
    spdlog::warn("CLIPFACE_INT8_ISA={} is not scalar or avx512_vnni; ignored", asked);
  }
  return cpu_has_vnni() ? Int8Isa::avx512_vnni : Int8Isa::scalar;
}

std::atomic<Int8Isa>& current() {
  static std::atomic<Int8Isa> isa{initial_isa()};
  return isa;
}

}  // namespace

bool int8_isa_supported(Int8Isa isa) {
  return isa == Int8Isa::scalar || cpu_has_vnni();
}

Int8Isa int8_isa() {
  return current().load(std::memory_order_relaxed);
}

void force_int8_isa(Int8Isa isa) {
  if (!int8_isa_supported(isa)) {
    throw InputError("this CPU cannot run the " + to_string(isa) + " int8 kernels");
  }
  current().store(isa, std::memory_order_relaxed);
}

const Int8Kernels& int8_kernels() {
  return int8_isa() == Int8Isa::avx512_vnni ? avx512_vnni_int8_kernels() : scalar_int8_kernels();
}

std::string to_string(Int8Isa isa) {
  return isa == Int8Isa::avx512_vnni ? "avx512_vnni" : "scalar";
}

}  // namespace clipface::gallery_detail

namespace clipface {

std::string int8_kernels_in_use() {
  return gallery_detail::to_string(gallery_detail::int8_isa());
}

}  // namespace clipface
