// The VideoMAE arches of `iv model`: videomae-vit-b16, -l16 and -h16
// (finetuned: outputs `features` [B, D] after fc_norm and `logits`
// [B, classes]) and videomae-vit-b16-pretrain (output `encoder_tokens`
// [B, N, D], every token through the encoder and its final norm).
//
// Official files are VideoMAE's run_class_finetuning.py / run_mae_pretraining
// checkpoints ({'model': state_dict, 'epoch', 'args', ...}); widths, depth,
// tubelet, patch, q/v bias, layer scale, pooling and class count come from
// their shapes. Frame count and size come from each input (the position
// table is not in the checkpoint).
#ifndef COMMON_MODEL_ARCH_VIDEOMAE_ARCH_H_
#define COMMON_MODEL_ARCH_VIDEOMAE_ARCH_H_

#include <vector>

#include "common/model/arch/arch.h"

namespace iv::model {

std::vector<const Arch*> VideoMaeArches();

}  // namespace iv::model

#endif  // COMMON_MODEL_ARCH_VIDEOMAE_ARCH_H_
