#include "clipface/cpu.hpp"

#include <cpuid.h>

#include <cstdint>
#include <cstring>

namespace clipface {
namespace {

struct Regs {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Regs cpuid(unsigned leaf, unsigned subleaf = 0) {
  Regs r;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

bool bit(unsigned value, int n) {
  return ((value >> n) & 1u) != 0;
}

std::uint64_t xgetbv0() {
  std::uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

std::string trimmed(std::string s) {
  const auto first = s.find_first_not_of(' ');
  const auto last = s.find_last_not_of(' ');
  return first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
}

CpuInfo detect() {
  CpuInfo f;
  const unsigned max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf == 0) return f;
  const Regs vendor = cpuid(0);
  char name[13] = {};
  std::memcpy(name, &vendor.ebx, 4);
  std::memcpy(name + 4, &vendor.edx, 4);
  std::memcpy(name + 8, &vendor.ecx, 4);
  f.vendor = name;

  const Regs l1 = cpuid(1);
  const unsigned base_family = (l1.eax >> 8) & 0xf, base_model = (l1.eax >> 4) & 0xf;
  f.family =
      static_cast<int>(base_family == 0xf ? base_family + ((l1.eax >> 20) & 0xff) : base_family);
  f.model_number = static_cast<int>(base_family == 0x6 || base_family == 0xf
                                        ? base_model + (((l1.eax >> 16) & 0xf) << 4)
                                        : base_model);
  f.stepping = static_cast<int>(l1.eax & 0xf);
  f.sse4_2 = bit(l1.ecx, 20);
  f.fma = bit(l1.ecx, 12);
  f.f16c = bit(l1.ecx, 29);
  const bool osxsave = bit(l1.ecx, 27);
  const std::uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool os_avx = (xcr0 & 0x6) == 0x6;                 // XMM and YMM state
  const bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM0-15 high, ZMM16-31
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;         // XTILECFG and XTILEDATA
  f.avx = os_avx && bit(l1.ecx, 28);

  if (max_leaf >= 7) {
    const Regs l7 = cpuid(7, 0);
    f.avx2 = f.avx && bit(l7.ebx, 5);
    f.avx512f = os_avx512 && bit(l7.ebx, 16);
    f.avx512dq = f.avx512f && bit(l7.ebx, 17);
    f.avx512cd = f.avx512f && bit(l7.ebx, 28);
    f.avx512bw = f.avx512f && bit(l7.ebx, 30);
    f.avx512vl = f.avx512f && bit(l7.ebx, 31);
    f.avx512_vnni = f.avx512f && bit(l7.ecx, 11);
    f.avx512_fp16 = f.avx512f && bit(l7.edx, 23);
    f.amx_bf16 = os_amx && bit(l7.edx, 22);
    f.amx_tile = os_amx && bit(l7.edx, 24);
    f.amx_int8 = os_amx && bit(l7.edx, 25);
    if (l7.eax >= 1) {
      const Regs l71 = cpuid(7, 1);
      f.avx_vnni = f.avx && bit(l71.eax, 4);
      f.avx512_bf16 = f.avx512f && bit(l71.eax, 5);
    }
  }
  if (!f.avx) f.fma = f.f16c = false;

  if (__get_cpuid_max(0x80000000u, nullptr) >= 0x80000004u) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      const Regs r = cpuid(0x80000002u + i);
      std::memcpy(brand + 16 * i, &r.eax, 4);
      std::memcpy(brand + 16 * i + 4, &r.ebx, 4);
      std::memcpy(brand + 16 * i + 8, &r.ecx, 4);
      std::memcpy(brand + 16 * i + 12, &r.edx, 4);
    }
    f.model = trimmed(brand);
  }
  return f;
}

}  // namespace

std::vector<std::string> CpuInfo::names() const {
  const std::pair<const char*, bool> all[] = {{"sse4.2", sse4_2},
                                              {"avx", avx},
                                              {"avx2", avx2},
                                              {"fma", fma},
                                              {"f16c", f16c},
                                              {"avx_vnni", avx_vnni},
                                              {"avx512f", avx512f},
                                              {"avx512bw", avx512bw},
                                              {"avx512vl", avx512vl},
                                              {"avx512dq", avx512dq},
                                              {"avx512cd", avx512cd},
                                              {"avx512_vnni", avx512_vnni},
                                              {"avx512_bf16", avx512_bf16},
                                              {"avx512_fp16", avx512_fp16},
                                              {"amx_tile", amx_tile},
                                              {"amx_bf16", amx_bf16},
                                              {"amx_int8", amx_int8}};
  std::vector<std::string> out;
  for (const auto& [name, present] : all) {
    if (present) out.emplace_back(name);
  }
  return out;
}

const CpuInfo& cpu_info() {
  static const CpuInfo features = detect();
  return features;
}

}  // namespace clipface
