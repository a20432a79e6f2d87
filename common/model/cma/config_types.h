// The configuration of cross-model attention with every default filled in, as
// plain structs: what the modules of this folder are built from. They
// need neither Abseil nor Protobuf, so the modules also compile where
// only LibTorch exists (tools/gpu); config.h resolves them from the
// typed config.
#ifndef COMMON_MODEL_CMA_CONFIG_TYPES_H_
#define COMMON_MODEL_CMA_CONFIG_TYPES_H_

#include <cstdint>

namespace iv::model {

struct CmaConfig {
  // Token widths of the masked encoder (queries) and of the multimodal
  // encoder (keys/values); each is projected to `width` when it differs.
  int64_t masked_dim = 0;
  int64_t multimodal_dim = 0;
  int64_t num_blocks = 4;
  int64_t width = 0;
  int64_t heads = 0;
  double mlp_ratio = 4.0;
  int64_t num_classes = 0;
  // Width of the joint video-text space the class feature is projected to;
  // 0 = no projection.
  int64_t embed_dim = 0;
};

// The encoder facts the proto's defaults refer to.
struct CmaEncoderDims {
  int64_t masked_embed_dim = 0;
  int64_t masked_num_heads = 0;
  int64_t multimodal_width = 0;
  int64_t multimodal_embed_dim = 0;  // the joint video-text space
};

}  // namespace iv::model

#endif  // COMMON_MODEL_CMA_CONFIG_TYPES_H_
