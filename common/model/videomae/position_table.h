// VideoMAE's fixed position embedding: the sinusoid table of "Attention Is
// All You Need" over the flattened token index (official
// get_sinusoid_encoding_table). It is not a parameter and not in
// checkpoints, so it is built for each input's token count: that is what the
// official code does when constructed for another frame count or size
// (run_class_finetuning.py only interpolates learnable tables).
#ifndef COMMON_MODEL_VIDEOMAE_POSITION_TABLE_H_
#define COMMON_MODEL_VIDEOMAE_POSITION_TABLE_H_

#include <torch/torch.h>

#include <cstdint>

namespace iv::model {

// [num_positions, dim]: column j of row p is sin (j even) or cos (j odd) of
// p / 10000^(2 * floor(j / 2) / dim). Computed in float64 like the official
// numpy code, then converted to `options`' dtype and device.
torch::Tensor SinusoidTable(int64_t num_positions, int64_t dim,
                            const torch::TensorOptions& options);

}  // namespace iv::model

#endif  // COMMON_MODEL_VIDEOMAE_POSITION_TABLE_H_
