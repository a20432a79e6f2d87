// CoCa's CrossAttention: queries from x (`to_q`, after `norm`) attend to a
// context (optionally normalized by `context_norm`) through one key and
// one value head shared by all query heads (`to_kv`, multi-query), then
// `to_out`; with a parallel SwiGLU feed-forward (`ff.0`, `ff.2`) of the
// normalized x added. No biases. The caller adds any residual.
#ifndef COMMON_MODEL_MULTIMODAL_CROSS_ATTENTION_H_
#define COMMON_MODEL_MULTIMODAL_CROSS_ATTENTION_H_

#include <torch/torch.h>

#include <cstdint>

#include "common/model/multimodal/coca_layers.h"

namespace iv::model {

struct CrossAttentionOptions {
  int64_t dim = 0;
  int64_t context_dim = 0;  // 0 = dim
  int64_t dim_head = 64;
  int64_t heads = 8;
  bool parallel_ff = false;
  int64_t ff_mult = 4;
  bool norm_context = false;
};

class CocaCrossAttentionImpl : public torch::nn::Module {
 public:
  explicit CocaCrossAttentionImpl(const CrossAttentionOptions& options);

  // x [B, N, dim], context [B, M, context_dim] -> [B, N, dim].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);

 private:
  int64_t dim_head_;
  int64_t heads_;
  CocaLayerNorm norm_{nullptr};
  CocaLayerNorm context_norm_{nullptr};  // null without norm_context
  torch::nn::Linear to_q_{nullptr};
  torch::nn::Linear to_kv_{nullptr};
  torch::nn::Linear to_out_{nullptr};
  torch::nn::Sequential ff_{nullptr};  // null without parallel_ff
};
TORCH_MODULE(CocaCrossAttention);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_CROSS_ATTENTION_H_
