#include "common/model/videomae/masking.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

namespace iv::model {
namespace {

at::Generator Seeded(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

// [B, N] -> [B, time, per_slice].
torch::Tensor BySlice(const torch::Tensor& mask, const TokenGrid& grid) {
  return mask.view({mask.size(0), grid.time, grid.per_slice()});
}

TEST(MaskingTest, CountsFollowTheOfficialTruncation) {
  EXPECT_EQ(MaskedTokensPerSlice(0.9, 196), 176);  // 176.4
  EXPECT_EQ(MaskedTokensPerSlice(0.75, 196), 147);
  EXPECT_EQ(MaskedTokensPerSlice(0.9, 49), 44);  // 44.1
  // A proto float: 0.9f * 10 is 8.9999998, but the intended ratio gives 9.
  EXPECT_EQ(MaskedTokensPerSlice(0.9f, 10), 9);
  EXPECT_EQ(MaskedTokensPerSlice(0.5, 7), 3);
}

TEST(MaskingTest, MasksExactlyTheRatioWithTheSameMaskOnEverySlice) {
  const TokenGrid grid{8, 14, 14};
  const torch::Tensor mask = TubeMask(3, grid, 0.9, Seeded(1));
  ASSERT_EQ(mask.scalar_type(), torch::kBool);
  ASSERT_EQ(mask.sizes(), (std::vector<int64_t>{3, grid.size()}));
  const torch::Tensor slices = BySlice(mask, grid);
  EXPECT_TRUE((slices.sum(2) == 176).all().item<bool>());
  EXPECT_TRUE(torch::equal(slices, slices.narrow(1, 0, 1).expand_as(slices)));
  // Each clip of the batch draws its own mask.
  EXPECT_FALSE(torch::equal(slices[0], slices[1]));
}

TEST(MaskingTest, SeedsReproduceAndDiffer) {
  const TokenGrid grid{2, 7, 7};
  EXPECT_TRUE(torch::equal(TubeMask(2, grid, 0.75, Seeded(5)),
                           TubeMask(2, grid, 0.75, Seeded(5))));
  EXPECT_FALSE(torch::equal(TubeMask(2, grid, 0.75, Seeded(5)),
                            TubeMask(2, grid, 0.75, Seeded(6))));
  at::Generator generator = Seeded(5);
  const torch::Tensor first = TubeMask(2, grid, 0.75, generator);
  EXPECT_FALSE(torch::equal(first, TubeMask(2, grid, 0.75, generator)))
      << "a generator advances from one step's mask to the next";
}

TEST(MaskingTest, EveryPositionGetsMaskedAboutEquallyOften) {
  const TokenGrid grid{1, 4, 4};
  const torch::Tensor mask = TubeMask(4000, grid, 0.5, Seeded(2));
  const torch::Tensor rate = mask.to(torch::kFloat).mean(0);
  EXPECT_LT((rate - 0.5).abs().max().item<float>(), 0.05) << rate;
}

TEST(MaskingTest, RejectsRatiosThatMaskNothingOrEverything) {
  const TokenGrid grid{2, 2, 2};
  EXPECT_THROW(TubeMask(1, grid, 0.1, Seeded(1)), c10::Error);
  EXPECT_THROW(TubeMask(1, grid, 1.0, Seeded(1)), c10::Error);
}

}  // namespace
}  // namespace iv::model
