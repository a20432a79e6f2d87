// The tiny checkpoints load back as a service loads a trained model, with
// every part their config promises and outputs of the promised shapes.
#include "common/model/internvideo/testing/tiny_checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "common/model/internvideo/internvideo_checkpoint.h"
#include "common/synthworld/vocabulary.h"
#include "common/testing/temp_dir.h"

namespace iv::model::testing {
namespace {

LoadedInternVideo WriteAndLoad(const std::string& name, uint64_t seed,
                               const internvideo::v1::ModelConfig& config) {
  const std::string dir = test::FreshTempDir(name);
  const absl::Status written = WriteTinyCheckpoint(dir, seed, config);
  EXPECT_TRUE(written.ok()) << written;
  absl::StatusOr<LoadedInternVideo> loaded = LoadInternVideo(dir);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return std::move(*loaded);
}

TEST(TinyCheckpointTest, TaskModelHasEveryPart) {
  LoadedInternVideo loaded = WriteAndLoad("task", 1, TinyTaskModelConfig());
  ASSERT_TRUE(loaded.model);
  InternVideoModelImpl& model = *loaded.model;
  EXPECT_NE(loaded.tokenizer, nullptr);
  EXPECT_FALSE(model.masked_encoder().is_empty());
  EXPECT_FALSE(model.multimodal().is_empty());
  EXPECT_FALSE(model.caption_decoder().is_empty());
  EXPECT_FALSE(model.cma().is_empty());
  EXPECT_FALSE(model.localization_head().is_empty());
  EXPECT_FALSE(model.vqa_head().is_empty());
  EXPECT_TRUE(model.EmbedsThroughCma());

  const InternVideoConfig& config = model.config();
  ASSERT_TRUE(config.localization && config.vqa);
  EXPECT_DOUBLE_EQ(config.localization->window_s, 1.0);
  EXPECT_DOUBLE_EQ(config.localization->stride_s, 0.25);
  ASSERT_EQ(config.proto.vqa_head().answers_size(), synthworld::kNumAnswers);
  for (int i = 0; i < synthworld::kNumAnswers; ++i) {
    EXPECT_EQ(config.proto.vqa_head().answers(i), synthworld::Answers()[i]);
  }
  ASSERT_EQ(config.proto.class_names_size(), synthworld::kNumActions);
  EXPECT_EQ(config.proto.class_names(0), "move_left");

  // One random clip per encoder through every head.
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  const torch::Tensor clips = torch::randn({2, 3, 4, 32, 32});
  EXPECT_EQ(model.RecognitionLogits(clips, clips).sizes(),
            (std::vector<int64_t>{2, synthworld::kNumActions}));
  EXPECT_EQ(model.VideoEmbeds(clips, clips).sizes(),
            (std::vector<int64_t>{2, 32}));
  const torch::Tensor question =
      loaded.tokenizer->Tokenize({"what color is it", "how many"}, 16);
  EXPECT_EQ(model.VqaLogits(clips, clips, question).sizes(),
            (std::vector<int64_t>{2, synthworld::kNumAnswers}));
  EXPECT_EQ(model.CaptionVideoTokens(clips, clips).size(0), 2);
}

TEST(TinyCheckpointTest, PlainModelHasNoTaskParts) {
  LoadedInternVideo loaded = WriteAndLoad("plain", 1, TinyModelConfig());
  ASSERT_TRUE(loaded.model);
  EXPECT_FALSE(loaded.model->multimodal().is_empty());
  EXPECT_TRUE(loaded.model->masked_encoder().is_empty());
  EXPECT_TRUE(loaded.model->cma().is_empty());
  EXPECT_TRUE(loaded.model->localization_head().is_empty());
  EXPECT_TRUE(loaded.model->vqa_head().is_empty());
}

TEST(TinyCheckpointTest, SeedsGiveDifferentWeights) {
  LoadedInternVideo one = WriteAndLoad("seed1", 1, TinyTaskModelConfig());
  LoadedInternVideo two = WriteAndLoad("seed2", 2, TinyTaskModelConfig());
  ASSERT_TRUE(one.model && two.model);
  const auto first = one.model->named_parameters();
  const auto second = two.model->named_parameters();
  ASSERT_EQ(first.size(), second.size());
  for (const char* name : {"vqa_head.", "localization_head.", "cma."}) {
    bool differs = false;
    for (const auto& item : first) {
      if (item.key().rfind(name, 0) == 0 && item.value().numel() > 1 &&
          !torch::equal(item.value(), second[item.key()])) {
        differs = true;
      }
    }
    EXPECT_TRUE(differs) << name;
  }
}

}  // namespace
}  // namespace iv::model::testing
