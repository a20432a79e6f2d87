// The safetensors reader (checkpoints, CLI outputs) on arbitrary files.
#include <cstddef>
#include <cstdint>

#include "common/safetensors/safetensors.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const iv::fuzz::MemoryFile file(data, size);
  absl::StatusOr<iv::TensorFile> read = iv::ReadSafetensors(file.path());
  if (!read.ok()) {
    iv::fuzz::CheckPreciseStatus(read.status());
    return 0;
  }
  // Every byte of every tensor must be readable.
  for (const auto& [name, tensor] : read->tensors) {
    (void)tensor.to(torch::kDouble).sum().item<double>();
  }
  return 0;
}
