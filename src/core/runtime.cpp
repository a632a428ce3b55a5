#include "clipface/runtime.hpp"

#include "clipface/errors.hpp"

namespace clipface {

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::cpu;
  if (name == "cuda") return Device::cuda;
  throw InputError("unknown device '" + name + "' (expected cpu or cuda)");
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  throw InputError("unknown precision '" + name + "' (expected fp32 or bf16)");
}

std::string to_string(Device device) { return device == Device::cpu ? "cpu" : "cuda"; }
std::string to_string(Precision precision) { return precision == Precision::fp32 ? "fp32" : "bf16"; }

}  // namespace clipface
