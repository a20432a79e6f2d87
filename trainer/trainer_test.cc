// The training engine on a small rendered SynthWorld: recipe checks, the
// schedule, parameter groups, checkpoints (round trip, corruption) and
// resuming a halted run with the same subsequent losses.
#include "trainer/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/data/manifest.h"
#include "common/files/checksums.h"
#include "common/testing/temp_dir.h"
#include "trainer/lr_schedule.h"
#include "trainer/optimizer.h"
#include "trainer/recipe.h"
#include "trainer/testing/small_run.h"
#include "trainer/training_checkpoint.h"

namespace iv::trainer {
namespace {

using internvideo::v1::TrainingRecipe;
using test::LoggedLosses;

TrainingRecipe SmallRecipe(const std::string& output_dir) {
  absl::StatusOr<TrainingRecipe> recipe =
      ParseRecipe(test::SmallRecipeText(/*total_steps=*/6,
                                        /*checkpoint_every_steps=*/3));
  EXPECT_TRUE(recipe.ok()) << recipe.status();
  recipe->set_output_dir(output_dir);
  return *recipe;
}

TEST(RecipeTest, BadFieldsAreNamed) {
  const TrainingRecipe good = SmallRecipe(test::FreshTempDir("recipe"));
  ASSERT_TRUE(ValidateRecipe(good).ok()) << ValidateRecipe(good).status();
  struct Case {
    std::function<void(TrainingRecipe&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](TrainingRecipe& r) { r.mutable_optimizer()->set_learning_rate(0); },
       "recipe.optimizer.learning_rate"},
      {[](TrainingRecipe& r) { r.set_global_batch_size(0); },
       "recipe.global_batch_size"},
      {[](TrainingRecipe& r) { r.set_total_steps(0); }, "recipe.total_steps"},
      {[](TrainingRecipe& r) { r.mutable_schedule()->set_warmup_steps(6); },
       "recipe.schedule.warmup_steps"},
      {[](TrainingRecipe& r) {
         r.mutable_train_data()->mutable_manifests(0)->set_path("/nope.jsonl");
       },
       "recipe.train_data.manifests[0].path"},
      {[](TrainingRecipe& r) { r.clear_objective(); }, "recipe.objective"},
      {[](TrainingRecipe& r) { r.mutable_masked_video_modeling(); },
       "recipe.model.masked_encoder.decoder"},
      {[](TrainingRecipe& r) {
         r.mutable_model()->mutable_masked_encoder()->set_num_heads(3);
       },
       "recipe.masked_encoder.num_heads"},
      {[](TrainingRecipe& r) {
         r.mutable_recognition()->set_label_smoothing(1.5);
       },
       "recipe.recognition.label_smoothing"},
      {[](TrainingRecipe& r) { r.mutable_localization(); },
       "recipe.model.localization_head"},
      {[](TrainingRecipe& r) { r.mutable_vqa(); }, "recipe.model.vqa_head"},
      {[](TrainingRecipe& r) {
         r.mutable_model()->mutable_localization_head()->set_heads(5);
       },
       "recipe.localization_head.heads"},
      {[](TrainingRecipe& r) { r.mutable_model()->mutable_vqa_head(); },
       "recipe.vqa_head"},
      {[](TrainingRecipe& r) {
         r.mutable_recognition()->set_attribute_weight(1);
       },
       "recipe.recognition.attribute_weight"},
      {[](TrainingRecipe& r) {
         r.mutable_model()->mutable_attribute_head()->add_shapes("circle");
       },
       "recipe.attribute_head.colors"},
  };
  for (const Case& c : cases) {
    TrainingRecipe recipe = good;
    c.edit(recipe);
    absl::StatusOr<model::InternVideoConfig> result = ValidateRecipe(recipe);
    ASSERT_FALSE(result.ok()) << c.field;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(result.status().message(), c.field))
        << result.status();
  }
  EXPECT_FALSE(ValidateRecipe(good, /*world_size=*/3).ok());
  EXPECT_FALSE(ParseRecipe("optimizer { learning_rat: 1 }").ok());
}

// SynthWorld's attribute classes, for the scene-attribute head.
void AddAttributeHead(TrainingRecipe& recipe,
                      const std::vector<std::string>& colors) {
  auto& head = *recipe.mutable_model()->mutable_attribute_head();
  for (const std::string& color : colors) head.add_colors(color);
  for (const char* shape : {"circle", "square", "triangle", "cross"}) {
    head.add_shapes(shape);
  }
  head.set_max_objects(3);
}

TEST(TrainerTest, AttributeLossesJoinTheActionLoss) {
  const std::string plain_dir = test::FreshTempDir("plain");
  ASSERT_TRUE(Train(SmallRecipe(plain_dir)).ok());
  const std::string attribute_dir = test::FreshTempDir("attributes");
  TrainingRecipe recipe = SmallRecipe(attribute_dir);
  AddAttributeHead(recipe,
                   {"red", "green", "blue", "yellow", "purple", "white"});
  recipe.mutable_recognition()->set_attribute_weight(1);
  absl::StatusOr<TrainResult> trained = Train(recipe);
  ASSERT_TRUE(trained.ok()) << trained.status();
  // Same seed, same encoder: at step 1 the difference is the three
  // attribute cross-entropies of freshly initialized heads, each near
  // ln(classes): ln 6 + ln 4 + ln 3 = 4.28.
  const double extra = test::LoggedLosses(attribute_dir).at(1) -
                       test::LoggedLosses(plain_dir).at(1);
  EXPECT_GT(extra, 3.5);
  EXPECT_LT(extra, 6.0);

  // A clip whose actor color the head does not know is named.
  TrainingRecipe unknown = SmallRecipe(test::FreshTempDir("unknown"));
  AddAttributeHead(unknown, {"red"});
  unknown.mutable_recognition()->set_attribute_weight(1);
  const absl::Status status = Train(unknown).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StrContains(status.message(), "recipe.model.attribute_head"))
      << status;
}

// A Kinetics-style manifest (file and class name only, no SynthWorld
// scene) trains: class ids come from the recipe's class_names. A clip whose
// class the model lacks is named before any step runs.
TEST(TrainerTest, TrainsOnRowsLabelledByClassName) {
  const std::string dir = test::FreshTempDir("class_names");
  absl::StatusOr<std::vector<data::TrimmedClip>> world =
      data::ReadTrimmedManifest(test::SmallWorld() + "/train.jsonl");
  ASSERT_TRUE(world.ok()) << world.status();
  auto write_rows = [&](const std::string& path, const std::string& odd_one) {
    std::ofstream out(path);
    for (size_t i = 0; i < world->size(); ++i) {
      const data::TrimmedClip& clip = (*world)[i];
      // SmallRecipe's classes are "a" .. "j" in SynthWorld's action order.
      const std::string action =
          i == 3 && !odd_one.empty()
              ? odd_one
              : std::string(1, static_cast<char>('a' + clip.action_id));
      out << "{\"file\": \"" << clip.path << "\", \"action\": \"" << action
          << "\"}\n";
    }
  };
  TrainingRecipe recipe = SmallRecipe(dir + "/run");
  recipe.mutable_train_data()->mutable_manifests(0)->set_path(dir + "/k.jsonl");
  write_rows(dir + "/k.jsonl", "");
  absl::StatusOr<TrainResult> trained = Train(recipe);
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(trained->steps, 6);

  write_rows(dir + "/k.jsonl", "zumba");
  recipe.set_output_dir(dir + "/odd");
  const absl::Status status = Train(recipe).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "action 'zumba'")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "recipe.train_data"))
      << status;
}

TEST(LrScheduleTest, WarmupThenCosine) {
  internvideo::v1::LrSchedule schedule;
  schedule.set_warmup_steps(10);
  schedule.set_warmup_start_lr(0.0);
  schedule.set_min_lr(1e-5);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(1e-3, schedule, 110, 0), 0.0);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(1e-3, schedule, 110, 5), 5e-4);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(1e-3, schedule, 110, 10), 1e-3);
  // Halfway through the decay: the mean of the peak and the floor.
  const double half = ScheduledLearningRate(1e-3, schedule, 111, 60);
  EXPECT_NEAR(half, (1e-3 + 1e-5) / 2, 1e-12);
  EXPECT_NEAR(ScheduledLearningRate(1e-3, schedule, 110, 109), 1e-5, 1e-12);
}

TEST(OptimizerTest, LayerDecayAndWeightDecayExclusions) {
  EXPECT_EQ(LayerId("masked_encoder.patch_embed.proj.weight", 12), 0);
  EXPECT_EQ(LayerId("masked_encoder.blocks.0.attn.qkv.weight", 12), 1);
  EXPECT_EQ(LayerId("masked_encoder.blocks.11.mlp.fc1.weight", 12), 12);
  EXPECT_EQ(LayerId("masked_encoder.head.weight", 12), 13);
  EXPECT_EQ(LayerId("cma.blocks.0.ffn.fc1.weight", 12), 13);

  model::NamedTensors params = {
      {"masked_encoder.blocks.0.attn.qkv.weight", torch::zeros({6, 2})},
      {"masked_encoder.blocks.0.attn.q_bias", torch::zeros({2})},
      {"masked_encoder.blocks.1.mlp.fc1.weight", torch::zeros({4, 2})},
      {"masked_encoder.head.weight", torch::zeros({3, 2})},
      {"multimodal_encoder.logit_scale", torch::zeros({1, 1})}};
  internvideo::v1::OptimizerConfig config;
  config.set_weight_decay(0.05);
  config.set_layer_decay(0.5);
  std::map<std::string, std::pair<double, double>> by_name;
  for (const ParameterGroup& group : GroupParameters(params, config, 2)) {
    for (const std::string& name : group.names) {
      by_name[name] = {group.lr_scale, group.weight_decay};
    }
  }
  // Block i of L = 2 gets 0.5^(L + 1 - (i + 1)).
  EXPECT_DOUBLE_EQ(by_name["masked_encoder.blocks.0.attn.qkv.weight"].first,
                   0.25);
  EXPECT_DOUBLE_EQ(by_name["masked_encoder.blocks.1.mlp.fc1.weight"].first,
                   0.5);
  EXPECT_DOUBLE_EQ(by_name["masked_encoder.head.weight"].first, 1.0);
  EXPECT_DOUBLE_EQ(by_name["masked_encoder.blocks.0.attn.qkv.weight"].second,
                   0.05);
  EXPECT_DOUBLE_EQ(by_name["masked_encoder.blocks.0.attn.q_bias"].second, 0);
  EXPECT_DOUBLE_EQ(by_name["multimodal_encoder.logit_scale"].second, 0);
}

TEST(TrainerTest, ResumedRunReproducesTheLosses) {
  const std::string straight = test::FreshTempDir("straight");
  absl::StatusOr<TrainResult> full = Train(SmallRecipe(straight));
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->steps, 6);
  const std::map<int64_t, double> expected = LoggedLosses(straight);
  ASSERT_EQ(expected.size(), 6u);
  EXPECT_TRUE(std::filesystem::exists(straight + "/curves.svg"));
  EXPECT_EQ(ListTrainingCheckpoints(straight).size(), 2u);  // steps 3, 6

  // Halted after step 4, past its checkpoint at step 3: the restart takes up
  // at step 3 and must draw the same batches, masks and dropout.
  const std::string halted = test::FreshTempDir("halted");
  TrainOptions halt;
  halt.halt_after_steps = 4;
  EXPECT_EQ(Train(SmallRecipe(halted), halt).status().code(),
            absl::StatusCode::kAborted);
  absl::StatusOr<TrainResult> resumed = Train(SmallRecipe(halted));
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->resumed_from_step, 3);
  const std::map<int64_t, double> after = LoggedLosses(halted);
  for (int64_t step = 1; step <= 6; ++step) {
    EXPECT_NEAR(after.at(step), expected.at(step), 1e-5) << "step " << step;
  }
  // The losses moved: a broken optimizer would leave them flat.
  EXPECT_NE(expected.at(1), expected.at(6));
}

TEST(TrainerTest, CorruptCheckpointIsSkipped) {
  const std::string dir = test::FreshTempDir("corrupt");
  ASSERT_TRUE(Train(SmallRecipe(dir)).ok());
  std::vector<CheckpointInfo> checkpoints = ListTrainingCheckpoints(dir);
  ASSERT_EQ(checkpoints.size(), 2u);
  const std::string weights = checkpoints.back().path + "/model.safetensors";
  {
    std::fstream file(weights, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-5, std::ios::end);
    file.put('\x7f');
  }
  EXPECT_EQ(files::VerifyChecksums(checkpoints.back().path).code(),
            absl::StatusCode::kDataLoss);
  std::vector<std::string> skipped;
  checkpoints = ListTrainingCheckpoints(dir, &skipped);
  ASSERT_EQ(checkpoints.size(), 1u);
  EXPECT_EQ(checkpoints[0].state.step, 3);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_TRUE(absl::StrContains(skipped[0], "model.safetensors")) << skipped[0];
}

}  // namespace
}  // namespace iv::trainer
