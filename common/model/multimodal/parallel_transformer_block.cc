#include "common/model/multimodal/parallel_transformer_block.h"

#include <cmath>
#include <limits>
#include <vector>

namespace iv::model {

ParallelTransformerBlockImpl::ParallelTransformerBlockImpl(int64_t dim,
                                                           int64_t dim_head,
                                                           int64_t heads,
                                                           int64_t ff_mult)
    : dim_head_(dim_head), heads_(heads), ff_inner_dim_(dim * ff_mult) {
  norm_ = register_module("norm", CocaLayerNorm(dim));
  rotary_emb_ = register_module("rotary_emb", RotaryEmbedding(dim_head));
  const int64_t fused = heads * dim_head + 2 * dim_head + 2 * ff_inner_dim_;
  fused_attn_ff_proj_ = register_module(
      "fused_attn_ff_proj",
      torch::nn::Linear(torch::nn::LinearOptions(dim, fused).bias(false)));
  attn_out_ = register_module(
      "attn_out",
      torch::nn::Linear(
          torch::nn::LinearOptions(heads * dim_head, dim).bias(false)));
  ff_out_ = register_module(
      "ff_out",
      torch::nn::Sequential(
          torch::nn::Functional(SwiGlu),
          torch::nn::Linear(
              torch::nn::LinearOptions(ff_inner_dim_, dim).bias(false))));
}

torch::Tensor ParallelTransformerBlockImpl::forward(const torch::Tensor& x) {
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const std::vector<torch::Tensor> parts =
      fused_attn_ff_proj_(norm_(x)).split_with_sizes(
          {heads_ * dim_head_, dim_head_, dim_head_, 2 * ff_inner_dim_}, -1);
  const torch::Tensor angles = rotary_emb_(length).to(x.scalar_type());
  const torch::Tensor q =
      ApplyRotary(
          angles,
          parts[0].view({batch, length, heads_, dim_head_}).transpose(1, 2)) /
      std::sqrt(static_cast<double>(dim_head_));
  const torch::Tensor k = ApplyRotary(angles, parts[1]).unsqueeze(1);
  // [B, heads, N, N]; the one key/value head broadcasts over the heads. A
  // large finite fill, as the official code uses, stays finite in bf16.
  const torch::Tensor causal =
      torch::ones({length, length}, x.options().dtype(torch::kBool)).triu(1);
  const torch::Tensor attention =
      torch::matmul(q, k.transpose(-2, -1))
          .masked_fill(causal, -std::numeric_limits<float>::max())
          .softmax(-1);
  const torch::Tensor out = torch::matmul(attention, parts[2].unsqueeze(1))
                                .transpose(1, 2)
                                .reshape({batch, length, heads_ * dim_head_});
  return attn_out_(out) + ff_out_->forward(parts[3]);
}

}  // namespace iv::model
