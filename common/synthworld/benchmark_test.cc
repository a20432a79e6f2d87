#include "common/synthworld/benchmark.h"

#include <gtest/gtest.h>

namespace iv::synthworld {
namespace {

TEST(BenchmarkTest, CaptionTriplesAcceptParaphrases) {
  EXPECT_EQ(CaptionTriple("a small red triangle disappears while a purple "
                          "triangle stays still"),
            "red triangle disappear");
  EXPECT_EQ(CaptionTriple("the blue circle slides to the left"),
            "blue circle move_left");
  EXPECT_EQ(CaptionTriple("the white cross rotates anticlockwise"),
            "white cross rotate_counterclockwise");
  EXPECT_EQ(CaptionTriple("a green square grows larger"), "green square grow");
  EXPECT_EQ(CaptionTriple("a yellow square"), "");
  data::TrimmedClip clip;
  clip.actor = {"square", "green", "large"};
  clip.action = "shrink";
  EXPECT_EQ(ClipKey(clip), "green square shrink");
}

TEST(BenchmarkTest, TwinAccuracyComparesAClipsActionWithItsTwinOnly) {
  // Clip 0 (move_left, twin move_right): right, though move_up scores
  // highest. Clip 1 (grow, twin shrink): wrong. Clip 2: label 10 is not a
  // SynthWorld action and is left out.
  const torch::Tensor logits = torch::tensor(
      {{0.5f, 0.1f, 0.9f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f},
       {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.2f, 0.3f, 0.0f, 0.0f, 0.0f},
       {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f}});
  const torch::Tensor labels = torch::tensor({0, 6, 10}, torch::kInt64);
  EXPECT_DOUBLE_EQ(TwinAccuracy(logits, labels), 0.5);
  EXPECT_DOUBLE_EQ(TwinAccuracy(logits.slice(0, 2), labels.slice(0, 2)), 0.0);
}

}  // namespace
}  // namespace iv::synthworld
