// A convolutional stem in place of a video encoder's linear patch embedding
// (the multimodal tower's `conv1`, the masked encoder's patch_embed), an
// option of this project's small models (official checkpoints have the
// linear embeddings): per frame, 3x3 convolutions of stride 2 (`convs.i`),
// each followed by GroupNorm of 4 groups (`norms.i`) and GELU, halve the
// frame once per layer, and a 1x1 convolution (`proj`) maps to the
// transformer width, so the token grid is that of 2^layers-pixel patches.
// Tiny transformers trained from scratch on little data learn an object's
// shape from such a stem where a linear patch embedding does not
// (docs/iv-tiny-experiments.md, sessions 6 and 8).
#ifndef COMMON_MODEL_CONV_STEM_H_
#define COMMON_MODEL_CONV_STEM_H_

#include <torch/torch.h>

#include <vector>

namespace iv::model {

class ConvStemImpl : public torch::nn::Module {
 public:
  // `channels`: the output channels of each stride-2 convolution.
  ConvStemImpl(const std::vector<int64_t>& channels, int64_t width);

  // video [B, 3, T, H, W] -> [B, width, T, H / 2^layers, W / 2^layers],
  // as conv1's output.
  torch::Tensor forward(const torch::Tensor& video);

 private:
  torch::nn::ModuleList convs_, norms_;
  torch::nn::Conv2d proj_{nullptr};
};
TORCH_MODULE(ConvStem);

}  // namespace iv::model

#endif  // COMMON_MODEL_CONV_STEM_H_
