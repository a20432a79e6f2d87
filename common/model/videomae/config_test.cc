#include "common/model/videomae/config.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <string>

namespace iv::model {
namespace {

using internvideo::v1::MaskedVideoEncoderConfig;

MaskedVideoEncoderConfig Parse(const std::string& text) {
  MaskedVideoEncoderConfig proto;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &proto))
      << text;
  return proto;
}

absl::StatusOr<VideoMaeConfig> Resolve(const std::string& text,
                                       int num_class_names = 0) {
  return ResolveVideoMaeConfig(Parse(text), num_class_names);
}

std::string ErrorOf(const std::string& text, int num_class_names = 0) {
  absl::StatusOr<VideoMaeConfig> config = Resolve(text, num_class_names);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << text;
  return std::string(config.status().message());
}

TEST(ConfigTest, PresetsHaveTheOfficialSizes) {
  struct Expected {
    const char* preset;
    int64_t dim, depth, heads, decoder_dim, decoder_heads;
  };
  for (const Expected& e :
       {Expected{"tiny", 192, 6, 3, 96, 3}, Expected{"s16", 384, 12, 6, 192, 3},
        Expected{"b16", 768, 12, 12, 384, 6},
        Expected{"l16", 1024, 24, 16, 512, 8},
        Expected{"h16", 1280, 32, 16, 640, 8}}) {
    absl::StatusOr<VideoMaeConfig> c =
        Resolve(std::string("preset: \"") + e.preset + "\" decoder {}");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->embed_dim, e.dim) << e.preset;
    EXPECT_EQ(c->depth, e.depth) << e.preset;
    EXPECT_EQ(c->num_heads, e.heads) << e.preset;
    EXPECT_EQ(c->img_size, 224);
    EXPECT_EQ(c->patch_size, 16);
    EXPECT_EQ(c->num_frames, 16);
    EXPECT_EQ(c->tubelet_size, 2);
    EXPECT_EQ(c->mlp_ratio, 4.0);
    EXPECT_TRUE(c->qkv_bias);
    EXPECT_TRUE(c->use_mean_pooling);
    EXPECT_EQ(c->init_values, 0.0);
    EXPECT_EQ(c->num_classes, 0);
    ASSERT_TRUE(c->decoder.has_value());
    EXPECT_EQ(c->decoder->embed_dim, e.decoder_dim) << e.preset;
    EXPECT_EQ(c->decoder->num_heads, e.decoder_heads) << e.preset;
    EXPECT_EQ(c->decoder->depth, 4);
    EXPECT_DOUBLE_EQ(c->decoder->mask_ratio, 0.9);
    EXPECT_TRUE(c->decoder->normalize_target);
  }
}

TEST(ConfigTest, ExplicitFieldsOverrideThePreset) {
  absl::StatusOr<VideoMaeConfig> c = Resolve(
      "preset: 'tiny' img_size: 112 num_frames: 8 depth: 2 qkv_bias: false "
      "use_mean_pooling: false init_values: 0.1 drop_path_rate: 0.1 "
      "normalization: PIXEL_NORMALIZATION_CLIP "
      "decoder { decoder_depth: 2 mask_ratio: 0.75 normalize_target: false }");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->img_size, 112);
  EXPECT_EQ(c->num_frames, 8);
  EXPECT_EQ(c->embed_dim, 192);
  EXPECT_EQ(c->depth, 2);
  EXPECT_FALSE(c->qkv_bias);
  EXPECT_FALSE(c->use_mean_pooling);
  EXPECT_FLOAT_EQ(c->init_values, 0.1);
  EXPECT_FLOAT_EQ(c->drop_path_rate, 0.1);
  EXPECT_EQ(c->normalization.mean, video::kClipNormalization.mean);
  EXPECT_EQ(c->decoder->depth, 2);
  EXPECT_FLOAT_EQ(c->decoder->mask_ratio, 0.75);
  EXPECT_FALSE(c->decoder->normalize_target);
}

TEST(ConfigTest, ClassesComeFromClassNamesUnlessSet) {
  EXPECT_EQ(Resolve("preset: 'tiny'", 10)->num_classes, 10);
  EXPECT_EQ(Resolve("preset: 'tiny' num_classes: 10", 10)->num_classes, 10);
  EXPECT_EQ(Resolve("preset: 'tiny' num_classes: 400")->num_classes, 400);
  EXPECT_EQ(ErrorOf("preset: 'tiny' num_classes: 5", 10),
            "masked_encoder.num_classes: 5, but class_names has 10 entries");
}

TEST(ConfigTest, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf("preset: 'b16' num_heads: 7"),
            "masked_encoder.num_heads: 768 is not divisible by 7");
  EXPECT_EQ(ErrorOf("preset: 'b32'"),
            "masked_encoder.preset: unknown preset \"b32\" (known: tiny, s16, "
            "b16, l16, h16)");
  EXPECT_EQ(ErrorOf("depth: 2 num_heads: 2"),
            "masked_encoder.embed_dim: required without a preset");
  EXPECT_EQ(ErrorOf("preset: 'tiny' img_size: 100"),
            "masked_encoder.img_size: 100 is not divisible by patch_size 16");
  EXPECT_EQ(ErrorOf("preset: 'tiny' num_frames: 5"),
            "masked_encoder.num_frames: 5 is not divisible by tubelet_size 2");
  EXPECT_EQ(ErrorOf("preset: 'tiny' conv_stem_channels: [ 16, 32, 64 ]"),
            "masked_encoder.conv_stem_channels: 3 layers halve a frame to a "
            "grid of 16-pixel patches only if 2^layers = patch_size 16");
  EXPECT_EQ(ErrorOf("preset: 'tiny' patch_size: 4 img_size: 64 "
                    "conv_stem_channels: [ 16, 30 ]"),
            "masked_encoder.conv_stem_channels: 30 is not a positive "
            "multiple of 4");
  EXPECT_EQ(Resolve("preset: 'tiny' patch_size: 8 img_size: 64 "
                    "conv_stem_channels: [ 16, 32, 64 ]")
                ->conv_stem_channels,
            (std::vector<int64_t>{16, 32, 64}));
  EXPECT_EQ(ErrorOf("preset: 'tiny' depth: -1"),
            "masked_encoder.depth: -1 is negative");
  EXPECT_EQ(ErrorOf("preset: 'tiny' drop_path_rate: 1"),
            "masked_encoder.drop_path_rate: 1 is not in [0, 1)");
  EXPECT_EQ(ErrorOf("preset: 'tiny' sampling { num_frames: 8 }"),
            "masked_encoder.sampling.num_frames: 8 differs from num_frames 16");
  EXPECT_EQ(ErrorOf("preset: 'tiny' decoder { decoder_num_heads: 5 }"),
            "masked_encoder.decoder.decoder_num_heads: 96 is not divisible "
            "by 5");
  EXPECT_EQ(ErrorOf("embed_dim: 64 depth: 1 num_heads: 1 decoder {}"),
            "masked_encoder.decoder.decoder_embed_dim: required without a "
            "preset");
  EXPECT_EQ(ErrorOf("preset: 'tiny' img_size: 32 decoder { mask_ratio: 0.2 "
                    "}"),
            "masked_encoder.decoder.mask_ratio: 0.2 masks 0 of 4 tokens per "
            "frame; at least one must be masked and one visible");
}

}  // namespace
}  // namespace iv::model
