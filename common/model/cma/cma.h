// Cross-model attention (CMA), the InternVideo paper's Fig. 4 (arXiv
// 2212.03191, section 3.3): with the masked video encoder and the multimodal
// encoder frozen, trainable pre-LN blocks of multi-head cross-attention + FFN
// let the masked encoder's tokens (queries) gather from the multimodal
// encoder's tokens (keys/values); at the top the multimodal class token
// attends to all the masked-encoder tokens. Two linear heads, one on that
// class token and one on the mean-pooled masked-encoder tokens, give logits
// that are summed.
//
// The module takes already-computed token tensors, so it does not depend on
// how (or on which device, or in which precision) the encoders ran. There is
// no official CMA checkpoint, so the parameter names are the project's own:
//   masked_proj, multimodal_proj   Linear to `width`, present only when the
//                                  encoder's width differs from it
//   blocks.N.{norm_q, norm_kv, cross_attn.{q_proj, k_proj (no bias), v_proj,
//     out_proj}, norm_ffn, ffn.{fc1, fc2}}
//   top.(same as a block)          the class token's cross-attention
//   cls_norm, cls_head             head on the top's class token
//   pooled_norm, pooled_head       head on the pooled masked-encoder tokens
//   video_proj                     [embed_dim, width] Linear without bias,
//                                  only with embed_dim: the class feature
//                                  in the joint video-text space
// LayerNorms use eps 1e-6 and the FFN exact GELU, as the masked encoder does.
#ifndef COMMON_MODEL_CMA_CMA_H_
#define COMMON_MODEL_CMA_CMA_H_

#include <torch/torch.h>

#include <cstdint>

#include "common/model/cma/config_types.h"
#include "common/model/videomae/block.h"

namespace iv::model {

// Multi-head attention of `queries` [B, Nq, W] over `context` [B, Nk, W],
// with q/v/out projections with bias and a key projection without.
class CmaCrossAttentionImpl : public torch::nn::Module {
 public:
  CmaCrossAttentionImpl(int64_t width, int64_t heads);

  // -> [B, Nq, W].
  torch::Tensor forward(const torch::Tensor& queries,
                        const torch::Tensor& context);

 private:
  int64_t heads_;
  torch::nn::Linear q_proj_{nullptr};
  torch::nn::Linear k_proj_{nullptr};
  torch::nn::Linear v_proj_{nullptr};
  torch::nn::Linear out_proj_{nullptr};
};
TORCH_MODULE(CmaCrossAttention);

// Pre-LN: x + cross_attn(norm_q(x), norm_kv(context)), then + ffn(norm_ffn).
// The context gets its own norm because it comes from the other encoder,
// whose token statistics differ from the queries'.
class CmaBlockImpl : public torch::nn::Module {
 public:
  CmaBlockImpl(int64_t width, int64_t heads, int64_t hidden_dim);

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);

 private:
  VideoMaeLayerNorm norm_q_{nullptr};
  VideoMaeLayerNorm norm_kv_{nullptr};
  CmaCrossAttention cross_attn_{nullptr};
  VideoMaeLayerNorm norm_ffn_{nullptr};
  Mlp ffn_{nullptr};
};
TORCH_MODULE(CmaBlock);

struct CmaOutput {
  torch::Tensor logits;           // [B, num_classes]: the sum of the two heads
  torch::Tensor cls_features;     // [B, width]: the top's class token, normed
  torch::Tensor pooled_features;  // [B, width]: pooled tokens, normed
  // [B, embed_dim]: cls_features projected into the joint video-text space;
  // undefined without a projection.
  torch::Tensor video_embeds;
  // [B, 1 + N1, width]: the top's class token, then the coordinated
  // masked-encoder tokens (the residual stream, before the heads' norms):
  // what heads that read tokens (VQA, the caption decoder) attend to.
  torch::Tensor tokens;
};

class CrossModelAttentionImpl : public torch::nn::Module {
 public:
  explicit CrossModelAttentionImpl(const CmaConfig& config);

  // `masked_tokens` [B, N1, masked_dim]: the masked encoder's tokens (e.g.
  // its final-norm output, no masking); `multimodal_tokens` [B, N2,
  // multimodal_dim] with the multimodal encoder's class token first.
  CmaOutput forward(const torch::Tensor& masked_tokens,
                    const torch::Tensor& multimodal_tokens);

 private:
  torch::nn::Linear masked_proj_{nullptr};      // null when widths match
  torch::nn::Linear multimodal_proj_{nullptr};  // null when widths match
  torch::nn::ModuleList blocks_;
  CmaBlock top_{nullptr};
  VideoMaeLayerNorm cls_norm_{nullptr};
  torch::nn::Linear cls_head_{nullptr};
  VideoMaeLayerNorm pooled_norm_{nullptr};
  torch::nn::Linear pooled_head_{nullptr};
  torch::nn::Linear video_proj_{nullptr};  // null without embed_dim
};
TORCH_MODULE(CrossModelAttention);

}  // namespace iv::model

#endif  // COMMON_MODEL_CMA_CMA_H_
