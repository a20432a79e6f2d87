// The configuration of the masked video encoder with every default filled in,
// as plain structs: what the modules of this folder are built from. They need
// neither Abseil nor Protobuf, so the modules also compile where only LibTorch
// exists (tools/gpu); config.h resolves them from the typed config.
#ifndef COMMON_MODEL_VIDEOMAE_CONFIG_TYPES_H_
#define COMMON_MODEL_VIDEOMAE_CONFIG_TYPES_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "common/video/transforms.h"

namespace iv::model {

// VideoMAE's pretraining decoder (modeling_pretrain.py) and its masking.
struct PretrainDecoderConfig {
  int64_t embed_dim = 0;
  int64_t depth = 0;
  int64_t num_heads = 0;
  // Fraction of each time slice's tokens that tube masking hides.
  double mask_ratio = 0.9;
  // Normalize each target tubelet by its own mean and std (per channel).
  bool normalize_target = true;
};

// VideoMAE's ViT (modeling_finetune.py VisionTransformer). img_size and
// num_frames are the sizes the model was trained at; forward passes take
// any clip whose sizes divide into tubelets, because the position table
// built for the trained sizes is resized to the input's (position_table.h,
// as InternVideo's run_class_finetuning.py resizes it).
struct VideoMaeConfig {
  int64_t img_size = 224;
  int64_t patch_size = 16;
  int64_t num_frames = 16;
  int64_t tubelet_size = 2;
  int64_t embed_dim = 0;
  int64_t depth = 0;
  int64_t num_heads = 0;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  // Layer scale's initial gamma; 0 = no gamma_1 / gamma_2 parameters.
  double init_values = 0.0;
  // Mean pooling + fc_norm (true), or the final norm and the first token.
  bool use_mean_pooling = true;
  // Width of the classification head; 0 = no head (features only).
  int64_t num_classes = 0;
  // Stochastic depth, rising linearly over the blocks to this rate.
  double drop_path_rate = 0.0;
  // How input pixels were normalized; the pretraining loss undoes it.
  video::Normalization normalization = video::kImageNetNormalization;
  // The output channels of a convolutional stem in place of the linear
  // patch embedding (common/model/conv_stem.h); empty = none.
  std::vector<int64_t> conv_stem_channels;
  // Present only for masked video modeling (pretraining).
  std::optional<PretrainDecoderConfig> decoder;
};

}  // namespace iv::model

#endif  // COMMON_MODEL_VIDEOMAE_CONFIG_TYPES_H_
