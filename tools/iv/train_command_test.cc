// `iv train` as real processes: two data-parallel ranks through the local
// launcher against one process on the same global batch, and a run killed
// with SIGKILL after a checkpoint resuming to the uninterrupted losses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/process/command.h"
#include "common/safetensors/safetensors.h"
#include "common/testing/temp_dir.h"
#include "trainer/testing/small_run.h"

namespace iv {
namespace {

using process::CommandResult;

// The small recognition recipe in a file of its own folder.
std::string WriteRecipe(const std::string& name, int total_steps,
                        int checkpoint_every_steps) {
  const std::string path =
      absl::StrCat(test::FreshTempDir(name), "/recipe.pbtxt");
  std::ofstream(path) << test::SmallRecipeText(total_steps,
                                               checkpoint_every_steps);
  return path;
}

// Output is stdout and stderr together.
CommandResult Train(const std::string& recipe, const std::string& output_dir,
                    const std::string& flags = "") {
  return process::RunCommand(absl::StrCat("tools/iv/iv train ", recipe,
                                          " --output-dir ", output_dir, " ",
                                          flags, " 2>&1"));
}

// The newest checkpoint folder of a run ("" when there is none).
std::string NewestCheckpoint(const std::string& output_dir) {
  std::string newest;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(
           output_dir + "/checkpoints", error)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "step-")) {
      newest = std::max(newest, entry.path().string());
    }
  }
  return newest;
}

void ExpectSameLosses(const std::map<int64_t, double>& actual,
                      const std::map<int64_t, double>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [step, loss] : expected) {
    ASSERT_TRUE(actual.count(step)) << "step " << step;
    EXPECT_NEAR(actual.at(step), loss, 1e-5 * std::max(1.0, std::abs(loss)))
        << "step " << step;
  }
}

TEST(TrainCommandTest, TwoRanksMatchOneRankOnTheSameGlobalBatch) {
  const std::string recipe = WriteRecipe("ddp", /*total_steps=*/5, 0);
  const std::string one = test::FreshTempDir("one_rank");
  const std::string two = test::FreshTempDir("two_ranks");
  CommandResult single = Train(recipe, one, "--nproc 1");
  ASSERT_EQ(single.exit_code, 0) << single.output;
  // Construction broadcasts rank 0's weights, every checkpoint checks that
  // the ranks' parameters agree (the job fails otherwise), and only rank 0
  // reports.
  CommandResult parallel = Train(recipe, two, "--nproc 2");
  ASSERT_EQ(parallel.exit_code, 0) << parallel.output;
  EXPECT_NE(parallel.output.find("iv train: 5 steps"), std::string::npos)
      << parallel.output;
  EXPECT_EQ(parallel.output.find("[rank 1]"), std::string::npos)
      << parallel.output;

  ExpectSameLosses(test::LoggedLosses(two), test::LoggedLosses(one));
  absl::StatusOr<TensorFile> expected =
      ReadSafetensors(NewestCheckpoint(one) + "/model.safetensors");
  absl::StatusOr<TensorFile> actual =
      ReadSafetensors(NewestCheckpoint(two) + "/model.safetensors");
  ASSERT_TRUE(expected.ok()) << expected.status();
  ASSERT_TRUE(actual.ok()) << actual.status();
  ASSERT_EQ(actual->tensors.size(), expected->tensors.size());
  for (const auto& [name, tensor] : expected->tensors) {
    const torch::Tensor* other = actual->Find(name);
    ASSERT_NE(other, nullptr) << name;
    const double scale = std::max(1.0, tensor.abs().max().item<double>());
    EXPECT_LE((*other - tensor).abs().max().item<double>(), 1e-5 * scale)
        << name;
  }
}

TEST(TrainCommandTest, ARecipeThatCannotRunOnNRanksFailsBeforeLaunching) {
  const std::string recipe = WriteRecipe("bad_batch", 3, 0);
  // 8 clips per step are not divisible over 3 ranks.
  CommandResult result =
      Train(recipe, test::FreshTempDir("bad_batch_out"), "--nproc 3");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("recipe.global_batch_size"), std::string::npos)
      << result.output;
}

TEST(TrainCommandTest, ResumesAfterSigkillWithTheUninterruptedLosses) {
  const std::string recipe = WriteRecipe("kill", /*total_steps=*/30, 5);
  const std::string reference = test::FreshTempDir("uninterrupted");
  CommandResult full = Train(recipe, reference);
  ASSERT_EQ(full.exit_code, 0) << full.output;

  const std::string out = test::FreshTempDir("killed");
  CommandResult killed = process::RunCommand(absl::StrCat(
      "tools/iv/iv train ", recipe, " --output-dir ", out, " >", out,
      "/first.log 2>&1 & pid=$!; ", "until ls ", out,
      "/checkpoints 2>/dev/null | grep -q '^step-'; do ",
      "sleep 0.01; done; kill -9 $pid; wait $pid 2>/dev/null; echo $?"));
  ASSERT_EQ(killed.output, "137\n") << "the run was not killed mid-way";
  const std::string survivor = NewestCheckpoint(out);
  ASSERT_FALSE(survivor.empty());
  ASSERT_FALSE(absl::EndsWith(survivor, "step-00000030")) << survivor;

  CommandResult resumed = Train(recipe, out);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed at step"), std::string::npos)
      << resumed.output;
  ExpectSameLosses(test::LoggedLosses(out), test::LoggedLosses(reference));
}

TEST(TrainCommandTest, ModelInfoAndForwardReadItsCheckpoints) {
  const std::string recipe = WriteRecipe("checkpoint", /*total_steps=*/3, 3);
  const std::string out = test::FreshTempDir("checkpoint_out");
  CommandResult run = Train(recipe, out);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string checkpoint = NewestCheckpoint(out);
  ASSERT_FALSE(checkpoint.empty()) << run.output;

  CommandResult info = process::RunCommand(absl::StrCat(
      "tools/iv/iv model info --checkpoint ", checkpoint, " 2>&1"));
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_NE(info.output.find("architecture: internvideo\n"), std::string::npos)
      << info.output;

  // The recipe's clip: 4 frames of 32x32; its recognizer has 10 classes.
  const std::string input = out + "/input.safetensors";
  torch::manual_seed(1);
  ASSERT_TRUE(
      WriteSafetensors(input, {{{"video", torch::randn({2, 3, 4, 32, 32})}}})
          .ok());
  const std::string output = out + "/output.safetensors";
  CommandResult forward = process::RunCommand(absl::StrCat(
      "tools/iv/iv model forward --arch internvideo --checkpoint ", checkpoint,
      " --input ", input, " --output ", output, " 2>&1"));
  ASSERT_EQ(forward.exit_code, 0) << forward.output;
  absl::StatusOr<TensorFile> outputs = ReadSafetensors(output);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  const torch::Tensor* logits = outputs->Find("logits");
  const torch::Tensor* features = outputs->Find("features");
  ASSERT_NE(logits, nullptr) << forward.output;
  ASSERT_NE(features, nullptr) << forward.output;
  EXPECT_EQ(logits->sizes(), torch::IntArrayRef({2, 10}));
  EXPECT_EQ(features->sizes(), torch::IntArrayRef({2, 32}));
  EXPECT_TRUE(torch::isfinite(*logits).all().item<bool>());
  EXPECT_FALSE(torch::allclose((*logits)[0], (*logits)[1]))
      << "two random clips, one answer";
}

}  // namespace
}  // namespace iv
