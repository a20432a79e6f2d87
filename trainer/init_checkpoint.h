// A recipe's initial weights (TrainingRecipe.init): a checkpoint loaded into
// the whole model or one part before training. Parameters the checkpoint
// lacks, or has in another shape (a head with another class count), keep
// their initialization and are listed; a checkpoint that fits none of the
// part's parameters is an error, since it is surely the wrong file.
#ifndef TRAINER_INIT_CHECKPOINT_H_
#define TRAINER_INIT_CHECKPOINT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/internvideo/internvideo_model.h"
#include "protos/training.pb.h"

namespace iv::trainer {

struct InitReport {
  int64_t loaded = 0;
  std::vector<std::string> kept;  // parameters left at their initialization
};

// Loads `init` into `model`. Accepts native checkpoints of the trainer
// ("internvideo"), of an imported arch (videomae-*, internvideo-mm-*) and
// official files; a masked-video-modeling checkpoint's encoder
// ("masked_encoder.encoder.*") loads into a finetuning masked encoder.
// Errors name `field` (e.g. "recipe.init[0]").
absl::StatusOr<InitReport> LoadInitCheckpoint(
    const internvideo::v1::InitCheckpoint& init, model::InternVideoModel& model,
    const std::string& field);

}  // namespace iv::trainer

#endif  // TRAINER_INIT_CHECKPOINT_H_
