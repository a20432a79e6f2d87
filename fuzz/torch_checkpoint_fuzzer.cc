// Whole torch.save files (zip archives of torch >= 1.6, and the legacy
// format) through the checkpoint reader, as `iv model import` reads them.
#include <cstddef>
#include <cstdint>

#include "common/model/checkpoint/torch_checkpoint.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const iv::fuzz::MemoryFile file(data, size);
  absl::StatusOr<iv::model::TorchCheckpoint> read =
      iv::model::ReadTorchCheckpointWithInfo(file.path());
  if (!read.ok()) {
    iv::fuzz::CheckPreciseStatus(read.status());
    return 0;
  }
  for (const auto& [name, tensor] : read->weights) {
    (void)tensor.to(torch::kDouble).sum().item<double>();
  }
  return 0;
}
