// What the arch files (videomae_arch.cc, multimodal_arch.cc) share to read
// official weights and run their models; not part of the arch API.
#ifndef COMMON_MODEL_ARCH_ARCH_HELPERS_H_
#define COMMON_MODEL_ARCH_ARCH_HELPERS_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/model/multimodal/config.h"
#include "common/model/state_dict.h"

namespace iv::model::arch_internal {

// The tensor called `name`, or nullptr.
const torch::Tensor* Find(const NamedTensors& weights, const std::string& name);

// 1 + the largest i of the names "<prefix>i.*"; 0 without any.
int64_t CountBlocks(const NamedTensors& weights, const std::string& prefix);

// "[2,3,16,16]".
std::string Shape(const torch::Tensor& tensor);

// INVALID_ARGUMENT "no NAME: not a ARCH checkpoint".
absl::Status Missing(const std::string& name, const std::string& arch);

// inputs["video"], checked to be float32 [B,3,T,H,W]; INVALID_ARGUMENT
// with a one-line reason otherwise.
absl::StatusOr<torch::Tensor> VideoInput(
    const std::map<std::string, torch::Tensor>& inputs);

// inputs["text_tokens"], checked for the text tower: int64 (or int32, as
// the official tokenize returns) [B, N], N <= the context length, ids in
// [0, vocab_size); nullopt without one. `vocab_source` says whose
// vocabulary bounds the ids.
absl::StatusOr<std::optional<torch::Tensor>> TextInput(
    const std::map<std::string, torch::Tensor>& inputs,
    const ClipTextOptions& text, int64_t vocab_size,
    absl::string_view vocab_source);

int64_t CountParameters(const torch::nn::Module& module);

// Runs `fn` (returning NamedTensors) in inference mode, turning what
// LibTorch throws on inputs the arch's checks let pass (say, memory
// exhausted) into a one-line INTERNAL error.
template <typename Fn>
absl::StatusOr<NamedTensors> Guarded(Fn fn) {
  try {
    torch::InferenceMode inference;
    return fn();
  } catch (const c10::Error& error) {
    return absl::InternalError(error.what_without_backtrace());
  }
}

}  // namespace iv::model::arch_internal

#endif  // COMMON_MODEL_ARCH_ARCH_HELPERS_H_
