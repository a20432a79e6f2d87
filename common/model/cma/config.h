// Cross-model attention's configuration with every default filled in,
// resolved from protos/model_config.proto's CrossModelAttentionConfig and the
// widths of the two (frozen) encoders whose tokens it takes.
#ifndef COMMON_MODEL_CMA_CONFIG_H_
#define COMMON_MODEL_CMA_CONFIG_H_

#include "absl/status/statusor.h"
#include "common/model/cma/config_types.h"
#include "protos/model_config.pb.h"

namespace iv::model {

// Fills the defaults of `proto` (num_blocks 4, width and heads from the
// masked encoder, mlp_ratio 4, num_classes from ModelConfig.class_names'
// size; with video_projection, embed_dim from the multimodal encoder) and
// checks it. Errors are INVALID_ARGUMENT naming the field, e.g.
// "cma.heads: 96 is not divisible by 5".
absl::StatusOr<CmaConfig> ResolveCmaConfig(
    const internvideo::v1::CrossModelAttentionConfig& proto,
    const CmaEncoderDims& encoders, int num_class_names = 0);

}  // namespace iv::model

#endif  // COMMON_MODEL_CMA_CONFIG_H_
