#include "common/video/clip_spec.h"

#include <gtest/gtest.h>

#include <set>

namespace iv::video {
namespace {

using internvideo::v1::ClipSampling;

ClipInput TinyInput() {
  ClipInput input;
  input.num_frames = 8;
  input.size = 64;
  input.patch_size = 16;
  input.normalization = kImageNetNormalization;
  return input;
}

TEST(ResolveClipSpecTest, ModelDefaultsThenOverrides) {
  ClipInput input = TinyInput();
  input.sampling.set_mode(ClipSampling::MODE_DENSE);
  input.sampling.set_frame_interval(2);
  input.sampling.set_short_side(80);
  absl::StatusOr<ClipSpec> spec = ResolveClipSpec(input, {}, 16);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->mode, ClipMode::kDense);
  EXPECT_EQ(spec->num_frames, 8);
  EXPECT_EQ(spec->frame_interval, 2);
  EXPECT_EQ(spec->num_clips, 1);
  EXPECT_EQ(spec->crop_size, 64);
  EXPECT_EQ(spec->short_side, 80);
  EXPECT_FALSE(spec->three_crop);
  EXPECT_EQ(spec->normalization.mean, kImageNetNormalization.mean);

  ClipSampling overrides;
  overrides.set_mode(ClipSampling::MODE_UNIFORM);
  overrides.set_num_clips(3);
  overrides.set_crop(ClipSampling::CROP_THREE);
  overrides.set_crop_size(48);
  overrides.set_resize(ClipSampling::RESIZE_OPENCV_BILINEAR);
  spec = ResolveClipSpec(input, overrides, 16);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->mode, ClipMode::kUniform);
  EXPECT_EQ(spec->num_clips, 3);
  EXPECT_TRUE(spec->three_crop);
  EXPECT_EQ(spec->views_per_clip(), 3);
  EXPECT_EQ(spec->crop_size, 48);
  EXPECT_EQ(spec->short_side, 80);  // still the model's
  EXPECT_EQ(spec->resize, Resize::kOpenCvBilinear);
}

TEST(ResolveClipSpecTest, ErrorsNameTheField) {
  struct Case {
    ClipSampling sampling;
    std::string message;
  };
  std::vector<Case> cases(7);
  cases[0].sampling.set_num_frames(4);
  cases[0].message = "train_data.sampling.num_frames: the model takes 8";
  cases[1].sampling.set_crop_size(40);
  cases[1].message = "train_data.sampling.crop_size: must be a multiple";
  cases[2].sampling.set_short_side(32);
  cases[2].message = "train_data.sampling.short_side: must be in [crop_size";
  cases[3].sampling.set_num_clips(17);
  cases[3].message = "train_data.sampling.num_clips: 17 is above";
  cases[4].sampling.set_mode(ClipSampling::MODE_LINSPACE);
  cases[4].sampling.set_num_clips(2);
  cases[4].message = "train_data.sampling.num_clips: MODE_LINSPACE";
  cases[5].sampling.set_frame_interval(-1);
  cases[5].message = "train_data.sampling.frame_interval: must be >= 0";
  cases[6].sampling.set_resize(static_cast<ClipSampling::Resize>(9));
  cases[6].message = "train_data.sampling.resize: unknown value";
  for (const Case& c : cases) {
    absl::StatusOr<ClipSpec> spec =
        ResolveClipSpec(TinyInput(), c.sampling, 16, "train_data.sampling");
    ASSERT_FALSE(spec.ok()) << c.message;
    EXPECT_TRUE(absl::IsInvalidArgument(spec.status()));
    EXPECT_EQ(spec.status().message().substr(0, c.message.size()), c.message)
        << spec.status();
  }
}

TEST(ClipFrameIndicesTest, TestModeClipsPerPart) {
  ClipSpec spec;
  spec.num_frames = 2;
  spec.num_clips = 2;
  // 20 frames in two parts of 10; TSN's centres of 2 segments of 10: 2, 7.
  EXPECT_EQ(ClipFrameIndices(spec, 20),
            (std::vector<std::vector<int64_t>>{{2, 7}, {12, 17}}));
  spec.mode = ClipMode::kLinspace;
  spec.num_frames = 4;
  spec.num_clips = 1;
  // np.linspace(0, 9, 4) = 0, 3, 6, 9.
  EXPECT_EQ(ClipFrameIndices(spec, 10),
            (std::vector<std::vector<int64_t>>{{0, 3, 6, 9}}));
}

TEST(ClipFrameIndicesTest, TrainingDrawsOneClipInRange) {
  ClipSpec spec;
  spec.num_frames = 4;
  spec.num_clips = 3;
  std::set<std::vector<int64_t>> seen;
  for (ClipMode mode : {ClipMode::kUniform, ClipMode::kDense}) {
    spec.mode = mode;
    std::mt19937_64 rng(7);
    for (int i = 0; i < 20; ++i) {
      const auto clips = ClipFrameIndices(spec, 40, SampleMode::kTrain, &rng);
      ASSERT_EQ(clips.size(), 1u);
      ASSERT_EQ(clips[0].size(), 4u);
      for (int64_t index : clips[0]) {
        EXPECT_GE(index, 0);
        EXPECT_LT(index, 40);
      }
      seen.insert(clips[0]);
    }
  }
  EXPECT_GT(seen.size(), 2u);  // random, not the test clip every time
}

TEST(CutClipTest, PerFrameResizeEqualsTheWholeClipsAndNormalizes) {
  torch::manual_seed(0);
  const torch::Tensor frames =
      torch::randint(0, 256, {3, 48, 80, 3}, torch::kUInt8);
  ClipSpec spec;
  spec.num_frames = 3;
  spec.short_side = 40;
  spec.crop_size = 32;
  spec.normalization = kImageNetNormalization;
  const std::vector<torch::Tensor> views = CutClip(frames, spec);
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].sizes(), (std::vector<int64_t>{3, 3, 32, 32}));
  // The whole clip resized at once, cropped at the centre: the same bits.
  const torch::Tensor whole =
      Normalize(CenterCrop(ResizeShortSide(ToFloatClip(frames), 40), 32),
                kImageNetNormalization);
  EXPECT_TRUE(torch::equal(views[0], whole));

  // A flat grey frame: (v / 255 - mean) / std per channel, computed here.
  const torch::Tensor grey = torch::full({2, 32, 32, 3}, 100, torch::kUInt8);
  spec.num_frames = 2;
  spec.short_side = 32;
  spec.three_crop = true;
  const std::vector<torch::Tensor> crops = CutClip(grey, spec);
  ASSERT_EQ(crops.size(), 3u);
  for (int c = 0; c < 3; ++c) {
    const float expected = (100.0f / 255.0f - kImageNetNormalization.mean[c]) /
                           kImageNetNormalization.std[c];
    EXPECT_NEAR(crops[1][c].max().item<float>(), expected, 1e-6);
    EXPECT_NEAR(crops[1][c].min().item<float>(), expected, 1e-6);
  }
}

}  // namespace
}  // namespace iv::video
