// CoCa's ParallelTransformerBlock (GPT-J style), the caption decoder's
// causal self-attention layer: after one pre-LayerNorm (`norm`), a single
// fused projection (`fused_attn_ff_proj`, no bias) yields the queries of
// every head, one key and one value shared by all heads (multi-query
// attention) and the SwiGLU feed-forward input; the attention output
// (`attn_out`) and the feed-forward output (`ff_out.1`) are summed.
// Positions enter through rotary embeddings on q and k.
#ifndef COMMON_MODEL_MULTIMODAL_PARALLEL_TRANSFORMER_BLOCK_H_
#define COMMON_MODEL_MULTIMODAL_PARALLEL_TRANSFORMER_BLOCK_H_

#include <torch/torch.h>

#include <cstdint>

#include "common/model/multimodal/coca_layers.h"

namespace iv::model {

class ParallelTransformerBlockImpl : public torch::nn::Module {
 public:
  ParallelTransformerBlockImpl(int64_t dim, int64_t dim_head, int64_t heads,
                               int64_t ff_mult);

  // [B, N, D] -> [B, N, D] (the branch only; the caller adds the residual).
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t dim_head_;
  int64_t heads_;
  int64_t ff_inner_dim_;
  CocaLayerNorm norm_{nullptr};
  RotaryEmbedding rotary_emb_{nullptr};
  torch::nn::Linear fused_attn_ff_proj_{nullptr};
  torch::nn::Linear attn_out_{nullptr};
  torch::nn::Sequential ff_out_{nullptr};
};
TORCH_MODULE(ParallelTransformerBlock);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_PARALLEL_TRANSFORMER_BLOCK_H_
