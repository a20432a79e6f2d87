#include "common/model/multimodal/layer_norm.h"

namespace iv::model {

ClipLayerNormImpl::ClipLayerNormImpl(int64_t dim)
    : torch::nn::LayerNormImpl(torch::nn::LayerNormOptions({dim})) {}

torch::Tensor ClipLayerNormImpl::forward(const torch::Tensor& x) {
  return torch::nn::LayerNormImpl::forward(x.to(torch::kFloat32))
      .to(x.scalar_type());
}

}  // namespace iv::model
