#include "trainer/recipe.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "trainer/task_plugin.h"

namespace iv::trainer {
namespace {

using internvideo::v1::TrainingRecipe;

absl::Status Invalid(const std::string& field, const std::string& message) {
  return absl::InvalidArgumentError(
      absl::StrCat("recipe.", field, ": ", message));
}

// Collects the first parse error with its position.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) {
      first_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ",
                            message);
    }
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

absl::Status CheckData(const internvideo::v1::DataConfig& data,
                       const std::string& field) {
  if (data.manifests_size() == 0) {
    return Invalid(field + ".manifests", "at least one manifest is required");
  }
  for (int i = 0; i < data.manifests_size(); ++i) {
    const auto& manifest = data.manifests(i);
    const std::string name = absl::StrCat(field, ".manifests[", i, "]");
    if (manifest.path().empty()) return Invalid(name + ".path", "is empty");
    if (!std::filesystem::is_regular_file(manifest.path())) {
      return Invalid(name + ".path",
                     absl::StrCat("no such file: ", manifest.path()));
    }
    if (manifest.weight() < 0) return Invalid(name + ".weight", "must be >= 0");
  }
  if (data.num_workers() < 0) {
    return Invalid(field + ".num_workers", "must be >= 0");
  }
  if (data.max_samples() < 0) {
    return Invalid(field + ".max_samples", "must be >= 0");
  }
  return absl::OkStatus();
}

absl::Status CheckSmoothing(float smoothing, const std::string& field) {
  if (smoothing < 0 || smoothing >= 1) {
    return Invalid(field, "must be in [0, 1)");
  }
  return absl::OkStatus();
}

absl::Status CheckObjective(const TrainingRecipe& recipe,
                            const model::InternVideoConfig& model) {
  switch (recipe.objective_case()) {
    case TrainingRecipe::kMaskedVideoModeling:
      if (!model.masked_encoder || !model.masked_encoder->decoder) {
        return Invalid("model.masked_encoder.decoder",
                       "masked video modeling needs the pretraining decoder");
      }
      return absl::OkStatus();
    case TrainingRecipe::kRecognition:
      if (!model.masked_encoder || model.masked_encoder->decoder) {
        return Invalid("model.masked_encoder",
                       "recognition finetunes a masked encoder without a "
                       "pretraining decoder");
      }
      if (model.masked_encoder->num_classes == 0) {
        return Invalid("model.class_names",
                       "recognition needs classes (class_names or "
                       "masked_encoder.num_classes)");
      }
      if (recipe.recognition().attribute_weight() < 0) {
        return Invalid("recognition.attribute_weight", "must be >= 0");
      }
      if (recipe.recognition().attribute_weight() > 0 && !model.attributes) {
        return Invalid("recognition.attribute_weight",
                       "needs model.attribute_head (the attribute classes)");
      }
      return CheckSmoothing(recipe.recognition().label_smoothing(),
                            "recognition.label_smoothing");
    case TrainingRecipe::kMultimodalPretraining: {
      if (!model.multimodal) {
        return Invalid("model.multimodal_encoder",
                       "multimodal pretraining needs a multimodal encoder");
      }
      const auto& objective = recipe.multimodal_pretraining();
      if (objective.has_caption_loss_weight() &&
          objective.caption_loss_weight() > 0 &&
          !model.multimodal->caption_decoder) {
        return Invalid("multimodal_pretraining.caption_loss_weight",
                       "the model has no caption decoder");
      }
      if (objective.contrastive_loss_weight() < 0 ||
          objective.caption_loss_weight() < 0) {
        return Invalid("multimodal_pretraining", "loss weights must be >= 0");
      }
      return absl::OkStatus();
    }
    case TrainingRecipe::kCma:
      if (!model.cma) {
        return Invalid("model.cma", "CMA training needs model.cma");
      }
      if (!model.masked_encoder || model.masked_encoder->decoder) {
        return Invalid("model.masked_encoder",
                       "CMA reads a masked encoder without a decoder");
      }
      if (recipe.cma().contrastive_loss_weight() < 0) {
        return Invalid("cma.contrastive_loss_weight", "must be >= 0");
      }
      if (recipe.cma().contrastive_loss_weight() > 0 &&
          model.cma->embed_dim == 0) {
        return Invalid("cma.contrastive_loss_weight",
                       "needs model.cma.video_projection");
      }
      for (const auto& [on, field] :
           {std::pair{recipe.cma().train_text_encoder(),
                      "cma.train_text_encoder"},
            std::pair{recipe.cma().hard_negative_captions(),
                      "cma.hard_negative_captions"}}) {
        if (on && CmaContrastiveWeight(recipe.cma(), model) == 0) {
          return Invalid(
              field, "needs the contrastive loss (model.cma.video_projection)");
        }
      }
      return CheckSmoothing(recipe.cma().label_smoothing(),
                            "cma.label_smoothing");
    case TrainingRecipe::kCaptioning:
      if (!model.multimodal || !model.multimodal->caption_decoder) {
        return Invalid("model.multimodal_encoder.caption_decoder",
                       "captioning needs a caption decoder");
      }
      return absl::OkStatus();
    case TrainingRecipe::kLocalization:
      if (!model.localization) {
        return Invalid("model.localization_head",
                       "localization training needs a localization head");
      }
      return absl::OkStatus();
    case TrainingRecipe::kVqa:
      if (!model.vqa) {
        return Invalid("model.vqa_head", "VQA training needs a VQA head");
      }
      return absl::OkStatus();
    case TrainingRecipe::kPlugin: {
      const TaskPlugin* plugin = FindTaskPlugin(recipe.plugin().task());
      if (plugin == nullptr) {
        return Invalid(
            "plugin.task",
            absl::StrCat("no task plug-in named '", recipe.plugin().task(),
                         "' is linked into this program (linked: ",
                         absl::StrJoin(TaskPluginNames(), ", "), ")"));
      }
      return plugin->Validate(recipe.plugin().options(), model,
                              "recipe.plugin.options");
    }
    case TrainingRecipe::OBJECTIVE_NOT_SET:
      break;
  }
  return Invalid("objective", "exactly one objective is required");
}

}  // namespace

absl::StatusOr<TrainingRecipe> ParseRecipe(const std::string& text) {
  TrainingRecipe recipe;
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &recipe)) {
    return absl::InvalidArgumentError(
        absl::StrCat("recipe: not a TrainingRecipe: ", errors.first()));
  }
  return recipe;
}

absl::StatusOr<TrainingRecipe> ReadRecipe(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no recipe at ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<TrainingRecipe> recipe = ParseRecipe(text.str());
  if (!recipe.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", recipe.status().message()));
  }
  ResolveRecipePaths(std::filesystem::path(path).parent_path().string(),
                     *recipe);
  return recipe;
}

std::vector<std::pair<std::string, std::string*>> RecipeInputPaths(
    TrainingRecipe& recipe) {
  std::vector<std::pair<std::string, std::string*>> paths;
  auto add_manifests = [&paths](const char* name,
                                internvideo::v1::DataConfig* data) {
    for (int i = 0; i < data->manifests_size(); ++i) {
      paths.emplace_back(absl::StrCat(name, ".manifests[", i, "].path"),
                         data->mutable_manifests(i)->mutable_path());
    }
  };
  // Only data the recipe has: mutable_eval_data() would add an empty
  // eval_data, which validation then rejects.
  if (recipe.has_train_data()) {
    add_manifests("train_data", recipe.mutable_train_data());
  }
  if (recipe.has_eval_data()) {
    add_manifests("eval_data", recipe.mutable_eval_data());
  }
  for (int i = 0; i < recipe.init_size(); ++i) {
    paths.emplace_back(absl::StrCat("init[", i, "].path"),
                       recipe.mutable_init(i)->mutable_path());
  }
  if (recipe.model().has_multimodal_encoder()) {
    paths.emplace_back("model.multimodal_encoder.tokenizer.vocab_path",
                       recipe.mutable_model()
                           ->mutable_multimodal_encoder()
                           ->mutable_tokenizer()
                           ->mutable_vocab_path());
  }
  return paths;
}

void ResolveRecipePaths(const std::string& base_dir, TrainingRecipe& recipe) {
  for (auto& [field, path] : RecipeInputPaths(recipe)) {
    if (path->empty() || std::filesystem::path(*path).is_absolute()) continue;
    *path = (std::filesystem::path(base_dir) / *path).lexically_normal();
  }
}

int RecipeWorldSize(const TrainingRecipe& recipe) {
  return recipe.world_size() > 0 ? recipe.world_size() : 1;
}

double CmaContrastiveWeight(const internvideo::v1::CmaTraining& training,
                            const model::InternVideoConfig& model) {
  if (training.has_contrastive_loss_weight()) {
    return training.contrastive_loss_weight();
  }
  return model.cma && model.cma->embed_dim > 0 ? 1.0 : 0.0;
}

absl::StatusOr<model::InternVideoConfig> ValidateRecipe(
    const TrainingRecipe& recipe, int world_size) {
  if (!recipe.has_model()) return Invalid("model", "is required");
  absl::StatusOr<model::InternVideoConfig> model =
      model::ResolveInternVideoConfig(recipe.model());
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("recipe.", model.status().message()));
  }
  if (absl::Status s = CheckObjective(recipe, *model); !s.ok()) return s;
  for (int i = 0; i < recipe.init_size(); ++i) {
    const std::string& path = recipe.init(i).path();
    if (!std::filesystem::exists(path)) {
      return Invalid(absl::StrCat("init[", i, "].path"),
                     absl::StrCat("no such file or folder: ", path));
    }
  }
  if (!recipe.has_train_data()) return Invalid("train_data", "is required");
  if (absl::Status s = CheckData(recipe.train_data(), "train_data"); !s.ok()) {
    return s;
  }
  if (recipe.has_eval_data()) {
    if (absl::Status s = CheckData(recipe.eval_data(), "eval_data"); !s.ok()) {
      return s;
    }
  }
  const auto& optimizer = recipe.optimizer();
  if (!(optimizer.learning_rate() > 0)) {
    return Invalid("optimizer.learning_rate", "must be > 0");
  }
  if (optimizer.weight_decay() < 0) {
    return Invalid("optimizer.weight_decay", "must be >= 0");
  }
  if (optimizer.layer_decay() < 0 || optimizer.layer_decay() > 1) {
    return Invalid("optimizer.layer_decay", "must be in [0, 1]");
  }
  if (optimizer.beta1() < 0 || optimizer.beta1() >= 1 ||
      optimizer.beta2() < 0 || optimizer.beta2() >= 1) {
    return Invalid("optimizer.beta1", "betas must be in [0, 1)");
  }
  if (optimizer.grad_clip_norm() < 0) {
    return Invalid("optimizer.grad_clip_norm", "must be >= 0");
  }
  if (recipe.total_steps() <= 0) return Invalid("total_steps", "must be > 0");
  if (recipe.schedule().warmup_steps() < 0 ||
      recipe.schedule().warmup_steps() >= recipe.total_steps()) {
    return Invalid("schedule.warmup_steps", "must be in [0, total_steps)");
  }
  if (recipe.global_batch_size() <= 0) {
    return Invalid("global_batch_size", "must be > 0");
  }
  if (recipe.world_size() < 0) return Invalid("world_size", "must be >= 0");
  const int world = world_size > 0 ? world_size : RecipeWorldSize(recipe);
  if (recipe.global_batch_size() % world != 0) {
    return Invalid("global_batch_size",
                   absl::StrCat(recipe.global_batch_size(),
                                " is not divisible by the world size ", world));
  }
  const std::pair<const char*, int64_t> cadences[] = {
      {"eval_every_steps", recipe.eval_every_steps()},
      {"checkpoint_every_steps", recipe.checkpoint_every_steps()},
      {"log_every_steps", recipe.log_every_steps()}};
  for (const auto& [field, value] : cadences) {
    if (value < 0) return Invalid(field, "must be >= 0");
  }
  if (recipe.keep_checkpoints() < 0) {
    return Invalid("keep_checkpoints", "must be >= 0");
  }
  return model;
}

}  // namespace iv::trainer
