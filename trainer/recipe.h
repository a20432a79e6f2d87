// Training recipes (protos/training.proto) read from protobuf text format
// and checked before anything runs, so a bad recipe is one clear error that
// names its field ("recipe.optimizer.learning_rate: must be > 0") rather
// than a failure an hour into a run.
#ifndef TRAINER_RECIPE_H_
#define TRAINER_RECIPE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/model/internvideo/internvideo_model.h"
#include "protos/training.pb.h"

namespace iv::trainer {

// Parses `path` and resolves its relative paths against its folder.
// NOT_FOUND when it is missing; INVALID_ARGUMENT with the parser's line and
// column when it is not a TrainingRecipe.
absl::StatusOr<internvideo::v1::TrainingRecipe> ReadRecipe(
    const std::string& path);
absl::StatusOr<internvideo::v1::TrainingRecipe> ParseRecipe(
    const std::string& text);

// The files a recipe reads, as (field path, path) pairs: every manifest
// ("train_data.manifests[0].path"), init checkpoint ("init[0].path") and the
// tokenizer vocabulary ("model.multimodal_encoder.tokenizer.vocab_path"),
// empty ones included. Not output_dir, which is written.
std::vector<std::pair<std::string, std::string*>> RecipeInputPaths(
    internvideo::v1::TrainingRecipe& recipe);

// Makes the recipe's relative file paths (manifests, init checkpoints, the
// tokenizer vocabulary) relative to `base_dir`, the recipe file's folder, so
// a recipe runs the same from any working directory.
void ResolveRecipePaths(const std::string& base_dir,
                        internvideo::v1::TrainingRecipe& recipe);

// The weight of CMA training's contrastive loss: the recipe's, else 1.0 when
// the model's CMA projects into the joint space, else 0.
double CmaContrastiveWeight(const internvideo::v1::CmaTraining& training,
                            const model::InternVideoConfig& model);

// Checks `recipe` for a run on `world_size` processes (0: the recipe's own)
// and resolves its model. INVALID_ARGUMENT naming the field.
absl::StatusOr<model::InternVideoConfig> ValidateRecipe(
    const internvideo::v1::TrainingRecipe& recipe, int world_size = 0);

// The recipe's world size: its world_size, 1 when unset.
int RecipeWorldSize(const internvideo::v1::TrainingRecipe& recipe);

}  // namespace iv::trainer

#endif  // TRAINER_RECIPE_H_
