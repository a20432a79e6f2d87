// Checkpoints of a training run, each a folder
//   <output_dir>/checkpoints/step-00001200/
//     model.safetensors, model_config.textproto   a native checkpoint of
//                                                 arch "internvideo" that the
//                                                 services and `iv eval` load
//     <vocabulary file>                           when the model reads text
//     optimizer.pt                                AdamW's moments
//     trainer_state.json                          step, data position, metrics
//     CHECKSUMS                                   CRC-32 and size of each file
// Everything else a resumed run needs is derived from the step: every random
// choice is seeded by (seed, step or epoch, sample). The folder is written
// under a temporary name and renamed when complete, so a crash leaves either
// the whole checkpoint or none; resuming takes the newest one whose
// checksums hold.
#ifndef TRAINER_TRAINING_CHECKPOINT_H_
#define TRAINER_TRAINING_CHECKPOINT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/model/internvideo/internvideo_model.h"
#include "trainer/optimizer.h"

namespace iv::trainer {

struct TrainerState {
  int64_t step = 0;            // optimizer steps done
  int epoch = 0;               // of the data
  int64_t batch_in_epoch = 0;  // batches of `epoch` consumed
  uint64_t seed = 0;
  std::map<std::string, double> metrics;  // the latest evaluation's
  double loss = 0;                        // the latest logged loss
};

struct CheckpointInfo {
  std::string path;
  TrainerState state;
};

// Writes a checkpoint of `model`, `optimizer` and `state` under
// `output_dir`/checkpoints and returns its folder. `vocab_path`, when not
// empty, is copied in beside the config (which then names it relatively).
absl::StatusOr<std::string> WriteTrainingCheckpoint(
    const std::string& output_dir, model::InternVideoModel& model,
    const TrainingOptimizer& optimizer, const TrainerState& state,
    const std::string& vocab_path);

// Every complete checkpoint under `output_dir`, oldest first; those whose
// checksums fail are skipped (and reported in `skipped`, if given).
std::vector<CheckpointInfo> ListTrainingCheckpoints(
    const std::string& output_dir, std::vector<std::string>* skipped = nullptr);

// Loads the checkpoint at `path` into `model` and `optimizer`.
absl::StatusOr<TrainerState> LoadTrainingCheckpoint(
    const std::string& path, model::InternVideoModel& model,
    TrainingOptimizer& optimizer);

// Keeps the newest `keep` checkpoint folders (0 = all), judged by their
// names only, so that writing a checkpoint does not re-read every other.
void PruneTrainingCheckpoints(const std::string& output_dir, int keep);

}  // namespace iv::trainer

#endif  // TRAINER_TRAINING_CHECKPOINT_H_
