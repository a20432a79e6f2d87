#include "common/data/clip_loader.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/data/recognition_samples.h"
#include "common/video/decoder.h"
#include "common/video/sampler.h"

namespace iv::data {
namespace {

constexpr int kClipFrames = 24;

// Clips whose frame n is dark on the left and bright on the right, both
// levels moving with n, so a decoded frame tells its index and whether it
// was mirrored. Lossless H.264 keeps the levels exact.
class ClipLoaderTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (int i = 0; i < 6; ++i) {
      std::string path = absl::StrCat(testing::TempDir(), "/clip", i, ".mp4");
      std::string command =
          absl::StrCat("ffmpeg -v error -y -f lavfi -i \"nullsrc=s=48x32:r=16,",
                       "geq=lum='if(lt(X,W/2),16+4*N+", i, ",200-4*N-", i,
                       ")':cb=128:cr=128\" -frames:v ", kClipFrames,
                       " -c:v libx264 -qp 0 -pix_fmt yuv420p ", path);
      ASSERT_EQ(std::system(command.c_str()), 0) << command;
      paths_.push_back(path);
    }
  }

  static std::vector<ClipSample> Samples() {
    std::vector<ClipSample> samples;
    for (int i = 0; i < static_cast<int>(paths_.size()); ++i) {
      samples.push_back({paths_[i], 100 + i, 200 + i});
    }
    return samples;
  }

  static ClipLoaderOptions Options() {
    ClipLoaderOptions options;
    options.clip.num_frames = 4;
    options.clip.short_side = 32;
    options.clip.crop_size = 32;
    options.batch_size = 4;
    options.clip.normalization = {{0, 0, 0}, {1, 1, 1}};  // keep [0, 1] levels
    return options;
  }

  // Mean brightness of the left half of each frame of a [3, T, H, W] clip.
  static std::vector<float> LeftLevels(const torch::Tensor& clip) {
    torch::Tensor left = clip.narrow(3, 0, clip.size(3) / 2);
    torch::Tensor means = left.mean({0, 2, 3});
    return std::vector<float>(means.data_ptr<float>(),
                              means.data_ptr<float>() + means.numel());
  }

  static std::vector<std::string> paths_;
};

std::vector<std::string> ClipLoaderTest::paths_;

std::vector<std::vector<int64_t>> Epoch(ClipLoader& loader, int epoch) {
  loader.StartEpoch(epoch);
  std::vector<std::vector<int64_t>> ids;
  while (true) {
    auto batch = loader.Next();
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok() || !batch->has_value()) break;
    ids.push_back((*batch)->sample_ids);
  }
  return ids;
}

TEST_F(ClipLoaderTest, TestModeBatchesInOrderWithTheSampledFrames) {
  auto loader = ClipLoader::Create(Samples(), Options());
  ASSERT_TRUE(loader.ok()) << loader.status();
  EXPECT_EQ((*loader)->batches_per_epoch(), 2);
  auto first = (*loader)->Next();
  ASSERT_TRUE(first.ok() && first->has_value());
  const ClipBatch& batch = **first;
  EXPECT_EQ(batch.video.sizes(), (std::vector<int64_t>{4, 3, 4, 32, 32}));
  EXPECT_EQ(batch.sample_ids, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_TRUE(torch::equal(batch.labels,
                           torch::tensor({100, 101, 102, 103}, torch::kInt64)));
  // The frames are the centred uniform samples: their left levels are those
  // of the decoder's frames at exactly those indices.
  auto decoder = video::VideoDecoder::Open(paths_[2]);
  ASSERT_TRUE(decoder.ok());
  std::vector<int64_t> indices =
      video::UniformIndices(kClipFrames, 4, video::SampleMode::kTest);
  auto frames = (*decoder)->DecodeFrames(indices);
  ASSERT_TRUE(frames.ok());
  torch::Tensor expected = video::ToFloatClip(*frames).narrow(3, 8, 32);
  EXPECT_LT((batch.video[2] - expected).abs().max().item<float>(), 1e-6);
  std::vector<float> levels = LeftLevels(batch.video[2]);
  EXPECT_TRUE(std::is_sorted(levels.begin(), levels.end()))
      << "frames come in time order";

  auto second = (*loader)->Next();
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ((*second)->sample_ids, (std::vector<int64_t>{4, 5}));
  auto end = (*loader)->Next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
}

TEST_F(ClipLoaderTest, TrainingIsDeterministicAcrossWorkerCounts) {
  ClipLoaderOptions options = Options();
  options.train = true;
  options.flip = true;
  options.batch_size = 2;
  options.seed = 42;
  auto one = ClipLoader::Create(Samples(), options);
  options.workers = 1;
  auto other = ClipLoader::Create(Samples(), options);
  ASSERT_TRUE(one.ok() && other.ok());
  for (int epoch : {0, 1}) {
    (*one)->StartEpoch(epoch);
    (*other)->StartEpoch(epoch);
    std::set<int64_t> seen;
    for (int b = 0; b < (*one)->batches_per_epoch(); ++b) {
      auto x = (*one)->Next();
      auto y = (*other)->Next();
      ASSERT_TRUE(x.ok() && y.ok() && x->has_value() && y->has_value());
      EXPECT_EQ((*x)->sample_ids, (*y)->sample_ids);
      EXPECT_TRUE(torch::equal((*x)->video, (*y)->video));
      EXPECT_TRUE(torch::equal((*x)->labels, (*y)->labels));
      seen.insert((*x)->sample_ids.begin(), (*x)->sample_ids.end());
    }
    EXPECT_EQ(seen.size(), 6) << "every sample once per epoch";
  }
  EXPECT_NE(Epoch(**one, 0), Epoch(**one, 1)) << "epochs are reshuffled";
  EXPECT_EQ(Epoch(**one, 3), Epoch(**other, 3));
}

TEST_F(ClipLoaderTest, MirroredSamplesCarryTheirMirroredLabel) {
  ClipLoaderOptions options = Options();
  options.train = true;
  options.flip = true;
  auto loader = ClipLoader::Create(Samples(), options);
  ASSERT_TRUE(loader.ok());
  int flipped = 0, kept = 0;
  for (int epoch = 0; epoch < 8; ++epoch) {
    for (int64_t id = 0; id < 6; ++id) {
      auto sample = (*loader)->LoadSample(id, epoch);
      ASSERT_TRUE(sample.ok()) << sample.status();
      const torch::Tensor& clip = sample->first;
      // Unmirrored, the left half is the dark one.
      bool mirrored = clip.narrow(3, 0, 16).mean().item<float>() >
                      clip.narrow(3, 16, 16).mean().item<float>();
      EXPECT_EQ(sample->second, mirrored ? 200 + id : 100 + id);
      (mirrored ? flipped : kept)++;
    }
  }
  EXPECT_GT(flipped, 8);
  EXPECT_GT(kept, 8);
}

TEST_F(ClipLoaderTest, RanksShareNoSampleAndCoverAll) {
  ClipLoaderOptions options = Options();
  options.train = true;
  options.batch_size = 1;
  options.world_size = 4;  // 6 samples padded to 8
  std::multiset<int64_t> all;
  for (int rank = 0; rank < 4; ++rank) {
    options.rank = rank;
    auto loader = ClipLoader::Create(Samples(), options);
    ASSERT_TRUE(loader.ok());
    EXPECT_EQ((*loader)->samples_per_rank(), 2);
    for (const auto& batch : Epoch(**loader, 5)) {
      all.insert(batch.begin(), batch.end());
    }
  }
  EXPECT_EQ(all.size(), 8);
  for (int64_t id = 0; id < 6; ++id) EXPECT_GE(all.count(id), 1) << id;
}

TEST_F(ClipLoaderTest, ErrorsNameTheProblem) {
  std::vector<ClipSample> samples = Samples();
  samples[1].path = testing::TempDir() + "/missing.mp4";
  auto loader = ClipLoader::Create(samples, Options());
  ASSERT_TRUE(loader.ok());
  auto batch = (*loader)->Next();
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(batch.status().message().find("missing.mp4"), std::string::npos);

  ClipLoaderOptions bad = Options();
  bad.rank = 3;
  EXPECT_EQ(ClipLoader::Create(Samples(), bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = Options();
  bad.clip.three_crop = true;
  EXPECT_EQ(ClipLoader::Create(Samples(), bad).status().message().substr(0, 6),
            "clip: ");
  EXPECT_EQ(ClipLoader::Create({}, Options()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RecognitionSamplesTest, MirroredActionsTakeTheirMirrorsId) {
  auto clip = [](const std::string& action, int id) {
    TrimmedClip clip;
    clip.path = absl::StrCat("/", action, ".mp4");
    clip.action = action;
    clip.action_id = id;
    return clip;
  };
  const std::map<std::string, std::string> mirrored = {
      {"left", "right"}, {"right", "left"}, {"clockwise", "anticlockwise"}};
  // Ids as the clips give them, whatever their order in a class list.
  const std::vector<ClipSample> samples = RecognitionSamples(
      {clip("left", 7), clip("right", 3), clip("up", 5), clip("clockwise", 1)},
      mirrored);
  ASSERT_EQ(samples.size(), 4);
  EXPECT_EQ(samples[0].path, "/left.mp4");
  EXPECT_EQ(samples[0].label, 7);
  EXPECT_EQ(samples[0].flipped_label, 3);
  EXPECT_EQ(samples[1].flipped_label, 7);
  EXPECT_EQ(samples[2].flipped_label, 5);   // a mirror leaves "up" alone
  EXPECT_EQ(samples[3].flipped_label, -1);  // its mirror is not in the data
  // Without a map nothing changes meaning in a mirror.
  EXPECT_EQ(RecognitionSamples({clip("left", 7)})[0].flipped_label, 7);
}

}  // namespace
}  // namespace iv::data
