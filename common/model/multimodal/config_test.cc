#include "common/model/multimodal/config.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace iv::model {
namespace {

using internvideo::v1::MultimodalEncoderConfig;

absl::StatusOr<MultimodalConfig> Resolve(const std::string& text) {
  MultimodalEncoderConfig proto;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &proto));
  return ResolveMultimodalConfig(proto);
}

TEST(MultimodalConfigTest, B16PresetHasOfficialSizes) {
  absl::StatusOr<MultimodalConfig> config = Resolve(R"pb(preset: "b16")pb");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->embed_dim, 512);
  EXPECT_EQ(config->vision.patch_size, 16);
  EXPECT_EQ(config->vision.width, 768);
  EXPECT_EQ(config->vision.layers, 12);
  EXPECT_EQ(config->vision.heads, 12);
  EXPECT_EQ(config->vision.input_resolution, 224);
  EXPECT_EQ(config->vision.num_frames, 8);
  EXPECT_EQ(config->text.width, 512);
  EXPECT_EQ(config->text.heads, 8);
  EXPECT_EQ(config->text.layers, 12);
  EXPECT_EQ(config->text.context_length, 77);
  EXPECT_EQ(config->text.vocab_size, 49408);
  // InternVideo-MM's b16 global branch: the last 4 layers, vision heads.
  EXPECT_EQ(config->vision.global_branch.return_list,
            (std::vector<int64_t>{8, 9, 10, 11}));
  EXPECT_EQ(config->vision.global_branch.n_head, 12);
  EXPECT_EQ(config->vision.global_branch.mlp_factor, 4.0);
  EXPECT_FALSE(config->caption_decoder.has_value());
}

TEST(MultimodalConfigTest, CaptionDecoderDefaultsFollowTextEncoder) {
  absl::StatusOr<MultimodalConfig> config =
      Resolve(R"pb(preset: "b16"
                   caption_decoder {})pb");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->caption_decoder.has_value());
  EXPECT_EQ(config->caption_decoder->layers, 4);
  EXPECT_EQ(config->caption_decoder->width, 512);
  EXPECT_EQ(config->caption_decoder->heads, 8);
  EXPECT_EQ(config->caption_decoder->max_length, 32);
  EXPECT_EQ(config->caption_decoder->num_visual_queries, 256);
}

TEST(MultimodalConfigTest, L14PresetHasOfficialSizes) {
  absl::StatusOr<MultimodalConfig> config = Resolve(R"pb(preset: "l14")pb");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->embed_dim, 768);
  EXPECT_EQ(config->vision.patch_size, 14);
  EXPECT_EQ(config->vision.width, 1024);
  EXPECT_EQ(config->vision.layers, 24);
  EXPECT_EQ(config->vision.global_branch.return_list,
            (std::vector<int64_t>{20, 21, 22, 23}));
  EXPECT_EQ(config->text.width, 768);
}

TEST(MultimodalConfigTest, ExplicitDimensionsOverridePreset) {
  absl::StatusOr<MultimodalConfig> config = Resolve(R"pb(
    preset: "tiny"
    vision {
      layers: 3
      global_branch {
        n_layers: 2
        return_list: [ 0, 2 ]
      }
    }
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->vision.layers, 3);
  EXPECT_EQ(config->vision.global_branch.return_list,
            (std::vector<int64_t>{0, 2}));
}

TEST(MultimodalConfigTest, ConvStemReplacesConv1) {
  absl::StatusOr<MultimodalConfig> config = Resolve(R"pb(
    preset: "tiny"
    vision {
      patch_size: 8
      conv_stem_channels: [ 8, 12, 16 ]
    }
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->vision.conv_stem_channels,
            (std::vector<int64_t>{8, 12, 16}));
}

TEST(MultimodalConfigTest, RejectsBadConfigs) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"pb(preset: "xl")pb", "multimodal_encoder.preset"},
      {R"pb(vision { width: 32 })pb", "multimodal_encoder.embed_dim"},
      {R"pb(preset: "b16"
            vision { heads: 7 })pb",
       "multimodal_encoder.vision.heads"},
      {R"pb(preset: "b16"
            vision { input_resolution: 100 })pb",
       "multimodal_encoder.vision.input_resolution"},
      {R"pb(preset: "b16"
            vision { output_dim: 100 })pb",
       "multimodal_encoder.vision.output_dim"},
      // Patch 16 needs 4 stride-2 layers, each a multiple of 4 channels.
      {R"pb(preset: "b16"
            vision { conv_stem_channels: [ 16, 32, 64 ] })pb",
       "multimodal_encoder.vision.conv_stem_channels"},
      {R"pb(preset: "b16"
            vision { conv_stem_channels: [ 16, 32, 48, 62 ] })pb",
       "multimodal_encoder.vision.conv_stem_channels"},
      {R"pb(preset: "l14"
            vision { conv_stem_channels: [ 16, 32, 48, 64 ] })pb",
       "multimodal_encoder.vision.conv_stem_channels"},
      {R"pb(preset: "b16"
            vision { global_branch { n_dim: 512 } })pb",
       "multimodal_encoder.vision.global_branch.n_dim"},
      {R"pb(preset: "b16"
            vision {
              global_branch {
                n_layers: 2
                return_list: [ 3 ]
              }
            })pb",
       "multimodal_encoder.vision.global_branch.return_list"},
      {R"pb(preset: "b16"
            vision {
              global_branch {
                n_layers: 2
                return_list: [ 5, 3 ]
              }
            })pb",
       "multimodal_encoder.vision.global_branch.return_list"},
      {R"pb(preset: "b16"
            vision { global_branch { n_layers: 13 } })pb",
       "multimodal_encoder.vision.global_branch.n_layers"},
      {R"pb(preset: "b16"
            text { heads: 5 })pb",
       "multimodal_encoder.text.heads"},
  };
  for (const auto& [text, field] : cases) {
    absl::StatusOr<MultimodalConfig> config = Resolve(text);
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(config.status().message().find(field), std::string::npos)
        << config.status();
  }
}

}  // namespace
}  // namespace iv::model
