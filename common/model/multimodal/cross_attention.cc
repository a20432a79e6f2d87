#include "common/model/multimodal/cross_attention.h"

#include <cmath>
#include <vector>

namespace iv::model {
namespace {

torch::nn::Linear NoBias(int64_t in, int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

}  // namespace

CocaCrossAttentionImpl::CocaCrossAttentionImpl(
    const CrossAttentionOptions& options)
    : dim_head_(options.dim_head), heads_(options.heads) {
  const int64_t dim = options.dim;
  const int64_t context_dim = options.context_dim ? options.context_dim : dim;
  const int64_t inner = options.heads * options.dim_head;
  norm_ = register_module("norm", CocaLayerNorm(dim));
  if (options.norm_context) {
    context_norm_ = register_module("context_norm", CocaLayerNorm(context_dim));
  }
  to_q_ = register_module("to_q", NoBias(dim, inner));
  to_kv_ = register_module("to_kv", NoBias(context_dim, 2 * options.dim_head));
  to_out_ = register_module("to_out", NoBias(inner, dim));
  if (options.parallel_ff) {
    const int64_t ff_inner = options.ff_mult * dim;
    ff_ = register_module("ff",
                          torch::nn::Sequential(NoBias(dim, 2 * ff_inner),
                                                torch::nn::Functional(SwiGlu),
                                                NoBias(ff_inner, dim)));
  }
}

torch::Tensor CocaCrossAttentionImpl::forward(const torch::Tensor& x,
                                              const torch::Tensor& context) {
  const torch::Tensor normed = norm_(x);
  const torch::Tensor keys_from =
      context_norm_ ? context_norm_(context) : context;
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const torch::Tensor q =
      to_q_(normed).view({batch, length, heads_, dim_head_}).transpose(1, 2) /
      std::sqrt(static_cast<double>(dim_head_));
  const std::vector<torch::Tensor> kv = to_kv_(keys_from).chunk(2, -1);
  const torch::Tensor attention =
      torch::matmul(q, kv[0].unsqueeze(1).transpose(-2, -1)).softmax(-1);
  torch::Tensor out =
      to_out_(torch::matmul(attention, kv[1].unsqueeze(1))
                  .transpose(1, 2)
                  .reshape({batch, length, heads_ * dim_head_}));
  if (ff_) out = out + ff_->forward(normed);
  return out;
}

}  // namespace iv::model
