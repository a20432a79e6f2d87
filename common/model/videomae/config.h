// The masked video encoder's configuration with every default filled in:
// what the modules of this folder are built from. It is resolved from the
// typed config (protos/model_config.proto, MaskedVideoEncoderConfig), whose
// presets carry the official VideoMAE sizes.
#ifndef COMMON_MODEL_VIDEOMAE_CONFIG_H_
#define COMMON_MODEL_VIDEOMAE_CONFIG_H_

#include "absl/status/statusor.h"
#include "common/model/videomae/config_types.h"
#include "protos/model_config.pb.h"

namespace iv::model {

// Fills the defaults of `proto` from its preset ("tiny", "s16", "b16",
// "l16", "h16") and the documented defaults, and checks it. A num_classes of
// 0 takes `num_class_names` (ModelConfig.class_names' size). Errors are
// INVALID_ARGUMENT naming the field, e.g.
// "masked_encoder.num_heads: 768 is not divisible by 7".
absl::StatusOr<VideoMaeConfig> ResolveVideoMaeConfig(
    const internvideo::v1::MaskedVideoEncoderConfig& proto,
    int num_class_names = 0);

}  // namespace iv::model

#endif  // COMMON_MODEL_VIDEOMAE_CONFIG_H_
