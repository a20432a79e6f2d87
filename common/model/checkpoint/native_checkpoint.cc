#include "common/model/checkpoint/native_checkpoint.h"

#include <google/protobuf/text_format.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/files/atomic_file.h"
#include "common/proto/text_format.h"
#include "common/safetensors/safetensors.h"

namespace iv::model {
namespace {

std::string JoinPath(const std::string& dir, const char* file) {
  return (std::filesystem::path(dir) / file).string();
}

}  // namespace

bool IsNativeCheckpoint(const std::string& path) {
  std::error_code error;
  return std::filesystem::is_directory(path, error) &&
         std::filesystem::is_regular_file(JoinPath(path, kNativeConfigFile),
                                          error);
}

absl::Status WriteNativeCheckpoint(const std::string& dir,
                                   const NativeCheckpoint& checkpoint) {
  if (checkpoint.arch.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": a native checkpoint needs its arch"));
  }
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat(dir, ": cannot create the folder: ", error.message()));
  }
  TensorFile weights;
  weights.tensors = checkpoint.weights;
  weights.metadata = checkpoint.metadata;
  weights.metadata[kArchMetadata] = checkpoint.arch;
  const std::string weights_path = JoinPath(dir, kNativeWeightsFile);
  // The weights go first: a config beside them marks the folder complete.
  if (absl::Status s = WriteSafetensors(weights_path, weights); !s.ok()) {
    return s;
  }
  const std::string config_path = JoinPath(dir, kNativeConfigFile);
  return files::WriteFileAtomically(config_path,
                                    proto::ToTextFormat(checkpoint.config));
}

absl::StatusOr<NativeCheckpoint> ReadNativeCheckpoint(const std::string& dir) {
  NativeCheckpoint checkpoint;
  const std::string config_path = JoinPath(dir, kNativeConfigFile);
  std::ifstream config_file(config_path);
  if (!config_file) {
    return absl::NotFoundError(absl::StrCat(config_path, ": cannot open"));
  }
  std::stringstream text;
  text << config_file.rdbuf();
  if (!google::protobuf::TextFormat::ParseFromString(text.str(),
                                                     &checkpoint.config)) {
    return absl::DataLossError(
        absl::StrCat(config_path, ": not a ModelConfig in text format"));
  }
  const std::string weights_path = JoinPath(dir, kNativeWeightsFile);
  absl::StatusOr<TensorFile> weights = ReadSafetensors(weights_path);
  // (Its errors name the file.)
  if (!weights.ok()) return weights.status();
  auto arch = weights->metadata.find(kArchMetadata);
  if (arch == weights->metadata.end() || arch->second.empty()) {
    return absl::DataLossError(absl::StrCat(
        weights_path, ": no \"", kArchMetadata, "\" in the metadata"));
  }
  checkpoint.arch = arch->second;
  weights->metadata.erase(arch);
  checkpoint.metadata = std::move(weights->metadata);
  checkpoint.weights = std::move(weights->tensors);
  return checkpoint;
}

}  // namespace iv::model
