#include "common/model/arch/arch.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "common/model/videomae/config.h"
#include "common/model/videomae/vision_transformer.h"

namespace iv::model {
namespace {

TEST(ArchTest, UnknownArchListsTheKnownOnes) {
  absl::StatusOr<const Arch*> arch = FindArch("videomae-vit-x99");
  ASSERT_FALSE(arch.ok());
  for (const char* known :
       {"videomae-vit-b16", "videomae-vit-b16-pretrain", "videomae-vit-l16",
        "videomae-vit-h16", "internvideo-mm-b16", "internvideo-mm-l14"}) {
    EXPECT_TRUE(absl::StrContains(arch.status().message(), known))
        << arch.status();
    EXPECT_TRUE(FindArch(known).ok()) << known;
  }
}

// The real ViT-B/16 (Kinetics-400 head): its weights alone give back the
// preset's dims and heads, and the official parameter count.
TEST(ArchTest, InfersViTB16FromItsWeights) {
  internvideo::v1::MaskedVideoEncoderConfig proto;
  proto.set_preset("b16");
  proto.set_num_classes(400);
  VisionTransformer model(*ResolveVideoMaeConfig(proto));
  const NamedTensors weights = StateDict(*model);

  const Arch& b16 = **FindArch("videomae-vit-b16");
  EXPECT_TRUE(b16.Matches(weights));
  EXPECT_FALSE((*FindArch("videomae-vit-l16"))->Matches(weights));
  EXPECT_FALSE((*FindArch("videomae-vit-b16-pretrain"))->Matches(weights));
  EXPECT_FALSE((*FindArch("internvideo-mm-b16"))->Matches(weights));
  absl::StatusOr<internvideo::v1::ModelConfig> config =
      b16.InferConfig(weights);
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<VideoMaeConfig> resolved =
      ResolveVideoMaeConfig(config->masked_encoder());
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->embed_dim, 768);
  EXPECT_EQ(resolved->depth, 12);
  EXPECT_EQ(resolved->num_heads, 12);
  EXPECT_EQ(resolved->num_classes, 400);
  EXPECT_TRUE(resolved->use_mean_pooling);
  EXPECT_EQ(resolved->init_values, 0.0);

  absl::StatusOr<std::unique_ptr<LoadedModel>> loaded =
      b16.Load(*config, weights);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->ParameterCount(), 86534800);
}

}  // namespace
}  // namespace iv::model
