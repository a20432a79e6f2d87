// The frame transformer of InternVideo-MM (UniFormerV2's "vit_only_global"
// Transformer): CLIP's residual blocks run on every frame independently,
// and after each block in return_list the global branch reads the video:
// a depthwise 3x3x3 Conv3d (`dpe`) adds position information across space
// and time to the patch tokens, and an extractor layer (`dec`) lets the
// temporal class token cross-attend to the tokens of all frames. The video
// feature mixes that token with the frames' mean class token through the
// learned per-channel `balance`:
//   (1 - sigmoid(balance)) * temporal_cls + sigmoid(balance) * mean_t(cls_t).
#ifndef COMMON_MODEL_MULTIMODAL_GLOBAL_TRANSFORMER_H_
#define COMMON_MODEL_MULTIMODAL_GLOBAL_TRANSFORMER_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "common/model/multimodal/config_types.h"
#include "common/model/token_grid.h"

namespace iv::model {

struct GlobalTransformerOutput {
  torch::Tensor feature;  // [B, D], the balanced video feature
  torch::Tensor tokens;   // [B, T, 1 + H*W, D], the last block's tokens
};

class GlobalTransformerImpl : public torch::nn::Module {
 public:
  explicit GlobalTransformerImpl(const ClipVisionOptions& options);

  // x [B*T, 1 + H*W, D]: each frame's class token then its patch tokens.
  GlobalTransformerOutput forward(torch::Tensor x, const TokenGrid& grid);

 private:
  // The frames' tokens [B*T, L, D] with dpe[j] added to the patch tokens,
  // flattened over time for the extractor: [B, T*L, D].
  torch::Tensor PositionEncoded(const torch::Tensor& x, const TokenGrid& grid,
                                int64_t j);

  std::vector<int64_t> return_list_;
  torch::nn::ModuleList resblocks_;
  torch::Tensor temporal_cls_token_;
  torch::nn::ModuleList dpe_;
  torch::nn::ModuleList dec_;
  torch::Tensor balance_;
};
TORCH_MODULE(GlobalTransformer);

}  // namespace iv::model

#endif  // COMMON_MODEL_MULTIMODAL_GLOBAL_TRANSFORMER_H_
