// The multimodal encoder's configuration with every default filled in: what
// the modules of this folder are built from. It is resolved from the typed
// config (protos/model_config.proto, MultimodalEncoderConfig), whose presets
// carry the official CLIP sizes.
#ifndef COMMON_MODEL_MULTIMODAL_CONFIG_H_
#define COMMON_MODEL_MULTIMODAL_CONFIG_H_

#include "absl/status/statusor.h"
#include "common/model/multimodal/config_types.h"
#include "protos/model_config.pb.h"

namespace iv::model {

// Fills the defaults of `proto` from its preset ("tiny", "b16", "l14") and
// the documented defaults, and checks it. Errors are INVALID_ARGUMENT naming
// the field, e.g. "multimodal_encoder.vision.heads: 768 is not divisible by
// 7".
absl::StatusOr<MultimodalConfig> ResolveMultimodalConfig(
    const internvideo::v1::MultimodalEncoderConfig& proto);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_CONFIG_H_
