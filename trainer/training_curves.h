// The loss and evaluation curves of a run as an SVG plot beside its
// checkpoints (people would rather look at a curve than read a log).
#ifndef TRAINER_TRAINING_CURVES_H_
#define TRAINER_TRAINING_CURVES_H_

#include <string>

#include "absl/status/status.h"

namespace iv::trainer {

// Reads the run's metrics log (JSON Lines: {"step", "loss", ...} and
// {"step", "eval": {...}}) and writes `svg_path`: the training loss on the
// left, each evaluation metric on the right.
absl::Status WriteTrainingCurves(const std::string& log_path,
                                 const std::string& svg_path,
                                 const std::string& title);

}  // namespace iv::trainer

#endif  // TRAINER_TRAINING_CURVES_H_
