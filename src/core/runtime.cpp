#include "clipface/runtime.hpp"

#include "clipface/errors.hpp"

namespace clipface {

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::cpu;
  if (name == "cuda") return Device::cuda;
  throw InputError("unknown device '" + name + "' (expected cpu or cuda)");
}

Precision parse_precision(const std::string& name) {
  if (name == "auto") return Precision::automatic;
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  throw InputError("unknown precision '" + name + "' (expected auto, fp32 or bf16)");
}

std::string to_string(Device device) {
  return device == Device::cpu ? "cpu" : "cuda";
}
std::string to_string(Precision precision) {
  switch (precision) {
    case Precision::automatic:
      return "auto";
    case Precision::fp32:
      return "fp32";
    case Precision::bf16:
      return "bf16";
  }
  return "fp32";
}

}  // namespace clipface
