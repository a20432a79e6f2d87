// InternVideo-MM's video tower (UniFormerV2 "vit_only_global"): CLIP's
// VisionTransformer applied to every frame — a Conv3d of kernel and stride
// (1, p, p) without bias cuts each frame into patches (`conv1`), a learned
// `class_embedding` token is prepended, the learned `positional_embedding`
// added and `ln_pre` applied — then the GlobalTransformer (`transformer`).
#ifndef COMMON_MODEL_MULTIMODAL_VISION_TRANSFORMER_H_
#define COMMON_MODEL_MULTIMODAL_VISION_TRANSFORMER_H_

#include <torch/torch.h>

#include "common/model/multimodal/config.h"
#include "common/model/multimodal/global_transformer.h"
#include "common/model/multimodal/layer_norm.h"

namespace iv::model {

class ClipVisionTransformerImpl : public torch::nn::Module {
 public:
  explicit ClipVisionTransformerImpl(const ClipVisionOptions& options);

  // video [B, 3, T, H, W], normalized pixels; H and W must give the
  // positional embedding's patch count (it is not interpolated). Any T.
  GlobalTransformerOutput forward(const torch::Tensor& video);

 private:
  torch::nn::Conv3d conv1_{nullptr};
  torch::Tensor class_embedding_;
  torch::Tensor positional_embedding_;
  ClipLayerNorm ln_pre_{nullptr};
  GlobalTransformer transformer_{nullptr};
};
TORCH_MODULE(ClipVisionTransformer);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_VISION_TRANSFORMER_H_
