// VideoMAE's ViT for finetuning and serving (modeling_finetune.py
// VisionTransformer): tubelet tokens plus the fixed position table, the
// blocks, then either mean pooling + fc_norm (the default) or the final norm
// and the first token, and a linear classification head.
//
// For serving, run forward under torch::InferenceMode and eval(); for bf16,
// also hold a Bf16Autocast (autocast.h) around it.
#ifndef COMMON_MODEL_VIDEOMAE_VISION_TRANSFORMER_H_
#define COMMON_MODEL_VIDEOMAE_VISION_TRANSFORMER_H_

#include <torch/torch.h>

#include "common/model/videomae/block.h"
#include "common/model/videomae/config_types.h"
#include "common/model/videomae/patch_embed.h"

namespace iv::model {

struct VideoMaeOutput {
  torch::Tensor features;  // [B, D]: the pooled, normalized clip feature
  torch::Tensor logits;    // [B, num_classes]; undefined without a head
};

class VisionTransformerImpl : public torch::nn::Module {
 public:
  // Parameters get the official finetuning initialization (head scaled by
  // run_class_finetuning.py's default init_scale, 0.001).
  explicit VisionTransformerImpl(const VideoMaeConfig& config);

  // `video` is [B, 3, T, H, W], normalized as config.normalization says;
  // T, H and W need only divide into tubelets (the position table is
  // resized to clips of another size than the config's).
  VideoMaeOutput forward(const torch::Tensor& video);

  // [B, N, D]: every token after the blocks (and after `norm`, which only
  // exists without mean pooling), for heads that attend to tokens.
  torch::Tensor Tokens(const torch::Tensor& video);

  const VideoMaeConfig& config() const { return config_; }

 private:
  torch::Tensor Pool(const torch::Tensor& tokens);

  VideoMaeConfig config_;
  PatchEmbed patch_embed_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  VideoMaeLayerNorm norm_{nullptr};     // without mean pooling
  VideoMaeLayerNorm fc_norm_{nullptr};  // with mean pooling
  torch::nn::Linear head_{nullptr};     // when num_classes > 0
};
TORCH_MODULE(VisionTransformer);

// patch_embed(video) + the position table (position_table.h, for
// patch_embed's trained grid): the tokens every VideoMAE encoder starts
// from.
torch::Tensor EmbedTokens(PatchEmbed& patch_embed, const torch::Tensor& video);

// The token grid of the clips `config` was trained at (num_frames x img_size
// x img_size).
TokenGrid TrainedGrid(const VideoMaeConfig& config);

}  // namespace iv::model

#endif  // COMMON_MODEL_VIDEOMAE_VISION_TRANSFORMER_H_
