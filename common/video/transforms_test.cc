#include "common/video/transforms.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"

namespace iv::video {
namespace {

// The same formula as testdata/transforms_reference.py.
torch::Tensor PatternFrames(int64_t t, int64_t h, int64_t w) {
  auto grid = torch::meshgrid(
      {torch::arange(t), torch::arange(h), torch::arange(w), torch::arange(3)},
      "ij");
  return ((7 * grid[0] + 3 * grid[1] + 5 * grid[2] + 11 * grid[3]) % 256)
      .to(torch::kUInt8);
}

TEST(TransformsTest, TestPipelineMatchesAnIndependentPythonPipeline) {
  const std::string out = testing::TempDir() + "/transforms_reference.bin";
  for (auto [t, h, w, short_side, crop] :
       std::vector<std::array<int, 5>>{{4, 90, 160, 64, 56},
                                       {3, 161, 97, 48, 48},
                                       {2, 128, 128, 128, 112}}) {
    const std::string command = absl::StrCat(
        "/usr/bin/python3 common/video/testdata/transforms_reference.py ", t,
        " ", h, " ", w, " ", short_side, " ", crop, " ", out);
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    torch::Tensor expected = torch::empty({3, t, crop, crop});
    std::ifstream(out, std::ios::binary)
        .read(static_cast<char*>(expected.data_ptr()), expected.nbytes());

    torch::Tensor clip = ToFloatClip(PatternFrames(t, h, w));
    clip = CenterCrop(ResizeShortSide(clip, short_side), crop);
    clip = Normalize(clip, kImageNetNormalization);
    ASSERT_EQ(clip.sizes(), expected.sizes());
    EXPECT_LT((clip - expected).abs().max().item<float>(), 1e-5)
        << t << "x" << h << "x" << w;
  }
}

TEST(TransformsTest, LayoutAndScale) {
  torch::Tensor frames = PatternFrames(2, 3, 4);
  torch::Tensor clip = ToFloatClip(frames);
  ASSERT_EQ(clip.sizes(), (std::vector<int64_t>{3, 2, 3, 4}));
  // frame[t=1, y=2, x=3, c=2] = (7 + 6 + 15 + 22) % 256 = 50.
  EXPECT_FLOAT_EQ(clip[2][1][2][3].item<float>(), 50.0f / 255.0f);
  EXPECT_TRUE(ResizeShortSide(clip, 3).is_same(clip)) << "no-op resize";
}

TEST(TransformsTest, ThreeCropTakesStartCentreEndOfTheLongSide) {
  torch::Tensor landscape =
      torch::arange(10).view({1, 1, 1, 10}).expand({3, 2, 4, 10});
  std::vector<torch::Tensor> crops = ThreeCrop(landscape, 4);
  ASSERT_EQ(crops.size(), 3);
  EXPECT_EQ(crops[0][0][0][0][0].item<int64_t>(), 0);
  EXPECT_EQ(crops[1][0][0][0][0].item<int64_t>(), 3);
  EXPECT_EQ(crops[2][0][0][0][0].item<int64_t>(), 6);
  torch::Tensor portrait =
      torch::arange(10).view({1, 1, 10, 1}).expand({3, 2, 10, 4});
  crops = ThreeCrop(portrait, 4);
  EXPECT_EQ(crops[2][0][0][0][0].item<int64_t>(), 6);
  EXPECT_EQ(crops[1].sizes(), (std::vector<int64_t>{3, 2, 4, 4}));
}

TEST(TransformsTest, FlipMirrorsWidthOnly) {
  torch::Tensor clip = torch::rand({3, 2, 4, 5});
  torch::Tensor flipped = HorizontalFlip(clip);
  EXPECT_TRUE(torch::equal(flipped.select(3, 0), clip.select(3, 4)));
  EXPECT_TRUE(torch::equal(HorizontalFlip(flipped), clip));
}

TEST(TransformsTest, RandomCropIsInBoundsAndSeeded) {
  torch::Tensor clip =
      torch::arange(12 * 16).view({1, 1, 12, 16}).expand({3, 2, 12, 16});
  std::mt19937_64 a(7), b(7);
  std::set<int64_t> corners;
  for (int i = 0; i < 200; ++i) {
    torch::Tensor x = RandomCrop(clip, 8, &a);
    torch::Tensor y = RandomCrop(clip, 8, &b);
    ASSERT_EQ(x.sizes(), (std::vector<int64_t>{3, 2, 8, 8}));
    EXPECT_TRUE(torch::equal(x, y)) << "same seed, same crops";
    corners.insert(x[0][0][0][0].item<int64_t>());
  }
  // 5 x 9 possible positions; 200 draws should hit most of them.
  EXPECT_GT(corners.size(), 35);
}

}  // namespace
}  // namespace iv::video
