#include "common/model/multimodal/multihead_attention.h"

#include <torch/version.h>

#include <cmath>

namespace iv::model {

MultiheadAttentionImpl::MultiheadAttentionImpl(int64_t dim, int64_t num_heads)
    : dim_(dim), num_heads_(num_heads) {
  TORCH_CHECK(dim % num_heads == 0, "dim ", dim, " is not divisible by ",
              num_heads, " heads");
  in_proj_weight_ = register_parameter(
      "in_proj_weight",
      torch::nn::init::xavier_uniform_(torch::empty({3 * dim, dim})));
  in_proj_bias_ = register_parameter("in_proj_bias", torch::zeros({3 * dim}));
  out_proj_ = register_module("out_proj", torch::nn::Linear(dim, dim));
}

torch::Tensor MultiheadAttentionImpl::Project(const torch::Tensor& x,
                                              int64_t index) {
  const torch::Tensor weight = in_proj_weight_.narrow(0, index * dim_, dim_);
  const torch::Tensor bias = in_proj_bias_.narrow(0, index * dim_, dim_);
  return torch::linear(x, weight, bias)
      .view({x.size(0), x.size(1), num_heads_, dim_ / num_heads_})
      .transpose(1, 2);
}

torch::Tensor MultiheadAttentionImpl::Attend(const torch::Tensor& q,
                                             const torch::Tensor& k,
                                             const torch::Tensor& v,
                                             const torch::Tensor& mask) {
#if TORCH_VERSION_MAJOR >= 2
  const torch::Tensor out = at::scaled_dot_product_attention(
      q, k, v,
      mask.defined() ? c10::optional<at::Tensor>(mask.to(q.scalar_type()))
                     : c10::nullopt);
#else
  // Scaling q before the product, as nn.MultiheadAttention does.
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  torch::Tensor scores = torch::matmul(q * scale, k.transpose(-2, -1));
  if (mask.defined()) scores = scores + mask.to(scores.scalar_type());
  const torch::Tensor out = torch::matmul(scores.softmax(-1), v);
#endif
  // [B, heads, N, head_dim] -> [B, N, D].
  return out_proj_(out.transpose(1, 2).reshape({q.size(0), q.size(2), dim_}));
}

torch::Tensor MultiheadAttentionImpl::forward(const torch::Tensor& x,
                                              const torch::Tensor& mask) {
  return Attend(Project(x, 0), Project(x, 1), Project(x, 2), mask);
}

torch::Tensor MultiheadAttentionImpl::CrossAttend(const torch::Tensor& x,
                                                  const torch::Tensor& y) {
  return Attend(Project(x, 0), Project(y, 1), Project(y, 2), {});
}

}  // namespace iv::model
