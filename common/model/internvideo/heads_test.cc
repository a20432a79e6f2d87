// The task heads inside InternVideoModel: parameter prefixes, chunked
// localization over long sequences, segment decoding with soft-NMS, and
// the VQA head's indifference to question padding, and heads that read
// CMA's coordinated tokens.
#include <gtest/gtest.h>

#include <cmath>

#include "absl/strings/match.h"
#include "common/model/internvideo/internvideo_model.h"
#include "google/protobuf/text_format.h"

namespace iv::model {
namespace {

InternVideoConfig TinyConfig() {
  internvideo::v1::ModelConfig proto;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        class_names: [ "a", "b", "c" ]
        masked_encoder {
          img_size: 32
          patch_size: 16
          num_frames: 4
          embed_dim: 32
          depth: 1
          num_heads: 2
        }
        multimodal_encoder {
          embed_dim: 32
          vision {
            input_resolution: 32
            patch_size: 16
            width: 32
            layers: 1
            heads: 2
            num_frames: 4
            global_branch { n_layers: 1 }
          }
          text {
            context_length: 12
            vocab_size: 600
            width: 32
            heads: 2
            layers: 1
          }
        }
        localization_head {
          width: 16
          layers: 1
          heads: 2
          max_sequence_length: 8
        }
        vqa_head {
          layers: 1
          answers: [ "red", "blue", "one", "two" ]
        }
      )pb",
      &proto));
  absl::StatusOr<InternVideoConfig> config = ResolveInternVideoConfig(proto);
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

TEST(HeadsTest, PrefixesAndDefaults) {
  const InternVideoConfig config = TinyConfig();
  ASSERT_TRUE(config.localization && config.vqa);
  // No CMA: the localization head reads the masked encoder's features.
  EXPECT_EQ(config.localization->feature_source,
            internvideo::v1::FEATURE_SOURCE_MASKED_ENCODER);
  EXPECT_EQ(config.localization->feature_dim, 32);
  EXPECT_DOUBLE_EQ(config.localization->stride_s, 1.0);  // window_s / 2
  EXPECT_EQ(config.vqa->video_features,
            internvideo::v1::FEATURE_SOURCE_MULTIMODAL_ENCODER);
  InternVideoModel model(config);
  int localization = 0, vqa = 0;
  for (const auto& item : model->named_parameters()) {
    localization += absl::StartsWith(item.key(), "localization_head.");
    vqa += absl::StartsWith(item.key(), "vqa_head.");
  }
  EXPECT_GT(localization, 0);
  EXPECT_GT(vqa, 0);
  EXPECT_EQ(InternVideoModelImpl::PartPrefix(
                internvideo::v1::MODEL_PART_LOCALIZATION_HEAD),
            "localization_head.");
}

TEST(HeadsTest, LongSequencesRunInChunks) {
  torch::manual_seed(1);
  InternVideoModel model(TinyConfig());
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor features = torch::randn({1, 20, 32});
  const LocalizationOutput whole =
      model->localization_head()->forward(features);
  EXPECT_EQ(whole.class_logits.sizes(), (std::vector<int64_t>{1, 20, 3}));
  EXPECT_EQ(whole.offsets.sizes(), (std::vector<int64_t>{1, 20, 2}));
  EXPECT_GE(whole.offsets.min().item<float>(), 0.0f);
  // The first chunk (8 windows) supplies windows 0..5.
  const LocalizationOutput first =
      model->localization_head()->forward(features.narrow(1, 0, 8));
  EXPECT_TRUE(torch::allclose(whole.class_logits.narrow(1, 0, 6),
                              first.class_logits.narrow(1, 0, 6)));
  // The last chunk (windows 12..19) supplies the tail.
  const LocalizationOutput last =
      model->localization_head()->forward(features.narrow(1, 12, 8));
  EXPECT_TRUE(torch::allclose(whole.offsets.narrow(1, 16, 4),
                              last.offsets.narrow(1, 4, 4)));
}

TEST(HeadsTest, DecodingAppliesSoftNms) {
  // Two windows (centres 2 and 3, stride 1) predicting class 1 with scores
  // sigmoid(2) and sigmoid(1): segments [1, 4] and [2, 4], IoU 2/3.
  torch::Tensor logits = torch::full({2, 2}, -10.0);
  logits[0][1] = 2.0;
  logits[1][1] = 1.0;
  const torch::Tensor offsets = torch::tensor({{1.0f, 2.0f}, {1.0f, 1.0f}});
  const std::vector<Segment> segments =
      DecodeSegments(logits, offsets, {2.0, 3.0}, 1.0, 10.0);
  ASSERT_EQ(segments.size(), 2u);
  const double s0 = 1 / (1 + std::exp(-2.0)), s1 = 1 / (1 + std::exp(-1.0));
  EXPECT_DOUBLE_EQ(segments[0].start_s, 1.0);
  EXPECT_DOUBLE_EQ(segments[0].end_s, 4.0);
  EXPECT_EQ(segments[0].label, 1);
  EXPECT_NEAR(segments[0].score, s0, 1e-6);
  EXPECT_DOUBLE_EQ(segments[1].start_s, 2.0);
  const double iou = 2.0 / 3.0;
  EXPECT_NEAR(segments[1].score, s1 * std::exp(-iou * iou / 0.5), 1e-6);
}

TEST(HeadsTest, VqaIgnoresQuestionPadding) {
  torch::manual_seed(2);
  InternVideoModel model(TinyConfig());
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor video = torch::randn({2, 3, 4, 32, 32});
  // Token rows: SOT, words, EOT (the largest id), then padding.
  const torch::Tensor short_questions =
      torch::tensor({{598, 5, 7, 599}, {598, 9, 599, 0}}, torch::kInt64);
  const torch::Tensor padded =
      torch::cat({short_questions, torch::zeros({2, 5}, torch::kInt64)}, 1);
  const torch::Tensor a = model->VqaLogits(video, video, short_questions);
  const torch::Tensor b = model->VqaLogits(video, video, padded);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{2, 4}));
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6));
  // The video matters.
  const torch::Tensor c =
      model->VqaLogits(video.flip(0), video.flip(0), short_questions);
  EXPECT_FALSE(torch::allclose(a, c));
}

// With CMA as their source, the VQA head and the caption decoder read
// CmaOutput::tokens: the top's class token, then the coordinated
// masked-encoder tokens, whose norms give CMA's own features.
TEST(HeadsTest, HeadsReadCmaTokens) {
  internvideo::v1::ModelConfig proto = TinyConfig().proto;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      "num_blocks: 1 width: 16 heads: 2", proto.mutable_cma()));
  proto.mutable_vqa_head()->set_video_features(
      internvideo::v1::FEATURE_SOURCE_CMA);
  internvideo::v1::CaptionDecoderConfig& decoder =
      *proto.mutable_multimodal_encoder()->mutable_caption_decoder();
  decoder.set_layers(1);
  decoder.set_max_length(8);
  decoder.set_video_features(internvideo::v1::FEATURE_SOURCE_CMA);
  const absl::StatusOr<InternVideoConfig> resolved =
      ResolveInternVideoConfig(proto);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  const InternVideoConfig& config = *resolved;
  ASSERT_TRUE(config.cma && config.vqa);
  EXPECT_EQ(config.vqa->video_dim, 16);
  EXPECT_EQ(config.caption_features, internvideo::v1::FEATURE_SOURCE_CMA);
  EXPECT_EQ(config.caption_vision_width, 16);
  torch::manual_seed(3);
  InternVideoModel model(config);
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor video = torch::randn({2, 3, 4, 32, 32});
  const CmaOutput cma = model->cma()->forward(
      model->masked_encoder()->Tokens(video),
      MultimodalContext(model->multimodal()->Visual(video)));
  // 4 frames of 32 px in tubelets of 2 and patches of 16: 8 tokens.
  ASSERT_EQ(cma.tokens.sizes(), (std::vector<int64_t>{2, 9, 16}));
  const auto params = model->named_parameters();
  const auto norm = [&](const torch::Tensor& x, const std::string& name) {
    return torch::layer_norm(x, {16}, params[name + ".weight"],
                             params[name + ".bias"], 1e-6);
  };
  EXPECT_TRUE(torch::allclose(norm(cma.tokens.select(1, 0), "cma.cls_norm"),
                              cma.cls_features, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(
      norm(cma.tokens.narrow(1, 1, 8).mean(1), "cma.pooled_norm"),
      cma.pooled_features, 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(model->CaptionVideoTokens(video, video),
                           cma.tokens.unsqueeze(1)));
  const torch::Tensor questions =
      torch::tensor({{598, 5, 599}, {598, 9, 599}}, torch::kInt64);
  EXPECT_EQ(model->VqaLogits(video, video, questions).sizes(),
            (std::vector<int64_t>{2, 4}));
  // The caption decoder pools CMA-wide tokens.
  EXPECT_EQ(model->caption_decoder()
                ->forward(model->CaptionVideoTokens(video, video),
                          model->multimodal()->TextTokens(questions))
                .sizes(),
            (std::vector<int64_t>{2, 3, 600}));
}

TEST(HeadsTest, CmaTokensNeedACma) {
  internvideo::v1::ModelConfig proto = TinyConfig().proto;
  internvideo::v1::CaptionDecoderConfig& decoder =
      *proto.mutable_multimodal_encoder()->mutable_caption_decoder();
  decoder.set_layers(1);
  decoder.set_max_length(8);
  decoder.set_video_features(internvideo::v1::FEATURE_SOURCE_CMA);
  const absl::StatusOr<InternVideoConfig> config =
      ResolveInternVideoConfig(proto);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(config.status().message(),
                                "caption_decoder.video_features"))
      << config.status();
}

}  // namespace
}  // namespace iv::model
