#include "common/model/arch/arch_helpers.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace iv::model::arch_internal {

const torch::Tensor* Find(const NamedTensors& weights,
                          const std::string& name) {
  for (const auto& [key, tensor] : weights) {
    if (key == name) return &tensor;
  }
  return nullptr;
}

int64_t CountBlocks(const NamedTensors& weights, const std::string& prefix) {
  int64_t count = 0;
  for (const auto& [key, tensor] : weights) {
    if (!absl::StartsWith(key, prefix)) continue;
    const std::string rest = key.substr(prefix.size());
    int64_t index = 0;
    if (absl::SimpleAtoi(rest.substr(0, rest.find('.')), &index)) {
      count = std::max(count, index + 1);
    }
  }
  return count;
}

std::string Shape(const torch::Tensor& tensor) {
  return absl::StrCat("[", absl::StrJoin(tensor.sizes(), ","), "]");
}

absl::Status Missing(const std::string& name, const std::string& arch) {
  return absl::InvalidArgumentError(
      absl::StrCat("no ", name, ": not a ", arch, " checkpoint"));
}

absl::StatusOr<torch::Tensor> VideoInput(
    const std::map<std::string, torch::Tensor>& inputs) {
  auto found = inputs.find("video");
  if (found == inputs.end()) {
    return absl::InvalidArgumentError("the input has no \"video\" tensor");
  }
  const torch::Tensor& video = found->second;
  if (video.scalar_type() != torch::kFloat32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "video: float32 expected, got ", c10::toString(video.scalar_type())));
  }
  if (video.dim() != 5 || video.size(1) != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("video: [B,3,T,H,W] expected, got ", Shape(video)));
  }
  return video;
}

absl::StatusOr<std::optional<torch::Tensor>> TextInput(
    const std::map<std::string, torch::Tensor>& inputs,
    const ClipTextOptions& text, int64_t vocab_size,
    absl::string_view vocab_source) {
  auto found = inputs.find("text_tokens");
  if (found == inputs.end()) return std::nullopt;
  const torch::Tensor& tokens = found->second;
  if (tokens.scalar_type() != torch::kInt64 &&
      tokens.scalar_type() != torch::kInt32) {
    return absl::InvalidArgumentError(
        absl::StrCat("text_tokens: int64 expected, got ",
                     c10::toString(tokens.scalar_type())));
  }
  if (tokens.dim() != 2 || tokens.size(1) < 1 ||
      tokens.size(1) > text.context_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("text_tokens: [B,N] with 1 <= N <= ", text.context_length,
                     " (the context length) expected, got ", Shape(tokens)));
  }
  if (tokens.numel() == 0) return tokens.to(torch::kInt64);
  const torch::Tensor flat = tokens.to(torch::kInt64).reshape({-1});
  for (const torch::Tensor& index : {flat.argmin(), flat.argmax()}) {
    const int64_t i = index.item<int64_t>();
    const int64_t id = flat[i].item<int64_t>();
    if (id < 0 || id >= vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("text_tokens: id ", id, " at [", i / tokens.size(1), ",",
                       i % tokens.size(1), "] is outside the ", vocab_size,
                       " ids of ", vocab_source));
    }
  }
  return tokens.to(torch::kInt64);
}

int64_t CountParameters(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const torch::Tensor& parameter : module.parameters()) {
    count += parameter.numel();
  }
  return count;
}

}  // namespace iv::model::arch_internal
