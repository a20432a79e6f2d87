// AdamW over the trainable parameters in groups, as BEiT and VideoMAE set it
// up: each group has a learning-rate scale (layer-wise decay: the deeper a
// block of the trained encoder, the larger its step) and a weight decay
// (none for biases, norms, gammas, embeddings and tokens).
#ifndef TRAINER_OPTIMIZER_H_
#define TRAINER_OPTIMIZER_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/model/state_dict.h"
#include "protos/training.pb.h"

namespace iv::trainer {

struct ParameterGroup {
  std::vector<std::string> names;
  std::vector<torch::Tensor> parameters;
  double lr_scale = 1.0;
  double weight_decay = 0.0;
};

// The layer of a masked-encoder parameter for layer-wise decay, 0 for its
// patch embedding and tokens, i + 1 for block i, num_layers + 1 for
// everything else (norms, heads, other parts).
int64_t LayerId(const std::string& name, int64_t num_layers);

// Whether `name` is exempt from weight decay: fewer than two dimensions,
// an embedding, token or temperature, or a substring in `extra`.
bool ExcludedFromWeightDecay(const std::string& name,
                             const torch::Tensor& parameter,
                             const std::vector<std::string>& extra);

// `trainable` in groups of equal (lr_scale, weight_decay), in first-seen
// order. `num_layers` is the masked encoder's depth (0: no layer decay).
std::vector<ParameterGroup> GroupParameters(
    const model::NamedTensors& trainable,
    const internvideo::v1::OptimizerConfig& config, int64_t num_layers);

class TrainingOptimizer {
 public:
  TrainingOptimizer(std::vector<ParameterGroup> groups,
                    const internvideo::v1::OptimizerConfig& config);

  // Sets every group's rate to lr x its scale.
  void SetLearningRate(double lr);
  // Clips the gradients' global norm (when configured) and steps; returns
  // the norm before clipping.
  double Step();
  void ZeroGrad();

  const std::vector<ParameterGroup>& groups() const { return groups_; }

  // The optimizer's moments, for checkpoints.
  void Save(torch::serialize::OutputArchive& archive) const;
  absl::Status Load(torch::serialize::InputArchive& archive);

 private:
  std::vector<ParameterGroup> groups_;
  double grad_clip_norm_;
  std::unique_ptr<torch::optim::AdamW> adamw_;
};

}  // namespace iv::trainer

#endif  // TRAINER_OPTIMIZER_H_
