// The transformer block of VideoMAE's ViT: pre-LayerNorm (eps 1e-6)
// residual branches, attention then a GELU MLP, each optionally scaled by a
// learned per-channel gamma (layer scale) and dropped per sample in training
// (stochastic depth).
#ifndef COMMON_MODEL_VIDEOMAE_BLOCK_H_
#define COMMON_MODEL_VIDEOMAE_BLOCK_H_

#include <torch/torch.h>

#include <cstdint>

#include "common/model/videomae/attention.h"

namespace iv::model {

// LayerNorm with eps 1e-6, as VideoMAE builds every norm, computed in its
// parameters' dtype (fp32). Under bf16 autocast its input may be bf16:
// CUDA autocast would run layer_norm in fp32 anyway, and LibTorch 1.13's
// CPU kernel rejects bf16 input with fp32 weights, so the cast is explicit.
// Without autocast it is a no-op. In a model cast to bf16 for inference
// (bf16 weights) it still normalizes in fp32 on the CPU, and returns bf16.
class VideoMaeLayerNormImpl : public torch::nn::LayerNormImpl {
 public:
  explicit VideoMaeLayerNormImpl(int64_t dim);
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(VideoMaeLayerNorm);

// fc2(GELU(fc1(x))), with the exact (erf) GELU.
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t dim, int64_t hidden_dim);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Linear fc1_{nullptr};
  torch::nn::Linear fc2_{nullptr};
};
TORCH_MODULE(Mlp);

// Stochastic depth: in training, zeroes each sample's residual branch with
// probability `rate` and scales the kept ones by 1 / (1 - rate), so the
// expected output is unchanged. The identity otherwise.
torch::Tensor DropPath(const torch::Tensor& x, double rate, bool training);

struct VideoMaeBlockOptions {
  int64_t dim = 0;
  int64_t num_heads = 0;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  double init_values = 0.0;  // 0 = no layer scale
  double drop_path = 0.0;
};

class VideoMaeBlockImpl : public torch::nn::Module {
 public:
  explicit VideoMaeBlockImpl(const VideoMaeBlockOptions& options);

  // [B, N, D] -> [B, N, D].
  torch::Tensor forward(const torch::Tensor& x);

 private:
  // The residual branch: gamma * f(x) under layer scale, f(x) without.
  torch::Tensor Branch(const torch::Tensor& gamma, const torch::Tensor& fx);

  double drop_path_;
  VideoMaeLayerNorm norm1_{nullptr};
  VideoMaeAttention attn_{nullptr};
  VideoMaeLayerNorm norm2_{nullptr};
  Mlp mlp_{nullptr};
  torch::Tensor gamma_1_;  // undefined without layer scale
  torch::Tensor gamma_2_;
};
TORCH_MODULE(VideoMaeBlock);

// `depth` blocks whose drop path rates rise linearly from 0 to
// `drop_path_rate` (the official decay rule); `options.drop_path` is
// ignored.
torch::nn::ModuleList MakeVideoMaeBlocks(const VideoMaeBlockOptions& options,
                                         int64_t depth, double drop_path_rate);

// Runs `blocks` (from MakeVideoMaeBlocks) in order.
torch::Tensor RunVideoMaeBlocks(const torch::nn::ModuleList& blocks,
                                torch::Tensor x);

}  // namespace iv::model

#endif  // COMMON_MODEL_VIDEOMAE_BLOCK_H_
