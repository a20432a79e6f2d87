// Loading and saving a module's weights by name: the model library's one way
// to put checkpoint tensors (official or native, already read from disk and
// renamed to the module's parameter names) into a module.
#ifndef COMMON_MODEL_STATE_DICT_H_
#define COMMON_MODEL_STATE_DICT_H_

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace iv::model {

// Named tensors in a stable order, e.g. TensorFile::tensors of
// common/safetensors.
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct LoadOptions {
  // Leave parameters the tensors lack at their current values (e.g. a new
  // classification head when finetuning from a pretrained encoder).
  bool allow_missing = false;
  // Ignore tensors the module has no parameter for (e.g. a pretraining
  // decoder when only the encoder is wanted).
  bool allow_unexpected = false;
};

struct LoadReport {
  std::vector<std::string> missing;     // module names the tensors lack
  std::vector<std::string> unexpected;  // tensor names the module lacks
};

// Copies each tensor into the module's parameter or buffer of the same name
// (converting dtype and device as needed). Fails with INVALID_ARGUMENT,
// changing nothing, on a shape mismatch, a duplicate name, or missing or
// unexpected names that `options` does not allow; the message lists them.
// On success, reports the missing and unexpected names it let pass.
absl::StatusOr<LoadReport> LoadStateDict(torch::nn::Module& module,
                                         const NamedTensors& tensors,
                                         const LoadOptions& options = {});

// The module's parameters and buffers by name, sharing their storage.
NamedTensors StateDict(const torch::nn::Module& module);

}  // namespace iv::model

#endif  // COMMON_MODEL_STATE_DICT_H_
