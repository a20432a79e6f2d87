// `iv train RECIPE`: runs a training recipe in this process with a live
// progress bar (loss, throughput, ETA); checkpoints, the metrics log and
// the loss curves (curves.svg) go to the recipe's output folder.
#ifndef TOOLS_IV_TRAIN_COMMAND_H_
#define TOOLS_IV_TRAIN_COMMAND_H_

#include <CLI/CLI.hpp>

namespace iv::cli {

void AddTrainCommand(CLI::App& iv);

}  // namespace iv::cli

#endif  // TOOLS_IV_TRAIN_COMMAND_H_
