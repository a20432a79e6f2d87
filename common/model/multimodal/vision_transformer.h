// InternVideo-MM's video tower (UniFormerV2 "vit_only_global"): CLIP's
// VisionTransformer applied to every frame — a Conv3d of kernel and stride
// (1, p, p) without bias cuts each frame into patches (`conv1`; or, as an
// option of small models, a ConvStem `conv_stem` with the same grid), a learned
// `class_embedding` token is prepended, the learned `positional_embedding`
// added and `ln_pre` applied — then the GlobalTransformer (`transformer`).
// Frames of another size than input_resolution get the positional
// embedding's patch grid resized bicubically (align_corners false, the class
// position kept), as CLIP-based video models resize it when loading a
// checkpoint for another resolution; it is resized at each forward (cheap
// next to the blocks), so gradients reach the stored embedding.
#ifndef COMMON_MODEL_MULTIMODAL_VISION_TRANSFORMER_H_
#define COMMON_MODEL_MULTIMODAL_VISION_TRANSFORMER_H_

#include <torch/torch.h>

#include "common/model/multimodal/config_types.h"
#include "common/model/conv_stem.h"
#include "common/model/multimodal/global_transformer.h"
#include "common/model/multimodal/layer_norm.h"

namespace iv::model {

class ClipVisionTransformerImpl : public torch::nn::Module {
 public:
  explicit ClipVisionTransformerImpl(const ClipVisionOptions& options);

  // video [B, 3, T, H, W], normalized pixels; H and W divisible by the
  // patch size, any T.
  GlobalTransformerOutput forward(const torch::Tensor& video);

 private:
  // The positional embedding for a height x width patch grid:
  // [1 + height * width, width].
  torch::Tensor Positions(int64_t height, int64_t width);

  int64_t grid_;                      // input_resolution / patch_size
  torch::nn::Conv3d conv1_{nullptr};  // or
  ConvStem conv_stem_{nullptr};
  torch::Tensor class_embedding_;
  torch::Tensor positional_embedding_;
  ClipLayerNorm ln_pre_{nullptr};
  GlobalTransformer transformer_{nullptr};
};
TORCH_MODULE(ClipVisionTransformer);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_VISION_TRANSFORMER_H_
