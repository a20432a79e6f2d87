// The object-count plug-in end to end: its config in a ModelConfig, its
// weights under heads.object_count., a recipe that trains it with the real
// trainer, `iv eval`'s task list, and the checkpoint loading back.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/substitute.h"
#include "common/model/internvideo/internvideo_checkpoint.h"
#include "common/model/internvideo/internvideo_model.h"
#include "common/testing/temp_dir.h"
#include "heads/object_count/object_count_head.h"
#include "trainer/evaluation.h"
#include "trainer/recipe.h"
#include "trainer/testing/small_run.h"
#include "trainer/trainer.h"
#include "trainer/training_data.h"

namespace iv::heads {
namespace {

using internvideo::v1::ModelConfig;
using internvideo::v1::TrainingRecipe;

constexpr char kHead[] = R"pb(
  heads {
    key: "object_count"
    value {
      [type.googleapis.com/internvideo.heads.v1.ObjectCountHeadConfig] {
        max_objects: 3
      }
    }
  }
)pb";

TrainingRecipe CountRecipe(const std::string& output_dir,
                           const std::string& objective) {
  TrainingRecipe recipe;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      test::SmallRecipeText(/*total_steps=*/30, /*checkpoint_every_steps=*/10),
      &recipe));
  EXPECT_TRUE(google::protobuf::TextFormat::MergeFromString(
      kHead, recipe.mutable_model()));
  recipe.clear_recognition();
  EXPECT_TRUE(
      google::protobuf::TextFormat::MergeFromString(objective, &recipe));
  recipe.mutable_eval_data()->add_manifests()->set_path(test::SmallWorld() +
                                                        "/val.jsonl");
  recipe.set_eval_every_steps(30);
  recipe.set_output_dir(output_dir);
  return recipe;
}

TEST(ObjectCountHeadTest, ConfiguredByNameWithWeightsUnderItsPrefix) {
  TrainingRecipe recipe =
      CountRecipe("", R"pb(plugin { task: "object_count" })pb");
  absl::StatusOr<model::InternVideoConfig> config =
      model::ResolveInternVideoConfig(recipe.model());
  ASSERT_TRUE(config.ok()) << config.status();
  model::InternVideoModel model(*config);
  std::map<std::string, torch::Tensor> weights;
  for (const auto& item : model->named_parameters()) {
    if (absl::StartsWith(item.key(), "heads."))
      weights[item.key()] = item.value();
  }
  ASSERT_EQ(weights.size(), 2u);
  // The masked encoder's embed_dim (32) in, max_objects (3) out.
  EXPECT_EQ(weights.at("heads.object_count.classifier.weight").sizes(),
            torch::IntArrayRef({3, 32}));
  EXPECT_EQ(
      ObjectCountLogits(model, torch::zeros({2, 3, 4, 32, 32}), torch::Tensor())
          .sizes(),
      torch::IntArrayRef({2, 3}));

  ModelConfig unknown = recipe.model();
  (*unknown.mutable_heads())["object_cuont"] =
      unknown.heads().at("object_count");
  absl::Status status = model::ResolveInternVideoConfig(unknown).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "model.heads[object_cuont]"))
      << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "linked: object_count"))
      << status;

  ModelConfig wrong_type = recipe.model();
  (*wrong_type.mutable_heads())["object_count"].PackFrom(
      internvideo::heads::v1::ObjectCountTraining());
  status = model::ResolveInternVideoConfig(wrong_type).status();
  EXPECT_TRUE(absl::StrContains(status.message(),
                                "model.heads[object_count]: expected an "
                                "internvideo.heads.v1.ObjectCountHeadConfig"))
      << status;
}

TEST(ObjectCountTaskTest, BadRecipesNameTheField) {
  auto status_of = [](const TrainingRecipe& recipe) {
    return trainer::ValidateRecipe(recipe).status();
  };
  absl::Status status =
      status_of(CountRecipe("", R"pb(plugin { task: "object_cuont" })pb"));
  EXPECT_TRUE(absl::StrContains(status.message(), "recipe.plugin.task"))
      << status;
  status = status_of(CountRecipe(
      "",
      R"pb(plugin {
             task: "object_count"
             options {
               [type.googleapis.com/internvideo.heads.v1.ObjectCountTraining] {
                 label_smoothing: 1
               }
             }
           })pb"));
  EXPECT_TRUE(absl::StrContains(
      status.message(), "recipe.plugin.options.label_smoothing: must be in"))
      << status;
  TrainingRecipe headless =
      CountRecipe("", R"pb(plugin { task: "object_count" })pb");
  headless.mutable_model()->clear_heads();
  status = status_of(headless);
  EXPECT_TRUE(
      absl::StrContains(status.message(), "recipe.model.heads[object_count]"))
      << status;
}

TEST(ObjectCountTaskTest, TrainsTheHeadAloneAndEvaluatesLikeABuiltInTask) {
  const std::vector<std::string> tasks = trainer::EvalTaskNames();
  EXPECT_NE(std::find(tasks.begin(), tasks.end(), "object_count"), tasks.end());

  const std::string dir = test::FreshTempDir("count");
  absl::StatusOr<trainer::TrainResult> trained = trainer::Train(
      CountRecipe(dir, R"pb(plugin { task: "object_count" })pb"));
  ASSERT_TRUE(trained.ok()) << trained.status();
  // A linear probe on a frozen random encoder still fits the training set
  // better than chance as it trains.
  const std::map<int64_t, double> losses = test::LoggedLosses(dir);
  double first = 0, last = 0;
  for (int64_t step = 1; step <= 5; ++step) first += losses.at(step);
  for (int64_t step = 26; step <= 30; ++step) last += losses.at(step);
  EXPECT_LT(last, first);
  ASSERT_TRUE(trained->final_metrics.count("accuracy"));
  EXPECT_EQ(trained->final_metrics.at("n"), 12);

  // The checkpoint's config names the plug-in's config type in the text
  // users read, not as serialized bytes.
  std::ifstream config_file(trained->final_checkpoint +
                            "/model_config.textproto");
  const std::string config((std::istreambuf_iterator<char>(config_file)),
                           std::istreambuf_iterator<char>());
  EXPECT_TRUE(absl::StrContains(
      config,
      "[type.googleapis.com/internvideo.heads.v1.ObjectCountHeadConfig] {\n"))
      << config;
  EXPECT_TRUE(absl::StrContains(config, "max_objects: 3")) << config;

  absl::StatusOr<model::LoadedInternVideo> loaded =
      model::LoadInternVideo(trained->final_checkpoint);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  // Only the head trained: the step-10 and step-30 checkpoints hold the
  // same encoder and different heads.
  absl::StatusOr<model::LoadedInternVideo> early =
      model::LoadInternVideo(dir + "/checkpoints/step-00000010");
  ASSERT_TRUE(early.ok()) << early.status();
  const auto early_weights = early->model->named_parameters();
  int compared = 0;
  for (const auto& item : loaded->model->named_parameters()) {
    const bool same = torch::equal(item.value(), early_weights[item.key()]);
    EXPECT_EQ(same, !absl::StartsWith(item.key(), "heads.")) << item.key();
    ++compared;
  }
  EXPECT_GT(compared, 10);

  // `iv eval --task object_count` reproduces the trainer's figure.
  internvideo::v1::DataConfig val;
  val.add_manifests()->set_path(test::SmallWorld() + "/val.jsonl");
  absl::StatusOr<trainer::Dataset> data = trainer::ReadDataset(val, false);
  ASSERT_TRUE(data.ok()) << data.status();
  absl::StatusOr<trainer::Metrics> metrics =
      trainer::Evaluate(loaded->model, "object_count", *data, nullptr);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_DOUBLE_EQ(metrics->at("accuracy"),
                   trained->final_metrics.at("accuracy"));
}

}  // namespace
}  // namespace iv::heads
