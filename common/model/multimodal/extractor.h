// UniFormerV2's extractor layer (the global branch's decoder): a query token
// (the temporal class token) cross-attends to all tokens of all frames of
// one backbone layer, then passes through a QuickGELU MLP. Pre-LayerNorm on
// the query (`ln_1`), the keys/values (`ln_3`) and the MLP input (`ln_2`).
#ifndef COMMON_MODEL_MULTIMODAL_EXTRACTOR_H_
#define COMMON_MODEL_MULTIMODAL_EXTRACTOR_H_

#include <torch/torch.h>

#include <cstdint>

#include "common/model/multimodal/layer_norm.h"
#include "common/model/multimodal/multihead_attention.h"
#include "common/model/multimodal/residual_attention_block.h"

namespace iv::model {

class ExtractorImpl : public torch::nn::Module {
 public:
  // The MLP is round(mlp_factor * width) wide, as the official code rounds.
  ExtractorImpl(int64_t width, int64_t heads, double mlp_factor);

  // query [B, Nq, D] attends to tokens [B, Nk, D]; returns [B, Nq, D].
  torch::Tensor forward(const torch::Tensor& query,
                        const torch::Tensor& tokens);

 private:
  MultiheadAttention attn_{nullptr};
  ClipLayerNorm ln_1_{nullptr};
  ClipMlp mlp_{nullptr};
  ClipLayerNorm ln_2_{nullptr};
  ClipLayerNorm ln_3_{nullptr};
};
TORCH_MODULE(Extractor);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_EXTRACTOR_H_
