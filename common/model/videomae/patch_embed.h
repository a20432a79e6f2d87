// Tubelet embedding: a clip is cut into non-overlapping tubelets of
// tubelet_size frames x patch_size x patch_size pixels, and each becomes one
// token by a linear map, which is a Conv3d whose kernel equals its stride.
// With a convolutional stem (an option of small models, conv_stem.h), the
// stem turns each frame into a grid of patch features first, and the Conv3d
// joins the tubelet_size frames of each grid cell.
#ifndef COMMON_MODEL_VIDEOMAE_PATCH_EMBED_H_
#define COMMON_MODEL_VIDEOMAE_PATCH_EMBED_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "common/model/conv_stem.h"
#include "common/model/token_grid.h"

namespace iv::model {

class PatchEmbedImpl : public torch::nn::Module {
 public:
  // `trained`: the grid of the clips the model was trained at (its config's
  // num_frames and img_size), for which the position table is built and
  // then resized to other inputs (position_table.h); empty: each input's
  // own grid.
  // `conv_stem_channels`: the stem's channels (empty: none).
  PatchEmbedImpl(int64_t embed_dim, int64_t patch_size, int64_t tubelet_size,
                 const TokenGrid& trained = {},
                 const std::vector<int64_t>& conv_stem_channels = {});

  // The grid of a [B, 3, T, H, W] clip; throws unless T, H and W divide
  // into whole tubelets.
  TokenGrid Grid(const torch::Tensor& video) const;

  // [B, 3, T, H, W] -> [B, N, D] tokens in TokenGrid order.
  torch::Tensor forward(const torch::Tensor& video);

  const TokenGrid& trained_grid() const { return trained_; }

 private:
  int64_t patch_size_;
  int64_t tubelet_size_;
  TokenGrid trained_;
  ConvStem stem_{nullptr};           // patch_embed.stem; null: none
  torch::nn::Conv3d proj_{nullptr};  // official name: patch_embed.proj
};
TORCH_MODULE(PatchEmbed);

}  // namespace iv::model

#endif  // COMMON_MODEL_VIDEOMAE_PATCH_EMBED_H_
