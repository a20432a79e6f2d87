// The project's own checkpoint format: a folder holding
//   model.safetensors       the weights under the official parameter names,
//                           with the arch and provenance in its metadata;
//   model_config.textproto  the ModelConfig (protos/model_config.proto) in
//                           protobuf text format.
// Neither file holds code, unlike the official pickles. Both are written
// atomically, the weights first and the config last, so a folder that has a
// config is complete.
#ifndef COMMON_MODEL_CHECKPOINT_NATIVE_CHECKPOINT_H_
#define COMMON_MODEL_CHECKPOINT_NATIVE_CHECKPOINT_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/model/state_dict.h"
#include "protos/model_config.pb.h"

namespace iv::model {

inline constexpr char kNativeWeightsFile[] = "model.safetensors";
inline constexpr char kNativeConfigFile[] = "model_config.textproto";
// Metadata keys of model.safetensors.
inline constexpr char kArchMetadata[] = "arch";
inline constexpr char kSourceMetadata[] = "source";

struct NativeCheckpoint {
  std::string arch;  // e.g. "videomae-vit-b16"; required
  internvideo::v1::ModelConfig config;
  NamedTensors weights;
  // Free-form provenance (kSourceMetadata: the imported file, ...); arch is
  // stored beside it under kArchMetadata.
  std::map<std::string, std::string> metadata;
};

// True if `path` is a folder with a model config (a complete checkpoint).
bool IsNativeCheckpoint(const std::string& path);

// Creates `dir` if needed and writes both files into it.
absl::Status WriteNativeCheckpoint(const std::string& dir,
                                   const NativeCheckpoint& checkpoint);

// Reads both files. Errors name the file: NOT_FOUND when one is missing,
// DATA_LOSS when it cannot be parsed or the weights lack their arch.
absl::StatusOr<NativeCheckpoint> ReadNativeCheckpoint(const std::string& dir);

}  // namespace iv::model

#endif  // COMMON_MODEL_CHECKPOINT_NATIVE_CHECKPOINT_H_
