#include "trainer/init_checkpoint.h"

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/model/arch/arch.h"

namespace iv::trainer {
namespace {

absl::StatusOr<model::NamedTensors> ReadWeights(const std::string& path) {
  absl::StatusOr<model::ArchCheckpoint> checkpoint =
      model::InspectCheckpoint(path);
  if (!checkpoint.ok()) return checkpoint.status();
  if (checkpoint->arch == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a checkpoint of any known arch"));
  }
  model::ToInternVideoNames(*checkpoint->arch, checkpoint->weights);
  return std::move(checkpoint->weights);
}

}  // namespace

absl::StatusOr<InitReport> LoadInitCheckpoint(
    const internvideo::v1::InitCheckpoint& init, model::InternVideoModel& model,
    const std::string& field) {
  absl::StatusOr<model::NamedTensors> weights = ReadWeights(init.path());
  if (!weights.ok()) {
    return absl::Status(
        weights.status().code(),
        absl::StrCat(field, ".path: ", weights.status().message()));
  }
  std::map<std::string, torch::Tensor> by_name;
  const bool finetuning_encoder = static_cast<bool>(model->masked_encoder());
  for (auto& [name, tensor] : *weights) {
    std::string target = name;
    // A pretraining encoder's weights into the finetuning encoder, as
    // run_class_finetuning.py loads them.
    if (finetuning_encoder &&
        absl::StartsWith(name, "masked_encoder.encoder.")) {
      target = "masked_encoder." +
               name.substr(std::string("masked_encoder.encoder.").size());
    }
    by_name[target] = tensor;
  }
  const std::string prefix =
      model::InternVideoModelImpl::PartPrefix(init.part());
  InitReport report;
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) {
    if (!absl::StartsWith(item.key(), prefix)) continue;
    auto found = by_name.find(item.key());
    if (found == by_name.end() ||
        found->second.sizes() != item.value().sizes()) {
      report.kept.push_back(item.key());
      continue;
    }
    item.value().copy_(found->second);
    ++report.loaded;
  }
  if (report.loaded == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".path: ", init.path(), " has none of the parameters of ",
        prefix.empty() ? "the model" : prefix));
  }
  return report;
}

}  // namespace iv::trainer
