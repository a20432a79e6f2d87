#include "common/model/arch/arch.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/model/arch/internvideo_arch.h"
#include "common/model/arch/multimodal_arch.h"
#include "common/model/arch/videomae_arch.h"
#include "common/model/checkpoint/native_checkpoint.h"
#include "common/model/checkpoint/torch_checkpoint.h"
#include "common/model/internvideo/internvideo_model.h"

namespace iv::model {
namespace {

absl::Status WithPath(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(path, ": ", status.message()));
}

// An official checkpoint's weights renamed and described for `arch`.
absl::StatusOr<ArchCheckpoint> FromOfficial(const std::string& path,
                                            TorchCheckpoint official,
                                            const Arch& arch) {
  ArchCheckpoint checkpoint;
  checkpoint.arch = &arch;
  checkpoint.weights = std::move(official.weights);
  checkpoint.details = std::move(official.other_entries);
  if (absl::Status s = arch.NormalizeNames(checkpoint.weights); !s.ok()) {
    return WithPath(path, s);
  }
  absl::StatusOr<internvideo::v1::ModelConfig> config =
      arch.InferConfig(checkpoint.weights);
  if (!config.ok()) return WithPath(path, config.status());
  checkpoint.config = *std::move(config);
  for (auto& note : arch.LoadNotes(checkpoint.weights)) {
    checkpoint.details.push_back(std::move(note));
  }
  return checkpoint;
}

absl::StatusOr<ArchCheckpoint> FromNative(const std::string& path) {
  absl::StatusOr<NativeCheckpoint> native = ReadNativeCheckpoint(path);
  if (!native.ok()) return native.status();
  absl::StatusOr<const Arch*> arch = FindArch(native->arch);
  if (!arch.ok()) return WithPath(path, arch.status());
  ArchCheckpoint checkpoint;
  checkpoint.arch = *arch;
  checkpoint.native = true;
  checkpoint.config = std::move(native->config);
  checkpoint.weights = std::move(native->weights);
  checkpoint.details.assign(native->metadata.begin(), native->metadata.end());
  return checkpoint;
}

}  // namespace

const std::vector<const Arch*>& Arches() {
  static const auto* const arches = new std::vector<const Arch*>([] {
    std::vector<const Arch*> all;
    for (const Arch* arch : VideoMaeArches()) all.push_back(arch);
    for (const Arch* arch : MultimodalArches()) all.push_back(arch);
    all.push_back(InternVideoArch());
    return all;
  }());
  return *arches;
}

absl::StatusOr<const Arch*> FindArch(absl::string_view name) {
  std::vector<std::string> names;
  for (const Arch* arch : Arches()) {
    if (arch->name() == name) return arch;
    names.push_back(arch->name());
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown arch \"", name, "\"; known: ", absl::StrJoin(names, ", ")));
}

void ToInternVideoNames(const Arch& arch, NamedTensors& weights) {
  if (arch.part() == internvideo::v1::MODEL_PART_UNSPECIFIED) return;
  const std::string prefix = InternVideoModelImpl::PartPrefix(arch.part());
  const std::string decoder = InternVideoModelImpl::PartPrefix(
      internvideo::v1::MODEL_PART_CAPTION_DECODER);
  for (auto& [name, tensor] : weights) {
    if (!absl::StartsWith(name, decoder)) name = prefix + name;
  }
}

absl::StatusOr<ArchCheckpoint> ReadArchCheckpoint(const std::string& path,
                                                  const Arch& arch) {
  if (IsNativeCheckpoint(path)) {
    absl::StatusOr<ArchCheckpoint> checkpoint = FromNative(path);
    if (checkpoint.ok() && checkpoint->arch != &arch) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": holds a ", checkpoint->arch->name(),
                       " checkpoint, not ", arch.name()));
    }
    return checkpoint;
  }
  absl::StatusOr<TorchCheckpoint> official = ReadTorchCheckpointWithInfo(path);
  if (!official.ok()) return official.status();
  return FromOfficial(path, *std::move(official), arch);
}

absl::StatusOr<ArchCheckpoint> InspectCheckpoint(const std::string& path) {
  if (IsNativeCheckpoint(path)) return FromNative(path);
  absl::StatusOr<TorchCheckpoint> official = ReadTorchCheckpointWithInfo(path);
  if (!official.ok()) return official.status();
  for (const Arch* arch : Arches()) {
    NamedTensors renamed = official->weights;  // shares the tensors
    if (arch->NormalizeNames(renamed).ok() && arch->Matches(renamed)) {
      return FromOfficial(path, *std::move(official), *arch);
    }
  }
  ArchCheckpoint unknown;
  unknown.weights = std::move(official->weights);
  unknown.details = std::move(official->other_entries);
  return unknown;
}

}  // namespace iv::model
