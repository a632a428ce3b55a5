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

// cpu_info() also checks that the OS saves the AVX and AVX-512 registers (XCR0).
bool cpu_runs(Int8Isa isa) {
  const CpuInfo& cpu = cpu_info();
  switch (isa) {
    case Int8Isa::scalar:
      return true;
    case Int8Isa::avx2:
      return cpu.avx2;
    case Int8Isa::avx512_vnni:
      return cpu.avx512f && cpu.avx512bw && cpu.avx512_vnni;
  }
  return false;
}

Int8Isa best_isa() {
  for (Int8Isa isa : {Int8Isa::avx512_vnni, Int8Isa::avx2}) {
    if (cpu_runs(isa)) return isa;
  }
  return Int8Isa::scalar;
}

Int8Isa initial_isa() {
  const char* asked = std::getenv("CLIPFACE_INT8_ISA");
  if (!asked || !*asked) return best_isa();
  for (Int8Isa isa : {Int8Isa::scalar, Int8Isa::avx2, Int8Isa::avx512_vnni}) {
    if (to_string(isa) != asked) continue;
    if (cpu_runs(isa)) return isa;
    spdlog::warn("CLIPFACE_INT8_ISA={}: this CPU cannot run those kernels; using {}", asked,
                 to_string(best_isa()));
    return best_isa();
  }
  spdlog::warn("CLIPFACE_INT8_ISA={} is not scalar, avx2 or avx512_vnni; ignored", asked);
  return best_isa();
}

std::atomic<Int8Isa>& current() {
  static std::atomic<Int8Isa> isa{initial_isa()};
  return isa;
}

}  // namespace

bool int8_isa_supported(Int8Isa isa) {
  return cpu_runs(isa);
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
  switch (int8_isa()) {
    case Int8Isa::avx512_vnni:
      return avx512_vnni_int8_kernels();
    case Int8Isa::avx2:
      return avx2_int8_kernels();
    case Int8Isa::scalar:
      break;
  }
  return scalar_int8_kernels();
}

std::string to_string(Int8Isa isa) {
  switch (isa) {
    case Int8Isa::avx512_vnni:
      return "avx512_vnni";
    case Int8Isa::avx2:
      return "avx2";
    case Int8Isa::scalar:
      break;
  }
  return "scalar";
}

}  // namespace clipface::gallery_detail

namespace clipface {

std::string int8_kernels_in_use() {
  return gallery_detail::to_string(gallery_detail::int8_isa());
}

}  // namespace clipface
