// Multi-head self-attention as VideoMAE lays it out: one `qkv` projection
// without bias, plus separate `q_bias` and `v_bias` parameters (the key bias
// is fixed at zero, since a key bias only adds a constant per query row,
// which softmax cancels), and the output projection `proj`.
#ifndef COMMON_MODEL_VIDEOMAE_ATTENTION_H_
#define COMMON_MODEL_VIDEOMAE_ATTENTION_H_

#include <torch/torch.h>

#include <cstdint>

namespace iv::model {

class VideoMaeAttentionImpl : public torch::nn::Module {
 public:
  VideoMaeAttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias);

  // [B, N, D] -> [B, N, D].
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t num_heads_;
  torch::nn::Linear qkv_{nullptr};
  torch::Tensor q_bias_;  // undefined without qkv_bias
  torch::Tensor v_bias_;
  torch::nn::Linear proj_{nullptr};
};
TORCH_MODULE(VideoMaeAttention);

// softmax(q k^T / sqrt(head_dim)) v over [B, heads, N, head_dim] tensors
// (keys and values may have another N). LibTorch 2.x runs its fused kernel;
// 1.13 runs BlockedAttention in bf16 on the CPU without autograd, the plain
// three steps otherwise.
torch::Tensor ScaledDotProductAttention(const torch::Tensor& q,
                                        const torch::Tensor& k,
                                        const torch::Tensor& v);

// The same, for inference on the CPU only (no autograd): per batch element
// and head (in parallel), per block of query rows, so that each block's
// scores stay in cache from the matmul through the softmax to the second
// matmul. Returns a [B, heads, N, head_dim] view of a [B, N, heads,
// head_dim] tensor, so merging the heads back costs no copy.
torch::Tensor BlockedAttention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v);

}  // namespace iv::model

#endif  // COMMON_MODEL_VIDEOMAE_ATTENTION_H_
