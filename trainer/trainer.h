// One training run of a recipe on this process (one rank of a data-parallel
// job, or the whole job): builds the model, loads its initial weights,
// resumes from the newest checkpoint in the output folder, trains for the
// recipe's steps with periodic logging, evaluation and checkpoints, and
// writes the final checkpoint and the loss curves.
#ifndef TRAINER_TRAINER_H_
#define TRAINER_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "protos/training.pb.h"
#include "trainer/evaluation.h"

namespace iv::trainer {

struct TrainProgress {
  int64_t step = 0;  // optimizer steps done
  int64_t total_steps = 0;
  double loss = 0;
  double lr = 0;
  double clips_per_second = 0;  // global batch, over the last log interval
  double eta_seconds = 0;
  Metrics eval_metrics;  // set on evaluation events only
  bool evaluation = false;
  std::string checkpoint;  // set when a checkpoint was just written
};

struct TrainResult {
  int64_t steps = 0;
  int64_t resumed_from_step = 0;  // 0 when the run started fresh
  double final_loss = 0;
  Metrics final_metrics;
  std::string final_checkpoint;  // the last checkpoint's folder
  std::string output_dir;
};

struct TrainOptions {
  // Overrides recipe.output_dir when set.
  std::string output_dir;
  // Called on rank 0 at every log, evaluation and checkpoint.
  std::function<void(const TrainProgress&)> on_progress;
  // Set to stop after the current step (a checkpoint is written first).
  const std::atomic<bool>* cancel = nullptr;
  // Tests: stop abruptly, writing nothing more, once this many steps are
  // done (0 = never), as a killed worker would.
  int64_t halt_after_steps = 0;
};

// Runs `recipe`. Rank and world size come from the environment (torchrun's
// RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; see trainer/distributed); one
// process without it. Every rank must see the same output folder (shared
// filesystem): rank 0 alone writes logs and checkpoints, and all ranks resume
// from the step rank 0 picks. INVALID_ARGUMENT naming the
// field for a bad recipe; CANCELLED when `cancel` stopped it.
absl::StatusOr<TrainResult> Train(const internvideo::v1::TrainingRecipe& recipe,
                                  const TrainOptions& options = {});

// The output folder of `recipe`: its output_dir, else "runs/<name>".
std::string RecipeOutputDir(const internvideo::v1::TrainingRecipe& recipe);

}  // namespace iv::trainer

#endif  // TRAINER_TRAINER_H_
