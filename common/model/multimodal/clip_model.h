// InternVideo-MM's video-text model (the official clip_utils/model.py CLIP):
// the video tower `visual` with `visual_ln_post` and `visual_proj` into the
// joint space, and CLIP's text tower laid out flat as the official one is
// (`token_embedding`, `positional_embedding`, `transformer` with a causal
// mask, `ln_final`, pooling at the EOT token, `text_projection`), plus the
// learnable temperature `logit_scale` and `text_mask_embedding` (used only
// by masked language modeling; kept so official checkpoints load strictly).
#ifndef COMMON_MODEL_MULTIMODAL_CLIP_MODEL_H_
#define COMMON_MODEL_MULTIMODAL_CLIP_MODEL_H_

#include <torch/torch.h>

#include "common/model/multimodal/config_types.h"
#include "common/model/multimodal/layer_norm.h"
#include "common/model/multimodal/residual_attention_block.h"
#include "common/model/multimodal/vision_transformer.h"

namespace iv::model {

struct ClipOutput {
  torch::Tensor video_embeds;  // [B, embed_dim], before L2 normalization
  torch::Tensor text_embeds;   // [B, embed_dim], before L2 normalization
  torch::Tensor video_tokens;  // [B, T, 1 + H*W, width], the last block's
  torch::Tensor text_tokens;   // [B, N, text width], after ln_final
};

class InternVideoClipImpl : public torch::nn::Module {
 public:
  explicit InternVideoClipImpl(const MultimodalConfig& config);

  // video [B, 3, T, H, W] (CLIP-normalized) -> [B, embed_dim].
  torch::Tensor EncodeVideo(const torch::Tensor& video);
  // text [B, N] int64 token ids, N <= context_length, each row's EOT being
  // its largest id (as CLIP's tokenizer makes it) -> [B, embed_dim].
  torch::Tensor EncodeText(const torch::Tensor& text);
  // Both, with the token features the caption decoder reads.
  ClipOutput forward(const torch::Tensor& video, const torch::Tensor& text);

  // The video tower's output before ln_post and the projection: the
  // balanced video feature and the last block's tokens.
  GlobalTransformerOutput Visual(const torch::Tensor& video);
  // A Visual feature [B, width] -> [B, embed_dim].
  torch::Tensor ProjectVideo(const torch::Tensor& feature);
  // Every position's features after ln_final: [B, N, width].
  torch::Tensor TextTokens(const torch::Tensor& text);

  const torch::Tensor& logit_scale() const { return logit_scale_; }

 private:
  // The EOT position's features of `tokens`, projected.
  torch::Tensor ProjectText(const torch::Tensor& tokens,
                            const torch::Tensor& text);

  ClipVisionTransformer visual_{nullptr};
  ClipLayerNorm visual_ln_post_{nullptr};
  torch::Tensor visual_proj_;
  ClipTransformer transformer_{nullptr};
  torch::nn::Embedding token_embedding_{nullptr};
  torch::Tensor positional_embedding_;
  ClipLayerNorm ln_final_{nullptr};
  torch::Tensor text_projection_;
  torch::Tensor logit_scale_;
  torch::Tensor text_mask_embedding_;
};
TORCH_MODULE(InternVideoClip);

// The additive causal mask of CLIP's text transformer: 0 on and below the
// diagonal, -inf above it, so token i attends to tokens 0..i only.
torch::Tensor CausalMask(int64_t length);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_CLIP_MODEL_H_
