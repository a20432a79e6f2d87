// CLIP's ResidualAttentionBlock and Transformer: pre-LayerNorm residual
// branches, multi-head self-attention (`attn`, `ln_1`) then an MLP
// `mlp.c_fc` -> QuickGELU -> `mlp.c_proj` (`ln_2`) of 4x width. The vision
// tower runs them per frame; the text tower with a causal mask.
#ifndef COMMON_MODEL_MULTIMODAL_RESIDUAL_ATTENTION_BLOCK_H_
#define COMMON_MODEL_MULTIMODAL_RESIDUAL_ATTENTION_BLOCK_H_

#include <torch/torch.h>

#include <cstdint>

#include "common/model/multimodal/layer_norm.h"
#include "common/model/multimodal/multihead_attention.h"

namespace iv::model {

// x * sigmoid(1.702 x): CLIP's fast GELU approximation, which its weights
// were trained with (so the exact GELU would not match them).
torch::Tensor QuickGelu(const torch::Tensor& x);

// c_proj(QuickGELU(c_fc(x))), the names of CLIP's nn.Sequential.
class ClipMlpImpl : public torch::nn::Module {
 public:
  ClipMlpImpl(int64_t dim, int64_t hidden_dim);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Linear c_fc_{nullptr};
  torch::nn::Linear c_proj_{nullptr};
};
TORCH_MODULE(ClipMlp);

class ResidualAttentionBlockImpl : public torch::nn::Module {
 public:
  ResidualAttentionBlockImpl(int64_t width, int64_t heads);

  // [B, N, D] -> [B, N, D]; `mask` as MultiheadAttention takes it.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask = {});

 private:
  MultiheadAttention attn_{nullptr};
  ClipLayerNorm ln_1_{nullptr};
  ClipMlp mlp_{nullptr};
  ClipLayerNorm ln_2_{nullptr};
};
TORCH_MODULE(ResidualAttentionBlock);

// CLIP's Transformer: `resblocks.0` ... `resblocks.{layers-1}` in order.
class ClipTransformerImpl : public torch::nn::Module {
 public:
  ClipTransformerImpl(int64_t width, int64_t layers, int64_t heads);

  // [B, N, D] -> [B, N, D], every block given `mask`.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& mask = {});

 private:
  torch::nn::ModuleList resblocks_;
};
TORCH_MODULE(ClipTransformer);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_RESIDUAL_ATTENTION_BLOCK_H_
