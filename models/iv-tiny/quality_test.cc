// The committed iv-tiny on SynthWorld-Bench (shared/spec/SYNTHWORLD.md):
// renders the test splits of the worlds it was trained on (seed 7 trimmed
// clips, seed 8 untrimmed videos; per-clip seeds the training splits never
// used) twice, as the plain 64x64 H.264 files it trained on most and as
// `iv synth --variety` files (sizes 96..224, 16 or 25 fps, five codecs and
// containers, compression, noise and lighting drawn per file), and checks
// each task's metrics as `iv eval` prints them on both: recognition and
// reverse-twin top-1 >= 95% and caption triples >= 85% (the targets), and
// for retrieval, VQA and localization floors a little under what the
// committed model measures, far above chance. The single-frame baseline
// (every clip's middle frame repeated) must lose the reverse-twin pairs
// that only time tells apart.
#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/process/command.h"
#include "common/testing/temp_dir.h"
#include "nlohmann/json.hpp"

namespace iv {
namespace {

constexpr char kModel[] = "models/iv-tiny";

process::CommandResult RunIv(const std::string& arguments) {
  return process::RunCommand(absl::StrCat("tools/iv/iv ", arguments, " 2>&1"));
}

// The test splits, rendered once: <world>/<split>/clips (300 clips) and
// <world>/<split>/videos (30 untrimmed videos) for split "plain" and
// "variety".
class QualityTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    world_ = new std::string(test::FreshTempDir("iv_tiny_test_world"));
    for (const auto& [split, flags] :
         {std::pair<std::string, std::string>{"plain", "--size 64"},
          std::pair<std::string, std::string>{"variety", "--variety"}}) {
      const process::CommandResult clips = RunIv(absl::StrCat(
          "synth --out ", *world_, "/", split, "/clips --seed 7 ", flags,
          " --train 0 --val 0 --test 300 --untrimmed-test 0"));
      ASSERT_EQ(clips.exit_code, 0) << clips.output;
      const process::CommandResult videos = RunIv(absl::StrCat(
          "synth --out ", *world_, "/", split, "/videos --seed 8 ", flags,
          " --train 0 --val 0 --test 0 --untrimmed-test 30"));
      ASSERT_EQ(videos.exit_code, 0) << videos.output;
    }
  }

  // `iv eval` of the committed model on this split's `manifest`; its last
  // line parsed.
  static nlohmann::json Eval(const std::string& task,
                             const std::string& manifest,
                             const std::string& flags = "") {
    const process::CommandResult eval = RunIv(
        absl::StrCat("eval --checkpoint ", kModel, " --manifest ", *world_, "/",
                     GetParam(), "/", manifest, " --task ", task, " ", flags));
    EXPECT_EQ(eval.exit_code, 0) << eval.output;
    const std::vector<std::string> lines =
        absl::StrSplit(eval.output, '\n', absl::SkipEmpty());
    nlohmann::json json = nlohmann::json::parse(
        lines.empty() ? "" : lines.back(), nullptr, false);
    EXPECT_TRUE(json.is_object()) << eval.output;
    std::cout << GetParam() << ": " << json.dump() << "\n";
    return json.is_object() ? json : nlohmann::json::object();
  }

  static std::string* world_;
};
std::string* QualityTest::world_ = nullptr;

TEST_P(QualityTest, RecognitionUsesTimeWhereTheSingleFrameBaselineCannot) {
  const nlohmann::json full = Eval("recognition", "clips/test.jsonl");
  EXPECT_EQ(full.value("n", 0), 300);
  EXPECT_GE(full.value("top1", 0.0), 0.95);
  EXPECT_GE(full.value("twin_top1", 0.0), 0.95);
  const nlohmann::json still =
      Eval("recognition", "clips/test.jsonl", "--single-frame");
  // One frame cannot tell an action from its time reversal: near 50% on
  // twin pairs, far below the model that sees time.
  EXPECT_LE(still.value("twin_top1", 1.0), 0.75);
  EXPECT_LE(still.value("top1", 1.0), full.value("top1", 0.0) - 0.2);
}

// The target: R@1 >= 0.80. Measured plain 0.963 / R@5 1.000,
// variety 0.940 / 1.000 (0.773 / 0.987 plain before the masked encoder
// learned shape, session 8).
TEST_P(QualityTest, TextToVideoRetrieval) {
  const nlohmann::json json = Eval("retrieval", "clips/test.jsonl");
  EXPECT_EQ(json.value("n", 0), 300);
  EXPECT_GE(json.value("t2v_r1", 0.0), 0.80);
  EXPECT_GE(json.value("t2v_r5", 0.0), 0.95);
}

TEST_P(QualityTest, QuestionAnswering) {
  const nlohmann::json json = Eval("vqa", "clips/test.jsonl");
  // 23 answers: guessing gets under 5%; the model measures plain 0.970, variety
  // 0.957 (the task services' target 0.90; its head reads CMA's coordinated
  // tokens).
  EXPECT_EQ(json.value("n", 0), 1200);
  EXPECT_GE(json.value("accuracy", 0.0), 0.90);
}

TEST_P(QualityTest, Captioning) {
  const nlohmann::json json = Eval("caption", "clips/test.jsonl");
  // Measured BLEU-4 / triples plain 0.771 / 0.873, variety 0.775 / 0.860
  // (0.765 / 0.817 on variety before training on it; the target 0.85;
  // a decoder on the multimodal encoder's tokens: 0.319 / 0.067).
  EXPECT_GE(json.value("bleu4", 0.0), 0.7);
  EXPECT_GE(json.value("triple_accuracy", 0.0), 0.85);
}

TEST_P(QualityTest, TemporalLocalization) {
  const nlohmann::json json =
      Eval("localization", "videos/test_untrimmed.jsonl");
  EXPECT_EQ(json.value("n", 0), 30);
  // Measured: mAP 0.957 / 0.840 / 0.551 (plain), 0.965 / 0.845 / 0.546
  // (variety) at tIoU 0.3 / 0.5 / 0.7 (the task
  // services' target for mAP@0.5 is 0.70).
  EXPECT_GE(json.value("map_0.5", 0.0), 0.75);
  EXPECT_GE(json.value("map_mean", 0.0), 0.7);
}

INSTANTIATE_TEST_SUITE_P(Splits, QualityTest,
                         ::testing::Values("plain", "variety"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace iv
