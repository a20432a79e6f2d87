// The localization and VQA heads, and retrieval through cross-model
// attention, end to end on a tiny rendered SynthWorld: a tokenizer
// vocabulary from `iv vocab`, a few dozen steps of each objective with the
// trainer (the loss falls, a checkpoint is written), then `iv eval` on the
// checkpoint prints the task's keys, and a checkpoint without the head
// fails with FAILED_PRECONDITION naming it.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/substitute.h"
#include "common/model/internvideo/internvideo_checkpoint.h"
#include "common/process/command.h"
#include "common/synthworld/vocabulary.h"
#include "common/testing/temp_dir.h"
#include "common/text/clip_tokenizer.h"
#include "nlohmann/json.hpp"
#include "trainer/recipe.h"
#include "trainer/testing/small_run.h"
#include "trainer/trainer.h"

namespace iv {
namespace {

// 16 clips and 4 untrimmed videos of 64x64, rendered once.
const std::string& World() {
  static const std::string* dir = new std::string(
      test::RenderTestWorld("heads_world", 11, 16, 0, /*train_untrimmed=*/4));
  return *dir;
}

process::CommandResult RunIv(const std::string& arguments) {
  return process::RunCommand(absl::StrCat("tools/iv/iv ", arguments, " 2>&1"));
}

// A masked encoder and a multimodal encoder of a few thousand parameters
// each, with `heads` (text format) added to the model.
std::string Recipe(const std::string& objective, const std::string& heads,
                   const std::string& manifest, int batch_size,
                   const std::string& vocab, int vocab_size) {
  return absl::Substitute(
      R"pb(
        name: "heads"
        model {
          class_names: [ "a", "b", "c", "d", "e", "f", "g", "h", "i", "j" ]
          masked_encoder {
            preset: "tiny"
            img_size: 32
            patch_size: 16
            num_frames: 4
            embed_dim: 32
            depth: 2
            num_heads: 2
          }
          multimodal_encoder {
            preset: "tiny"
            embed_dim: 32
            vision {
              input_resolution: 32
              patch_size: 16
              width: 32
              layers: 2
              heads: 2
              num_frames: 4
              global_branch { n_layers: 1 }
            }
            text {
              context_length: 16
              width: 32
              heads: 2
              layers: 1
              vocab_size: $3
            }
            tokenizer { vocab_path: "$2" }
          } $0
        } $1
        optimizer { learning_rate: 1e-2 }
        global_batch_size: $5
        total_steps: 60
        log_every_steps: 1
        seed: 7
        train_data {
          num_workers: 1
          manifests { path: "$4" }
        }
        eval_data { manifests { path: "$4" } }
      )pb",
      heads, objective, vocab, vocab_size, manifest, batch_size);
}

// Trains `recipe` and returns its final checkpoint after checking that the
// loss fell (mean of the last 10 steps well below the first 10).
std::string TrainAndCheck(const std::string& text) {
  absl::StatusOr<internvideo::v1::TrainingRecipe> recipe =
      trainer::ParseRecipe(text);
  EXPECT_TRUE(recipe.ok()) << recipe.status();
  const std::string out = test::FreshTempDir("heads_run");
  recipe->set_output_dir(out);
  absl::StatusOr<trainer::TrainResult> result = trainer::Train(*recipe);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return "";
  const std::map<int64_t, double> losses = test::LoggedLosses(out);
  EXPECT_EQ(losses.size(), 60u);
  if (losses.size() != 60u) return "";
  double first = 0, last = 0;
  for (int64_t step = 1; step <= 10; ++step) first += losses.at(step) / 10;
  for (int64_t step = 51; step <= 60; ++step) last += losses.at(step) / 10;
  EXPECT_LT(last, first * 0.8) << "first " << first << " last " << last;
  EXPECT_FALSE(result->final_metrics.empty());
  return result->final_checkpoint;
}

process::CommandResult RunEval(const std::string& checkpoint,
                               const std::string& manifest,
                               const std::string& task) {
  return RunIv(absl::StrCat("eval --checkpoint ", checkpoint, " --manifest ",
                            manifest, " --task ", task));
}

nlohmann::ordered_json LastLineJson(const std::string& output) {
  std::vector<std::string> lines =
      absl::StrSplit(output, '\n', absl::SkipEmpty());
  return nlohmann::ordered_json::parse(lines.empty() ? "" : lines.back(),
                                       nullptr, false);
}

class HeadsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    vocab_dir_ = new std::string(test::FreshTempDir("heads_vocab"));
    const process::CommandResult vocab =
        RunIv(absl::StrCat("vocab --manifest ", World(),
                           "/train.jsonl --size 700 --out ", *vocab_dir_));
    ASSERT_EQ(vocab.exit_code, 0) << vocab.output;
    auto tokenizer = text::ClipTokenizer::Load(*vocab_dir_ + "/bpe_vocab.txt");
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    vocab_size_ = (*tokenizer)->vocab_size();
  }
  static std::string Vocab() { return *vocab_dir_ + "/bpe_vocab.txt"; }

  static std::string* vocab_dir_;
  static int vocab_size_;
};
std::string* HeadsTest::vocab_dir_ = nullptr;
int HeadsTest::vocab_size_ = 0;

TEST_F(HeadsTest, LocalizationTrainsAndEvaluates) {
  const std::string manifest = World() + "/train_untrimmed.jsonl";
  const std::string checkpoint = TrainAndCheck(Recipe(
      "localization {}",
      "localization_head { feature_window { window_s: 1.0 stride_s: 0.5 } "
      "width: 32 layers: 1 heads: 2 }",
      manifest, /*batch_size=*/2, Vocab(), vocab_size_));
  ASSERT_FALSE(checkpoint.empty());
  const process::CommandResult eval =
      RunEval(checkpoint, manifest, "localization");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const nlohmann::ordered_json json = LastLineJson(eval.output);
  ASSERT_TRUE(json.is_object()) << eval.output;
  EXPECT_EQ(json.begin().key(), "task");
  EXPECT_EQ(json["task"], "localization");
  EXPECT_EQ(json["n"], 4);
  for (const char* key : {"map_0.3", "map_0.5", "map_0.7", "map_mean"}) {
    ASSERT_TRUE(json.contains(key)) << key << " in " << eval.output;
    EXPECT_GE(json[key].get<double>(), 0.0);
    EXPECT_LE(json[key].get<double>(), 1.0);
  }
  // No VQA head in this checkpoint.
  const process::CommandResult vqa =
      RunEval(checkpoint, World() + "/train.jsonl", "vqa");
  EXPECT_EQ(vqa.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(vqa.output, "FAILED_PRECONDITION"))
      << vqa.output;
  EXPECT_TRUE(absl::StrContains(vqa.output, "VQA head")) << vqa.output;
}

TEST_F(HeadsTest, VqaTrainsAndEvaluates) {
  std::string answers;
  for (absl::string_view answer : synthworld::Answers()) {
    absl::StrAppend(&answers, " answers: \"", answer, "\"");
  }
  const std::string manifest = World() + "/train.jsonl";
  const std::string checkpoint = TrainAndCheck(
      Recipe("vqa {}", absl::StrCat("vqa_head { layers: 1", answers, " }"),
             manifest, /*batch_size=*/8, Vocab(), vocab_size_));
  ASSERT_FALSE(checkpoint.empty());
  const process::CommandResult eval = RunEval(checkpoint, manifest, "vqa");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const nlohmann::ordered_json json = LastLineJson(eval.output);
  ASSERT_TRUE(json.is_object()) << eval.output;
  EXPECT_EQ(json["task"], "vqa");
  ASSERT_TRUE(json.contains("accuracy")) << eval.output;
  EXPECT_GT(json["n"].get<int>(), 16);  // every question of every clip
  // Trained a few dozen steps on these very questions: well above the 1/23
  // of guessing (about 0.5 here).
  EXPECT_GT(json["accuracy"].get<double>(), 0.2);
  // No caption decoder in this checkpoint.
  const process::CommandResult caption =
      RunEval(checkpoint, manifest, "caption");
  EXPECT_EQ(caption.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(caption.output, "caption decoder"))
      << caption.output;
}

// CMA's projection trained contrastively with the text tower: both video
// towers stay exactly as they were while the text tower and CMA move, and
// retrieval (through CMA) finds the captions' clips far above chance.
TEST_F(HeadsTest, CmaRetrievalTrainsTextTowerOnly) {
  const std::string manifest = World() + "/train.jsonl";
  const std::string checkpoint = TrainAndCheck(
      Recipe("cma { train_text_encoder: true } checkpoint_every_steps: 30",
             "cma { num_blocks: 1 video_projection: true }", manifest,
             /*batch_size=*/8, Vocab(), vocab_size_));
  ASSERT_FALSE(checkpoint.empty());
  const std::string halfway =
      std::filesystem::path(checkpoint).parent_path() / "step-00000030";
  absl::StatusOr<model::LoadedInternVideo> before =
      model::LoadInternVideo(halfway);
  ASSERT_TRUE(before.ok()) << before.status();
  absl::StatusOr<model::LoadedInternVideo> after =
      model::LoadInternVideo(checkpoint);
  ASSERT_TRUE(after.ok()) << after.status();
  std::map<std::string, torch::Tensor> start;
  for (const auto& item : before->model->named_parameters()) {
    start[item.key()] = item.value();
  }
  int moved = 0, kept = 0;
  for (const auto& item : after->model->named_parameters()) {
    const bool frozen =
        absl::StartsWith(item.key(), "masked_encoder.") ||
        absl::StartsWith(item.key(), "multimodal_encoder.visual");
    const bool same = torch::equal(start.at(item.key()), item.value());
    if (frozen) {
      EXPECT_TRUE(same) << item.key() << " changed but is frozen";
      ++kept;
    } else if (absl::StartsWith(item.key(), "multimodal_encoder.") ||
               absl::StartsWith(item.key(), "cma.")) {
      moved += !same;
    }
  }
  EXPECT_GT(kept, 10);
  EXPECT_GT(moved, 10);
  const process::CommandResult eval =
      RunEval(checkpoint, manifest, "retrieval");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const nlohmann::ordered_json json = LastLineJson(eval.output);
  ASSERT_TRUE(json.is_object()) << eval.output;
  EXPECT_EQ(json["task"], "retrieval");
  EXPECT_EQ(json["n"], 16);
  // Chance is about 5/16 for R@5; trained 60 steps on these very captions
  // (0.81 here), and far below it if retrieval skipped CMA's projection.
  EXPECT_GT(json["t2v_r5"].get<double>(), 0.6) << eval.output;
}

}  // namespace
}  // namespace iv
