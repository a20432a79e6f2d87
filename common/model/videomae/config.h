// The masked video encoder's configuration with every default filled in:
// what the modules of this folder are built from. It is resolved from the
// typed config (protos/model_config.proto, MaskedVideoEncoderConfig), whose
// presets carry the official VideoMAE sizes.
#ifndef COMMON_MODEL_VIDEOMAE_CONFIG_H_
#define COMMON_MODEL_VIDEOMAE_CONFIG_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "common/video/transforms.h"
#include "protos/model_config.pb.h"

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
// any clip whose sizes divide into tubelets, because the position table is
// built for the input (as the official code builds it for its arguments).
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
  // Present only for masked video modeling (pretraining).
  std::optional<PretrainDecoderConfig> decoder;
};

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
