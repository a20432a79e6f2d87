#include "common/model/videomae/patch_embed.h"

namespace iv::model {

PatchEmbedImpl::PatchEmbedImpl(int64_t embed_dim, int64_t patch_size,
                               int64_t tubelet_size, const TokenGrid& trained,
                               const std::vector<int64_t>& conv_stem_channels)
    : patch_size_(patch_size), tubelet_size_(tubelet_size), trained_(trained) {
  std::vector<int64_t> tubelet = {tubelet_size, patch_size, patch_size};
  int64_t in_channels = 3;
  if (!conv_stem_channels.empty()) {
    stem_ = register_module("stem", ConvStem(conv_stem_channels, embed_dim));
    tubelet = {tubelet_size, 1, 1};  // the stem made the patches
    in_channels = embed_dim;
  }
  proj_ = register_module(
      "proj", torch::nn::Conv3d(
                  torch::nn::Conv3dOptions(in_channels, embed_dim, tubelet)
                      .stride(tubelet)));
}

TokenGrid PatchEmbedImpl::Grid(const torch::Tensor& video) const {
  TORCH_CHECK(video.dim() == 5 && video.size(1) == 3,
              "video must be [B, 3, T, H, W], got ", video.sizes());
  const int64_t frames = video.size(2);
  const int64_t height = video.size(3);
  const int64_t width = video.size(4);
  TORCH_CHECK(frames % tubelet_size_ == 0, "video has ", frames,
              " frames, not a multiple of the tubelet size ", tubelet_size_);
  TORCH_CHECK(height % patch_size_ == 0 && width % patch_size_ == 0,
              "video frames are ", height, "x", width,
              ", not multiples of the patch size ", patch_size_);
  return {frames / tubelet_size_, height / patch_size_, width / patch_size_};
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& video) {
  Grid(video);  // the convolution would silently drop partial tubelets
  return proj_(stem_ ? stem_(video) : video).flatten(2).transpose(1, 2);
}

}  // namespace iv::model
