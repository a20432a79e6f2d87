// Tube masking (VideoMAE's TubeMaskingGenerator): one random spatial mask
// per clip, repeated on every time slice, so a masked patch cannot be
// recovered from the same place in a neighbouring frame.
#ifndef COMMON_MODEL_VIDEOMAE_MASKING_H_
#define COMMON_MODEL_VIDEOMAE_MASKING_H_

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cstdint>

#include "common/model/videomae/patch_embed.h"

namespace iv::model {

// Tokens hidden in each time slice: int(mask_ratio * tokens_per_slice), as
// the official generator computes it.
int64_t MaskedTokensPerSlice(double mask_ratio, int64_t tokens_per_slice);

// A [batch, grid.size()] bool mask (true = masked) in TokenGrid order, drawn
// independently for each clip from `generator` (a CPU generator, e.g.
// at::make_generator<at::CPUGeneratorImpl>(seed)). Every time slice of a
// clip has the same MaskedTokensPerSlice tokens masked. On the CPU; move it
// to the video's device.
torch::Tensor TubeMask(int64_t batch, const TokenGrid& grid, double mask_ratio,
                       at::Generator generator);

}  // namespace iv::model

#endif  // COMMON_MODEL_VIDEOMAE_MASKING_H_
