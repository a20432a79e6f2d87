#include "common/model/multimodal/vision_transformer.h"

#include <cmath>

namespace iv::model {

ClipVisionTransformerImpl::ClipVisionTransformerImpl(
    const ClipVisionOptions& options) {
  const int64_t width = options.width;
  const int64_t p = options.patch_size;
  conv1_ = register_module(
      "conv1", torch::nn::Conv3d(torch::nn::Conv3dOptions(3, width, {1, p, p})
                                     .stride({1, p, p})
                                     .bias(false)));
  // CLIP's init: N(0, width^-1/2).
  const double scale = 1.0 / std::sqrt(static_cast<double>(width));
  const int64_t grid = options.input_resolution / p;
  class_embedding_ =
      register_parameter("class_embedding", scale * torch::randn({width}));
  positional_embedding_ = register_parameter(
      "positional_embedding", scale * torch::randn({grid * grid + 1, width}));
  ln_pre_ = register_module("ln_pre", ClipLayerNorm(width));
  transformer_ = register_module("transformer", GlobalTransformer(options));
}

GlobalTransformerOutput ClipVisionTransformerImpl::forward(
    const torch::Tensor& video) {
  const torch::Tensor patches = conv1_(video);  // [B, D, T, h, w]
  const TokenGrid grid{patches.size(2), patches.size(3), patches.size(4)};
  TORCH_CHECK(grid.height * grid.width + 1 == positional_embedding_.size(0),
              "a ", video.size(3), "x", video.size(4), " frame gives ",
              grid.height * grid.width,
              " patches; the positional embedding has ",
              positional_embedding_.size(0) - 1);
  const int64_t dim = patches.size(1);
  torch::Tensor x = patches.permute({0, 2, 3, 4, 1})
                        .reshape({-1, grid.height * grid.width, dim});
  const torch::Tensor cls =
      class_embedding_.to(x.scalar_type()).expand({x.size(0), 1, dim});
  x = torch::cat({cls, x}, 1) + positional_embedding_.to(x.scalar_type());
  return transformer_(ln_pre_(x), grid);
}

}  // namespace iv::model
