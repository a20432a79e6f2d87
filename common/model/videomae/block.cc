#include "common/model/videomae/block.h"

namespace iv::model {

VideoMaeLayerNormImpl::VideoMaeLayerNormImpl(int64_t dim)
    : torch::nn::LayerNormImpl(torch::nn::LayerNormOptions({dim}).eps(1e-6)) {}

torch::Tensor VideoMaeLayerNormImpl::forward(const torch::Tensor& x) {
  const torch::ScalarType dtype = weight.scalar_type();
  if (dtype == torch::kFloat || !x.device().is_cpu()) {
    return torch::nn::LayerNormImpl::forward(x.to(dtype));
  }
  // A model cast to bf16 for inference: LibTorch 1.13's CPU layer_norm
  // takes ~10x longer per element in bf16 than in fp32 (measured), so
  // normalize in fp32 and return bf16.
  return torch::layer_norm(x.to(torch::kFloat), options.normalized_shape(),
                           weight.to(torch::kFloat), bias.to(torch::kFloat),
                           options.eps())
      .to(dtype);
}

MlpImpl::MlpImpl(int64_t dim, int64_t hidden_dim) {
  fc1_ = register_module("fc1", torch::nn::Linear(dim, hidden_dim));
  fc2_ = register_module("fc2", torch::nn::Linear(hidden_dim, dim));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  return fc2_(torch::gelu(fc1_(x)));
}

torch::Tensor DropPath(const torch::Tensor& x, double rate, bool training) {
  if (!training || rate == 0.0) return x;
  const double keep = 1.0 - rate;
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  const torch::Tensor kept = torch::empty(shape, x.options()).bernoulli_(keep);
  return x * (kept / keep);
}

VideoMaeBlockImpl::VideoMaeBlockImpl(const VideoMaeBlockOptions& options)
    : drop_path_(options.drop_path) {
  const int64_t dim = options.dim;
  norm1_ = register_module("norm1", VideoMaeLayerNorm(dim));
  attn_ = register_module(
      "attn", VideoMaeAttention(dim, options.num_heads, options.qkv_bias));
  norm2_ = register_module("norm2", VideoMaeLayerNorm(dim));
  // int(), as the official code truncates dim * mlp_ratio.
  const auto hidden = static_cast<int64_t>(dim * options.mlp_ratio);
  mlp_ = register_module("mlp", Mlp(dim, hidden));
  if (options.init_values > 0) {
    gamma_1_ =
        register_parameter("gamma_1", torch::full({dim}, options.init_values));
    gamma_2_ =
        register_parameter("gamma_2", torch::full({dim}, options.init_values));
  }
}

torch::Tensor VideoMaeBlockImpl::Branch(const torch::Tensor& gamma,
                                        const torch::Tensor& fx) {
  return DropPath(gamma.defined() ? gamma * fx : fx, drop_path_, is_training());
}

torch::Tensor VideoMaeBlockImpl::forward(const torch::Tensor& x) {
  const torch::Tensor y = x + Branch(gamma_1_, attn_(norm1_(x)));
  return y + Branch(gamma_2_, mlp_(norm2_(y)));
}

torch::nn::ModuleList MakeVideoMaeBlocks(const VideoMaeBlockOptions& options,
                                         int64_t depth, double drop_path_rate) {
  torch::nn::ModuleList blocks;
  for (int64_t i = 0; i < depth; ++i) {
    VideoMaeBlockOptions block = options;
    block.drop_path = depth > 1 ? drop_path_rate * i / (depth - 1) : 0.0;
    blocks->push_back(VideoMaeBlock(block));
  }
  return blocks;
}

torch::Tensor RunVideoMaeBlocks(const torch::nn::ModuleList& blocks,
                                torch::Tensor x) {
  for (const auto& block : *blocks) x = block->as<VideoMaeBlock>()->forward(x);
  return x;
}

}  // namespace iv::model
