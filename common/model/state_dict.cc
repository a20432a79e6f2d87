#include "common/model/state_dict.h"

#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace iv::model {
namespace {

// Long key lists (a whole model's worth) are cut to keep messages readable.
constexpr size_t kListedNames = 8;

std::string Shape(const torch::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]");
}

std::string Listed(const std::string& what,
                   const std::vector<std::string>& names) {
  std::vector<std::string> shown(
      names.begin(), names.begin() + std::min(names.size(), kListedNames));
  std::string text =
      absl::StrCat(names.size(), " ", what, " (", absl::StrJoin(shown, ", "));
  if (names.size() > kListedNames) {
    absl::StrAppend(&text, ", and ", names.size() - kListedNames, " more");
  }
  return text + ")";
}

std::map<std::string, torch::Tensor> Targets(torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> targets;
  for (const auto& item : module.named_parameters()) {
    targets[item.key()] = item.value();
  }
  for (const auto& item : module.named_buffers()) {
    targets[item.key()] = item.value();
  }
  return targets;
}

}  // namespace

absl::StatusOr<LoadReport> LoadStateDict(torch::nn::Module& module,
                                         const NamedTensors& tensors,
                                         const LoadOptions& options) {
  const std::map<std::string, torch::Tensor> targets = Targets(module);
  std::map<std::string, const torch::Tensor*> sources;
  LoadReport report;
  std::vector<std::string> problems;
  std::vector<std::string> mismatches;
  for (const auto& [name, tensor] : tensors) {
    if (!sources.emplace(name, &tensor).second) {
      problems.push_back(absl::StrCat("duplicate tensor ", name));
      continue;
    }
    auto target = targets.find(name);
    if (target == targets.end()) {
      report.unexpected.push_back(name);
    } else if (!target->second.sizes().equals(tensor.sizes())) {
      mismatches.push_back(absl::StrCat(name, ": checkpoint ", Shape(tensor),
                                        ", model ", Shape(target->second)));
    }
  }
  for (const auto& [name, target] : targets) {
    if (sources.count(name) == 0) report.missing.push_back(name);
  }
  if (!report.missing.empty() && !options.allow_missing) {
    problems.push_back(Listed("missing", report.missing));
  }
  if (!report.unexpected.empty() && !options.allow_unexpected) {
    problems.push_back(Listed("unexpected", report.unexpected));
  }
  if (!mismatches.empty()) {
    problems.push_back(Listed("of the wrong shape", mismatches));
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "state dict does not fit the model: ", absl::StrJoin(problems, "; ")));
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, source] : sources) {
    auto target = targets.find(name);
    if (target != targets.end()) target->second.copy_(*source);
  }
  return report;
}

NamedTensors StateDict(const torch::nn::Module& module) {
  NamedTensors tensors;
  for (const auto& item : module.named_parameters()) {
    tensors.emplace_back(item.key(), item.value());
  }
  for (const auto& item : module.named_buffers()) {
    tensors.emplace_back(item.key(), item.value());
  }
  return tensors;
}

}  // namespace iv::model
