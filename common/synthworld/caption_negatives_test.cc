// The hard negative captions, against expectations written by hand from
// shared/spec/SYNTHWORLD.md's vocabulary tables.
#include "common/synthworld/caption_negatives.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace iv::synthworld {
namespace {

data::TrimmedClip RedTriangleDisappears() {
  data::TrimmedClip clip;
  clip.actor.color = "red";
  clip.actor.shape = "triangle";
  clip.actor.size = "small";
  clip.action = "disappear";
  clip.action_id = 9;
  return clip;
}

TEST(CaptionNegativesTest, OneAttributeOfTheActorChangesAtATime) {
  // Seed 0 draws the first other color (green) and shape (circle); the
  // twin of disappear is appear. The distractor's words stay.
  EXPECT_EQ(
      AttributeSwappedCaptions(
          RedTriangleDisappears(),
          "a small red triangle disappears while a purple triangle stays still",
          0),
      (std::vector<std::string>{
          "a small green triangle disappears while a purple triangle stays "
          "still",
          "a small red circle disappears while a purple triangle stays still",
          "a small red triangle appears while a purple triangle stays "
          "still"}));
}

TEST(CaptionNegativesTest, ParaphrasesBecomeTheTwinsCanonicalPhrase) {
  EXPECT_EQ(AttributeSwappedCaptions(RedTriangleDisappears(),
                                     "the red triangle fades out", 7),
            (std::vector<std::string>{"the yellow triangle fades out",
                                      "the red square fades out",
                                      "the red triangle appears"}));
}

TEST(CaptionNegativesTest, NeverTheActorsOwnAttributes) {
  for (uint64_t seed = 0; seed < 60; ++seed) {
    const std::vector<std::string> negatives = AttributeSwappedCaptions(
        RedTriangleDisappears(), "a red triangle vanishes", seed);
    ASSERT_EQ(negatives.size(), 3u);
    EXPECT_FALSE(absl::StartsWith(negatives[0], "a red ")) << negatives[0];
    EXPECT_FALSE(absl::StrContains(negatives[1], "triangle")) << negatives[1];
    EXPECT_EQ(negatives[2], "a red triangle appears");
  }
}

TEST(CaptionNegativesTest, UnmentionedOrUnknownAttributesGiveNone) {
  data::TrimmedClip clip = RedTriangleDisappears();
  clip.actor.color = "teal";  // not SynthWorld's
  EXPECT_EQ(
      AttributeSwappedCaptions(clip, "a teal triangle disappears", 0).size(),
      2u);
  EXPECT_TRUE(
      AttributeSwappedCaptions(RedTriangleDisappears(), "something else", 0)
          .empty());
}

}  // namespace
}  // namespace iv::synthworld
