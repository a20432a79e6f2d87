// Reading and writing the safetensors format: an 8-byte little-endian header
// length, a JSON header naming each tensor's dtype, shape and byte range, then
// the raw little-endian bytes. It is what the project's checkpoints and CLI
// outputs use, because it holds no code (unlike pickles) and any language
// reads it with a few lines.
#ifndef COMMON_SAFETENSORS_SAFETENSORS_H_
#define COMMON_SAFETENSORS_SAFETENSORS_H_

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace iv {

struct TensorFile {
  // In file order (by byte offset).
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  // The header's optional "__metadata__": free-form strings.
  std::map<std::string, std::string> metadata;

  // The tensor called `name`, or nullptr.
  const torch::Tensor* Find(const std::string& name) const;
};

// Writes `file` to `path` atomically: a temporary file, fsync, rename. A crash
// leaves either the old file or the new one, never a torn one. Tensors may be
// on any device and of any layout; names must be unique and non-empty.
absl::Status WriteSafetensors(const std::string& path, const TensorFile& file);

// Reads a whole file into CPU tensors. A missing file is NOT_FOUND; a file
// that is not safetensors, is truncated or has inconsistent ranges is
// DATA_LOSS with the reason.
absl::StatusOr<TensorFile> ReadSafetensors(const std::string& path);

}  // namespace iv

#endif  // COMMON_SAFETENSORS_SAFETENSORS_H_
