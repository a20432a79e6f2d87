// `iv train --service ADDR RECIPE`: submits the recipe to a trainer service
// and watches the job with the same progress bar as a local run. Separate
// from train_command.cc, whose launcher runs training in this process.
#ifndef TOOLS_IV_TRAIN_SERVICE_CLIENT_H_
#define TOOLS_IV_TRAIN_SERVICE_CLIENT_H_

#include <CLI/CLI.hpp>
#include <string>

#include "common/serving/connection.h"

namespace iv::cli {

struct TrainServiceArgs {
  std::string address;  // empty: train locally
  std::string job_id;   // empty: assigned by the service
  serving::ConnectionOptions connection;
};

// Adds --service, --job-id and the connection flags to `train`.
void AddTrainServiceFlags(CLI::App& train, TrainServiceArgs& args);

// Submits the recipe at `recipe_path` (its relative paths resolved against
// its folder here, since the service cannot see it) and watches the job to
// its end. Exit status: 0 SUCCEEDED, 1 FAILED, CANCELLED or unreachable, 2
// a bad recipe.
int RunTrainOnService(const std::string& recipe_path,
                      const std::string& output_dir,
                      const TrainServiceArgs& args);

}  // namespace iv::cli

#endif  // TOOLS_IV_TRAIN_SERVICE_CLIENT_H_
