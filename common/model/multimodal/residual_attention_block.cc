#include "common/model/multimodal/residual_attention_block.h"

namespace iv::model {

torch::Tensor QuickGelu(const torch::Tensor& x) {
  return x * torch::sigmoid(1.702 * x);
}

ClipMlpImpl::ClipMlpImpl(int64_t dim, int64_t hidden_dim) {
  c_fc_ = register_module("c_fc", torch::nn::Linear(dim, hidden_dim));
  c_proj_ = register_module("c_proj", torch::nn::Linear(hidden_dim, dim));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) {
  return c_proj_(QuickGelu(c_fc_(x)));
}

ResidualAttentionBlockImpl::ResidualAttentionBlockImpl(int64_t width,
                                                       int64_t heads) {
  attn_ = register_module("attn", MultiheadAttention(width, heads));
  ln_1_ = register_module("ln_1", ClipLayerNorm(width));
  mlp_ = register_module("mlp", ClipMlp(width, 4 * width));
  ln_2_ = register_module("ln_2", ClipLayerNorm(width));
}

torch::Tensor ResidualAttentionBlockImpl::forward(const torch::Tensor& x,
                                                  const torch::Tensor& mask) {
  const torch::Tensor y = x + attn_(ln_1_(x), mask);
  return y + mlp_(ln_2_(y));
}

ClipTransformerImpl::ClipTransformerImpl(int64_t width, int64_t layers,
                                         int64_t heads) {
  resblocks_ = register_module("resblocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i) {
    resblocks_->push_back(ResidualAttentionBlock(width, heads));
  }
}

torch::Tensor ClipTransformerImpl::forward(torch::Tensor x,
                                           const torch::Tensor& mask) {
  for (const auto& block : *resblocks_) {
    x = block->as<ResidualAttentionBlock>()->forward(x, mask);
  }
  return x;
}

}  // namespace iv::model
