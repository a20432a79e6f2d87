#include "common/model/videomae/attention.h"

#include <torch/version.h>

#include <cmath>

namespace iv::model {

AttentionImpl::AttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias)
    : num_heads_(num_heads) {
  TORCH_CHECK(dim % num_heads == 0, "dim ", dim, " is not divisible by ",
              num_heads, " heads");
  qkv_ = register_module(
      "qkv",
      torch::nn::Linear(torch::nn::LinearOptions(dim, 3 * dim).bias(false)));
  if (qkv_bias) {
    q_bias_ = register_parameter("q_bias", torch::zeros({dim}));
    v_bias_ = register_parameter("v_bias", torch::zeros({dim}));
  }
  proj_ = register_module("proj", torch::nn::Linear(dim, dim));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const int64_t batch = x.size(0);
  const int64_t tokens = x.size(1);
  const int64_t dim = x.size(2);
  torch::Tensor bias;
  if (q_bias_.defined()) {
    bias = torch::cat({q_bias_, torch::zeros_like(v_bias_), v_bias_});
  }
  // [B, N, 3D] -> 3 x [B, heads, N, head_dim], views into one buffer.
  const std::vector<torch::Tensor> qkv =
      torch::linear(x, qkv_->weight, bias)
          .view({batch, tokens, 3, num_heads_, dim / num_heads_})
          .permute({2, 0, 3, 1, 4})
          .unbind(0);
  const torch::Tensor out = ScaledDotProductAttention(qkv[0], qkv[1], qkv[2]);
  return proj_(out.transpose(1, 2).reshape({batch, tokens, dim}));
}

torch::Tensor ScaledDotProductAttention(const torch::Tensor& q,
                                        const torch::Tensor& k,
                                        const torch::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  // Its default scale is head_dim^-0.5, the official qk_scale default.
  return at::scaled_dot_product_attention(q, k, v);
#else
  // Scaling q (N x head_dim values) is cheaper than scaling the N x N
  // scores, and it is the official order of operations.
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const torch::Tensor scores = torch::matmul(q * scale, k.transpose(-2, -1));
  return torch::matmul(scores.softmax(-1), v);
#endif
}

}  // namespace iv::model
