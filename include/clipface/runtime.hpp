// Where and how models run. Plain enums so that every layer can carry them without LibTorch.
#pragma once

#include <string>

namespace clipface {

enum class Device { cpu, cuda };

enum class Precision {
  fp32,  // reference precision
  bf16,  // reduced precision; for now LibTorch's CPU autocast to bfloat16 around each forward
         // (LayerNorm kept in fp32), the hook for a faster oneDNN path; fp32 output
};

struct RuntimeOptions {
  Device device = Device::cpu;
  Precision precision = Precision::fp32;
  int threads = 0;      // intra-op threads; 0 = all cores
  int batch_size = 32;  // callers pass any count; the engine batches internally
};

Device parse_device(const std::string& name);        // "cpu" | "cuda"; InputError otherwise
Precision parse_precision(const std::string& name);  // "fp32" | "bf16"
std::string to_string(Device device);
std::string to_string(Precision precision);

}  // namespace clipface
