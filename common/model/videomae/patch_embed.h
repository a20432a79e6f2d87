// Tubelet embedding: a clip is cut into non-overlapping tubelets of
// tubelet_size frames x patch_size x patch_size pixels, and each becomes one
// token by a linear map, which is a Conv3d whose kernel equals its stride.
#ifndef COMMON_MODEL_VIDEOMAE_PATCH_EMBED_H_
#define COMMON_MODEL_VIDEOMAE_PATCH_EMBED_H_

#include <torch/torch.h>

#include <cstdint>

namespace iv::model {

// How many tubelets a clip has along time, height and width. Tokens are laid
// out time-major: token (t, h, w) is number (t * height + h) * width + w.
struct TokenGrid {
  int64_t time = 0;
  int64_t height = 0;
  int64_t width = 0;

  int64_t per_slice() const { return height * width; }
  int64_t size() const { return time * per_slice(); }
};

class PatchEmbedImpl : public torch::nn::Module {
 public:
  PatchEmbedImpl(int64_t embed_dim, int64_t patch_size, int64_t tubelet_size);

  // The grid of a [B, 3, T, H, W] clip; throws unless T, H and W divide
  // into whole tubelets.
  TokenGrid Grid(const torch::Tensor& video) const;

  // [B, 3, T, H, W] -> [B, N, D] tokens in TokenGrid order.
  torch::Tensor forward(const torch::Tensor& video);

 private:
  int64_t patch_size_;
  int64_t tubelet_size_;
  torch::nn::Conv3d proj_{nullptr};  // official name: patch_embed.proj
};
TORCH_MODULE(PatchEmbed);

}  // namespace iv::model

#endif  // COMMON_MODEL_VIDEOMAE_PATCH_EMBED_H_
