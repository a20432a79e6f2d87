// Multi-head attention laid out as torch.nn.MultiheadAttention, which CLIP
// and UniFormerV2 use, so their checkpoints load by name: one packed
// `in_proj_weight` [3D, D] / `in_proj_bias` [3D] for q, k, v and the
// output projection `out_proj`. Tensors are batch-first [B, N, D] here (the
// official code runs sequence-first; the arithmetic is the same).
#ifndef COMMON_MODEL_MULTIMODAL_MULTIHEAD_ATTENTION_H_
#define COMMON_MODEL_MULTIMODAL_MULTIHEAD_ATTENTION_H_

#include <torch/torch.h>

#include <cstdint>

namespace iv::model {

class MultiheadAttentionImpl : public torch::nn::Module {
 public:
  MultiheadAttentionImpl(int64_t dim, int64_t num_heads);

  // Self-attention over x [B, N, D]; `mask` (optional, [N, N]) is added to
  // the scores, e.g. -inf above the diagonal for causal attention.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask = {});

  // Queries from x [B, Nq, D] attend to keys and values from y [B, Nk, D].
  torch::Tensor CrossAttend(const torch::Tensor& x, const torch::Tensor& y);

 private:
  // q, k or v projection (index 0, 1, 2 of the packed weights), split into
  // heads: [B, N, D] -> [B, heads, N, head_dim].
  torch::Tensor Project(const torch::Tensor& x, int64_t index);
  torch::Tensor Attend(const torch::Tensor& q, const torch::Tensor& k,
                       const torch::Tensor& v, const torch::Tensor& mask);

  int64_t dim_;
  int64_t num_heads_;
  torch::Tensor in_proj_weight_;
  torch::Tensor in_proj_bias_;
  torch::nn::Linear out_proj_{nullptr};
};
TORCH_MODULE(MultiheadAttention);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_MULTIHEAD_ATTENTION_H_
