// VideoMAE's pretraining objective: the decoder predicts the pixels of the
// masked tubelets, and the loss is their mean squared error. Targets are the
// raw pixels (input normalization undone), optionally normalized per tubelet
// and channel, which the paper found gives better representations.
#ifndef COMMON_MODEL_VIDEOMAE_RECONSTRUCTION_LOSS_H_
#define COMMON_MODEL_VIDEOMAE_RECONSTRUCTION_LOSS_H_

#include <torch/torch.h>

#include <cstdint>

#include "common/video/transforms.h"

namespace iv::model {

struct ReconstructionTarget {
  int64_t tubelet_size = 2;
  int64_t patch_size = 16;
  // Per tubelet and channel: (x - mean) / (unbiased std + 1e-6).
  bool normalize = true;
  // How the input video was normalized; undone to get [0, 1] pixels.
  video::Normalization input_normalization = video::kImageNetNormalization;
};

// [B, N, tubelet * patch * patch * 3] targets for every token of a
// [B, 3, T, H, W] clip, each token's values in (time, row, column, channel)
// order like the decoder's output. Computed without gradient.
torch::Tensor TubeletTargets(const torch::Tensor& video,
                             const ReconstructionTarget& target);

// MSE between `predictions` [B, M, P] for the masked tokens (in token
// order) and the targets of the tokens `mask` [B, N] marks.
torch::Tensor ReconstructionLoss(const torch::Tensor& predictions,
                                 const torch::Tensor& video,
                                 const torch::Tensor& mask,
                                 const ReconstructionTarget& target);

}  // namespace iv::model

#endif  // COMMON_MODEL_VIDEOMAE_RECONSTRUCTION_LOSS_H_
