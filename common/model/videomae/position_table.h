// VideoMAE's fixed position embedding: the sinusoid table of "Attention Is
// All You Need" over the flattened token index (official
// get_sinusoid_encoding_table). It is not a parameter and not in
// checkpoints. It is built for the grid the model was trained at, and for
// clips of another size it is resized as InternVideo's VideoMAE
// run_class_finetuning.py resizes it when finetuning at another input_size
// or num_frames: bicubically over each time slice's height x width
// (align_corners false), then linearly over time (align_corners false).
// Upstream VideoMAE (MCG-NJU) instead builds the table afresh for the new
// token count, which puts every token of a differently sized clip at the
// wrong place of the trained grid.
#ifndef COMMON_MODEL_VIDEOMAE_POSITION_TABLE_H_
#define COMMON_MODEL_VIDEOMAE_POSITION_TABLE_H_

#include <torch/torch.h>

#include <cstdint>

#include "common/model/videomae/patch_embed.h"

namespace iv::model {

// [num_positions, dim]: column j of row p is sin (j even) or cos (j odd) of
// p / 10000^(2 * floor(j / 2) / dim). Computed in float64 like the official
// numpy code, then converted to `options`' dtype and device.
torch::Tensor SinusoidTable(int64_t num_positions, int64_t dim,
                            const torch::TensorOptions& options);

// [input.size(), dim]: the sinusoid table of `trained`'s tokens resized to
// `input`'s grid as described above (each step only where that size
// differs); the plain table of `input` when `trained` is empty. Resized in
// float64, then converted to `options`' dtype and device.
torch::Tensor PositionTable(const TokenGrid& trained, const TokenGrid& input,
                            int64_t dim, const torch::TensorOptions& options);

}  // namespace iv::model

#endif  // COMMON_MODEL_VIDEOMAE_POSITION_TABLE_H_
