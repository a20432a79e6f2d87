// Task plug-ins: what a head from a plug-in (common/model/internvideo/
// head_plugin.h) needs from the trainer. A plug-in registers a task under a
// name; recipes train it with `plugin { task: name options: ... }` and
// `iv eval --task name` measures it, through the same loader, loop and
// checkpoints as the built-in tasks. How to write one: docs/extending.md.
#ifndef TRAINER_TASK_PLUGIN_H_
#define TRAINER_TASK_PLUGIN_H_

#include <google/protobuf/any.pb.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/model/internvideo/internvideo_model.h"
#include "common/text/clip_tokenizer.h"
#include "trainer/evaluation.h"
#include "trainer/objectives.h"
#include "trainer/training_data.h"

namespace iv::trainer {

class TaskPlugin {
 public:
  virtual ~TaskPlugin() = default;
  // Checks the recipe's PluginObjective.options (empty for defaults)
  // against the model. INVALID_ARGUMENT whose message starts with `field`
  // ("recipe.plugin.options", or "recipe.model..." for what the model
  // lacks) and names the field.
  virtual absl::Status Validate(const google::protobuf::Any& options,
                                const model::InternVideoConfig& model,
                                const std::string& field) const = 0;
  // The objective, for options Validate accepted, over the training set
  // (batches' sample ids index train.clips).
  virtual absl::StatusOr<std::unique_ptr<Objective>> CreateObjective(
      const google::protobuf::Any& options,
      const model::InternVideoConfig& model, const Dataset& train,
      const text::ClipTokenizer* tokenizer) const = 0;
  // The evaluator of `data`'s trimmed clips (metrics keyed as `iv eval`
  // prints them), or FAILED_PRECONDITION naming what `model` lacks.
  virtual absl::StatusOr<std::unique_ptr<ClipEvaluator>> NewEvaluator(
      model::InternVideoModel& model, const Dataset& data,
      const text::ClipTokenizer* tokenizer) const = 0;
};

// Adds `plugin` under `name` (from a static initializer of a library linked
// with alwayslink). A name registered twice, or a built-in task's name,
// aborts.
void RegisterTaskPlugin(const std::string& name,
                        std::unique_ptr<TaskPlugin> plugin);
// The plug-in named `name`, or null when none is linked into this program.
const TaskPlugin* FindTaskPlugin(const std::string& name);
// The names of every linked plug-in, sorted.
std::vector<std::string> TaskPluginNames();

}  // namespace iv::trainer

#endif  // TRAINER_TASK_PLUGIN_H_
