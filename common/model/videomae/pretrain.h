// VideoMAE pretraining (modeling_pretrain.py PretrainVisionTransformer): the
// encoder sees only the visible ~10% of tokens; a narrow decoder gets them
// back in full length, with a shared learned mask token (plus its position)
// for every hidden one, and predicts the hidden tubelets' pixels.
#ifndef COMMON_MODEL_VIDEOMAE_PRETRAIN_H_
#define COMMON_MODEL_VIDEOMAE_PRETRAIN_H_

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cstdint>

#include "common/model/videomae/block.h"
#include "common/model/videomae/config_types.h"
#include "common/model/videomae/patch_embed.h"

namespace iv::model {

// The encoder half (official prefix `encoder.`): patch_embed, blocks, norm.
class PretrainEncoderImpl : public torch::nn::Module {
 public:
  explicit PretrainEncoderImpl(const VideoMaeConfig& config);

  // [B, N_visible, D]: the tokens `mask` [B, N] leaves visible (false), in
  // token order, after the blocks and the final norm. Without a mask: all.
  torch::Tensor forward(const torch::Tensor& video,
                        const torch::Tensor& mask = {});

  PatchEmbed& patch_embed() { return patch_embed_; }

 private:
  PatchEmbed patch_embed_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  VideoMaeLayerNorm norm_{nullptr};
};
TORCH_MODULE(PretrainEncoder);

// The decoder half (official prefix `decoder.`): blocks, norm, and `head`
// to 3 x tubelet x patch x patch pixel values per token.
class PretrainDecoderImpl : public torch::nn::Module {
 public:
  explicit PretrainDecoderImpl(const VideoMaeConfig& config);

  // [B, N, Dd] tokens whose last `num_masked` are the masked ones ->
  // [B, num_masked, pixels]: predictions for those only.
  torch::Tensor forward(const torch::Tensor& x, int64_t num_masked);

 private:
  torch::nn::ModuleList blocks_{nullptr};
  VideoMaeLayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(PretrainDecoder);

class PretrainVisionTransformerImpl : public torch::nn::Module {
 public:
  // config.decoder must be set. Parameters get the official pretraining
  // initialization.
  explicit PretrainVisionTransformerImpl(const VideoMaeConfig& config);

  // [B, M, 3 * tubelet * patch^2]: predicted pixels of the M tokens per
  // clip that `mask` [B, N] (from TubeMask) hides, in token order.
  torch::Tensor forward(const torch::Tensor& video, const torch::Tensor& mask);

  // A fresh tube mask for `video` at the configured ratio, on its device.
  torch::Tensor SampleMask(const torch::Tensor& video, at::Generator generator);

  // The masked-reconstruction MSE of `video` under `mask`.
  torch::Tensor Loss(const torch::Tensor& video, const torch::Tensor& mask);

  // [B, N, D]: every token through the encoder and its final norm, without
  // masking (official encoder with an all-visible mask).
  torch::Tensor EncoderTokens(const torch::Tensor& video);

  const VideoMaeConfig& config() const { return config_; }

 private:
  VideoMaeConfig config_;
  PretrainEncoder encoder_{nullptr};
  torch::nn::Linear encoder_to_decoder_{nullptr};
  torch::Tensor mask_token_;  // [1, 1, Dd]
  PretrainDecoder decoder_{nullptr};
};
TORCH_MODULE(PretrainVisionTransformer);

}  // namespace iv::model

#endif  // COMMON_MODEL_VIDEOMAE_PRETRAIN_H_
