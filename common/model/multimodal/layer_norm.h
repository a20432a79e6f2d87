// CLIP's LayerNorm subclass: normalizes in fp32 whatever the input's dtype
// and returns the input's dtype, so fp16/bf16 activations never lose the
// statistics' precision (eps 1e-5, torch's default, as CLIP builds it).
#ifndef COMMON_MODEL_MULTIMODAL_LAYER_NORM_H_
#define COMMON_MODEL_MULTIMODAL_LAYER_NORM_H_

#include <torch/torch.h>

#include <cstdint>

namespace iv::model {

class ClipLayerNormImpl : public torch::nn::LayerNormImpl {
 public:
  explicit ClipLayerNormImpl(int64_t dim);
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(ClipLayerNorm);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_LAYER_NORM_H_
