#include "common/model/multimodal/vision_transformer.h"

#include <cmath>

namespace iv::model {

ClipVisionTransformerImpl::ClipVisionTransformerImpl(
    const ClipVisionOptions& options)
    : grid_(options.input_resolution / options.patch_size) {
  const int64_t width = options.width;
  const int64_t p = options.patch_size;
  if (options.conv_stem_channels.empty()) {
    conv1_ = register_module(
        "conv1", torch::nn::Conv3d(torch::nn::Conv3dOptions(3, width, {1, p, p})
                                       .stride({1, p, p})
                                       .bias(false)));
  } else {
    conv_stem_ = register_module("conv_stem",
                                 ConvStem(options.conv_stem_channels, width));
  }
  // CLIP's init: N(0, width^-1/2).
  const double scale = 1.0 / std::sqrt(static_cast<double>(width));
  class_embedding_ =
      register_parameter("class_embedding", scale * torch::randn({width}));
  positional_embedding_ = register_parameter(
      "positional_embedding", scale * torch::randn({grid_ * grid_ + 1, width}));
  ln_pre_ = register_module("ln_pre", ClipLayerNorm(width));
  transformer_ = register_module("transformer", GlobalTransformer(options));
}

GlobalTransformerOutput ClipVisionTransformerImpl::forward(
    const torch::Tensor& video) {
  const torch::Tensor patches =  // [B, D, T, h, w]
      conv_stem_ ? conv_stem_(video) : conv1_(video);
  const TokenGrid grid{patches.size(2), patches.size(3), patches.size(4)};
  const int64_t dim = patches.size(1);
  torch::Tensor x = patches.permute({0, 2, 3, 4, 1})
                        .reshape({-1, grid.height * grid.width, dim});
  const torch::Tensor cls =
      class_embedding_.to(x.scalar_type()).expand({x.size(0), 1, dim});
  x = torch::cat({cls, x}, 1) +
      Positions(grid.height, grid.width).to(x.scalar_type());
  return transformer_(ln_pre_(x), grid);
}

torch::Tensor ClipVisionTransformerImpl::Positions(int64_t height,
                                                   int64_t width) {
  if (height == grid_ && width == grid_) return positional_embedding_;
  namespace F = torch::nn::functional;
  const int64_t dim = positional_embedding_.size(1);
  const torch::Tensor patches =
      positional_embedding_.narrow(0, 1, grid_ * grid_)
          .reshape({1, grid_, grid_, dim})
          .permute({0, 3, 1, 2});
  const torch::Tensor resized =
      F::interpolate(patches, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{height, width})
                                  .mode(torch::kBicubic)
                                  .align_corners(false));
  return torch::cat({positional_embedding_.narrow(0, 0, 1),
                     resized.permute({0, 2, 3, 1}).reshape({-1, dim})});
}

}  // namespace iv::model
