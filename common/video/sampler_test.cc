#include "common/video/sampler.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "common/process/command.h"

namespace iv::video {
namespace {

nlohmann::json Reference() {
  const process::CommandResult run = process::RunCommand(
      "/usr/bin/python3 common/video/testdata/sampler_reference.py");
  EXPECT_EQ(run.exit_code, 0);
  return nlohmann::json::parse(run.output);
}

TEST(SamplerTest, TestModeMatchesTheReferenceConventions) {
  nlohmann::json reference = Reference();
  for (const nlohmann::json& c : reference["uniform"]) {
    EXPECT_EQ(nlohmann::json(UniformIndices(c[0], c[1], SampleMode::kTest)),
              c[2])
        << c;
  }
  for (const nlohmann::json& c : reference["dense"]) {
    EXPECT_EQ(
        nlohmann::json(DenseClips(c[0], c[1], c[2], c[3], SampleMode::kTest)),
        c[4])
        << c;
  }
  for (const nlohmann::json& c : reference["windows"]) {
    absl::StatusOr<std::vector<Window>> windows =
        SlidingWindows(c["times"].get<std::vector<double>>(), c["duration"],
                       c["window"], c["stride"], c["per_window"],
                       /*max_windows=*/1000);
    ASSERT_TRUE(windows.ok()) << windows.status();
    ASSERT_EQ(windows->size(), c["expected"].size());
    for (size_t i = 0; i < windows->size(); ++i) {
      const nlohmann::json& expected = c["expected"][i];
      EXPECT_NEAR((*windows)[i].start_s, expected["start"].get<double>(), 1e-9);
      EXPECT_NEAR((*windows)[i].end_s, expected["end"].get<double>(), 1e-9);
      EXPECT_EQ(nlohmann::json((*windows)[i].frame_indices), expected["frames"])
          << "window " << i;
    }
  }
}

// Values of numpy 1.24's np.linspace(0, n - 1, t).astype(np.intc).
TEST(SamplerTest, LinspaceMatchesNumpy) {
  using Indices = std::vector<int64_t>;
  EXPECT_EQ(LinspaceIndices(300, 8),
            (Indices{0, 42, 85, 128, 170, 213, 256, 299}));
  EXPECT_EQ(LinspaceIndices(7, 8), (Indices{0, 0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(LinspaceIndices(1, 8), (Indices{0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(LinspaceIndices(100, 16), (Indices{0, 6, 13, 19, 26, 33, 39, 46, 52,
                                               59, 66, 72, 79, 85, 92, 99}));
  EXPECT_EQ(LinspaceIndices(49, 7), (Indices{0, 8, 16, 24, 32, 40, 48}));
  EXPECT_EQ(
      LinspaceIndices(1000003, 8),
      (Indices{0, 142857, 285714, 428572, 571429, 714287, 857144, 1000002}));
  EXPECT_TRUE(LinspaceIndices(0, 8).empty());
}

TEST(SamplerTest, TrainingDrawsOneFrameFromEachSegment) {
  std::mt19937_64 rng(1), same(1);
  std::set<int64_t> seen;
  for (int draw = 0; draw < 100; ++draw) {
    std::vector<int64_t> indices =
        UniformIndices(64, 8, SampleMode::kTrain, &rng);
    ASSERT_EQ(indices.size(), 8);
    for (int k = 0; k < 8; ++k) {
      EXPECT_GE(indices[k], 8 * k);
      EXPECT_LT(indices[k], 8 * (k + 1));
    }
    EXPECT_EQ(indices, UniformIndices(64, 8, SampleMode::kTrain, &same));
    seen.insert(indices[0]);
  }
  EXPECT_EQ(seen.size(), 8) << "every offset of the first segment is drawn";
}

TEST(SamplerTest, TrainingDenseClipsStayInsideAndKeepTheirStride) {
  std::mt19937_64 rng(3);
  for (int draw = 0; draw < 50; ++draw) {
    auto clips = DenseClips(100, 8, 4, 3, SampleMode::kTrain, &rng);
    ASSERT_EQ(clips.size(), 3);
    for (const auto& clip : clips) {
      for (size_t j = 1; j < clip.size(); ++j) {
        EXPECT_EQ(clip[j] - clip[j - 1], 4);
      }
      EXPECT_LT(clip.back(), 100);
    }
  }
  // Too short a video repeats its last frame instead of looping.
  auto short_clip = DenseClips(10, 8, 4, 1, SampleMode::kTrain, &rng)[0];
  EXPECT_EQ(short_clip.back(), 9);
  EXPECT_TRUE(std::is_sorted(short_clip.begin(), short_clip.end()));
}

TEST(SamplerTest, SlidingWindowsRejectBadArguments) {
  std::vector<double> times;
  for (int i = 0; i < 24; ++i) times.push_back(i / 16.0);
  auto too_short = SlidingWindows(times, 1.5, 2.0, 1.0, 8, 100);
  EXPECT_EQ(too_short.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_short.status().message().find("shorter than one window"),
            std::string::npos);
  EXPECT_FALSE(SlidingWindows(times, 1.5, 0, 1.0, 8, 100).ok());
  EXPECT_FALSE(SlidingWindows(times, 1.5, 1.0, 2.0, 8, 100).ok());
  EXPECT_FALSE(SlidingWindows(times, 1.5, 1.0, 0.5, 0, 100).ok());
  EXPECT_FALSE(SlidingWindows({}, 1.5, 1.0, 0.5, 4, 100).ok());
}

TEST(SamplerTest, SlidingWindowsAreCountedBeforeTheyAreMade) {
  // Two frames whose timestamps claim 1e9 s, at a 1e-9 s stride: 1e18
  // windows, refused without building them (this would not finish).
  auto absurd = SlidingWindows({0.0, 1e9}, 1e9, 1e-9, 1e-9, 8, 4096);
  EXPECT_EQ(absurd.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(absurd.status().message().find("stride_s"), std::string::npos)
      << absurd.status();
  EXPECT_NE(absurd.status().message().find("limit of 4096"), std::string::npos)
      << absurd.status();
  auto long_video = SlidingWindows({0.0, 1e9}, 1e9, 2.0, 1.0, 8, 4096);
  EXPECT_EQ(long_video.status().code(), absl::StatusCode::kResourceExhausted);

  // 10 s, 2 s windows every 1 s: 9 windows; the limit is inclusive.
  std::vector<double> times;
  for (int i = 0; i < 100; ++i) times.push_back(i / 10.0);
  auto nine = SlidingWindows(times, 10.0, 2.0, 1.0, 4, 9);
  ASSERT_TRUE(nine.ok()) << nine.status();
  EXPECT_EQ(nine->size(), 9);
  EXPECT_EQ(SlidingWindows(times, 10.0, 2.0, 1.0, 4, 8).status().code(),
            absl::StatusCode::kResourceExhausted);
  // 10.5 s: 9 regular windows and the tail one make 10.
  EXPECT_EQ(SlidingWindows(times, 10.5, 2.0, 1.0, 4, 9).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(SlidingWindows(times, 10.5, 2.0, 1.0, 4, 10)->size(), 10);
}

TEST(SamplerTest, PlanFramesDecodesEachFrameOnce) {
  const FramePlan plan = PlanFrames({{4, 6, 8}, {8, 8, 9}, {0}});
  EXPECT_EQ(plan.frames, (std::vector<int64_t>{0, 4, 6, 8, 9}));
  EXPECT_EQ(plan.rows,
            (std::vector<std::vector<int64_t>>{{1, 2, 3}, {3, 3, 4}, {0}}));
}

}  // namespace
}  // namespace iv::video
