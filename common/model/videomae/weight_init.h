// The official VideoMAE initializations, for models trained from scratch
// (loading a checkpoint overwrites them).
#ifndef COMMON_MODEL_VIDEOMAE_WEIGHT_INIT_H_
#define COMMON_MODEL_VIDEOMAE_WEIGHT_INIT_H_

#include <torch/torch.h>

namespace iv::model {

// Fills `tensor` in place with a normal(0, std) truncated to [low, high],
// by inverse-CDF sampling (as timm's trunc_normal_).
void TruncNormal_(torch::Tensor tensor, double std, double low, double high);

enum class LinearInit {
  kTruncNormal,    // finetuning: trunc_normal_(std=0.02) within +-2
  kXavierUniform,  // pretraining
};

// Every Linear below `module` (itself included) gets `init` and a zero bias;
// every LayerNorm weight 1, bias 0. Other parameters keep their values.
void InitLinearsAndNorms(torch::nn::Module& module, LinearInit init);

}  // namespace iv::model

#endif  // COMMON_MODEL_VIDEOMAE_WEIGHT_INIT_H_
