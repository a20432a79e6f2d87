// Checks cross-model attention against testdata/cma_reference.py, an
// independent float64 PyTorch reference run on the same random weights and
// token inputs: logits and every parameter gradient within 1e-4 relative L2
// error in fp32, with and without the width projections (and the class
// feature's projection into the joint video-text space). Also that frozen
// encoder tokens get no gradient while every CMA parameter does, and the
// config's defaults and errors.

#include "common/model/cma/cma.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <string>

#include "absl/status/status.h"
#include "common/model/cma/config.h"
#include "common/model/reference_testing.h"
#include "common/model/state_dict.h"
#include "common/safetensors/safetensors.h"

namespace iv::model {
namespace {

using internvideo::v1::CrossModelAttentionConfig;

constexpr double kTolerance = 1e-4;

class CmaTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    RunPythonReference("common/model/cma/testdata/cma_reference.py");
  }

  // Reads the case, resolves its config and builds the module with its
  // weights; every name must match exactly.
  void LoadCase(const std::string& name) {
    io_ = ReadReferenceOutput(name + ".io.safetensors");
    const TensorFile weights =
        ReadReferenceOutput(name + ".weights.safetensors");
    CrossModelAttentionConfig proto;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
        io_.metadata.at("config"), &proto));
    CmaEncoderDims encoders;
    encoders.masked_embed_dim = std::stoll(io_.metadata.at("masked_dim"));
    encoders.masked_num_heads = std::stoll(io_.metadata.at("masked_num_heads"));
    encoders.multimodal_width = std::stoll(io_.metadata.at("multimodal_dim"));
    encoders.multimodal_embed_dim =
        std::stoll(io_.metadata.at("multimodal_embed_dim"));
    absl::StatusOr<CmaConfig> config = ResolveCmaConfig(proto, encoders);
    ASSERT_TRUE(config.ok()) << config.status();
    model_ = CrossModelAttention(*config);
    absl::StatusOr<LoadReport> loaded = LoadStateDict(*model_, weights.tensors);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
  }

  void ExpectLogitsMatch() {
    model_->eval();
    torch::InferenceMode inference;
    const CmaOutput out = model_(ExpectedTensor(io_, "masked_tokens"),
                                 ExpectedTensor(io_, "multimodal_tokens"));
    EXPECT_LE(ReferenceError(io_, "logits", out.logits), kTolerance);
    if (HasEmbeds()) {
      EXPECT_LE(ReferenceError(io_, "video_embeds", out.video_embeds),
                kTolerance);
    } else {
      EXPECT_FALSE(out.video_embeds.defined());
    }
  }

  bool HasEmbeds() const {
    return std::any_of(io_.tensors.begin(), io_.tensors.end(),
                       [](const auto& t) { return t.first == "video_embeds"; });
  }

  // The frozen encoders' tokens: leaves that want no gradient, as a
  // no-grad encoder forward (or a loaded tensor) gives them.
  void ExpectOnlyCmaGradientsMatch() {
    model_->train();
    const torch::Tensor masked = ExpectedTensor(io_, "masked_tokens").clone();
    const torch::Tensor multimodal =
        ExpectedTensor(io_, "multimodal_tokens").clone();
    ASSERT_FALSE(masked.requires_grad());
    const CmaOutput out = model_(masked, multimodal);
    torch::Tensor loss = (out.logits * ExpectedTensor(io_, "probe")).sum();
    if (HasEmbeds()) {
      loss =
          loss + (out.video_embeds * ExpectedTensor(io_, "embed_probe")).sum();
    }
    loss.backward();
    EXPECT_FALSE(masked.grad().defined());
    EXPECT_FALSE(multimodal.grad().defined());
    double worst = 0;
    for (const auto& [name, parameter] : StateDict(*model_)) {
      ASSERT_TRUE(parameter.grad().defined()) << name << " got no gradient";
      const double error = RelativeL2Error(parameter.grad(),
                                           ExpectedTensor(io_, "grad." + name));
      EXPECT_LE(error, kTolerance) << name;
      worst = std::max(worst, error);
    }
    std::cout << "worst relative L2 error of a parameter gradient: " << worst
              << "\n";
  }

  TensorFile io_;
  CrossModelAttention model_{nullptr};
};

TEST_F(CmaTest, ProjectedLogitsMatchReference) {
  LoadCase("projected");
  ExpectLogitsMatch();
}

TEST_F(CmaTest, ProjectedGradientsMatchReference) {
  LoadCase("projected");
  ExpectOnlyCmaGradientsMatch();
}

TEST_F(CmaTest, DefaultsLogitsMatchReference) {
  LoadCase("defaults");
  ExpectLogitsMatch();
}

TEST_F(CmaTest, DefaultsGradientsMatchReference) {
  LoadCase("defaults");
  ExpectOnlyCmaGradientsMatch();
}

TEST_F(CmaTest, FrozenEncoderModuleGetsNoGradient) {
  LoadCase("projected");
  // An encoder stand-in whose parameters are frozen, as the paper's are.
  torch::nn::Linear encoder(24, 24);
  for (torch::Tensor& p : encoder->parameters()) p.requires_grad_(false);
  const torch::Tensor masked = encoder(ExpectedTensor(io_, "masked_tokens"));
  const CmaOutput out =
      model_(masked, ExpectedTensor(io_, "multimodal_tokens"));
  (out.logits.sum() + out.video_embeds.sum()).backward();
  for (const torch::Tensor& p : encoder->parameters()) {
    EXPECT_FALSE(p.grad().defined());
  }
  for (const auto& [name, parameter] : StateDict(*model_)) {
    EXPECT_TRUE(parameter.grad().defined()) << name;
  }
}

TEST(CmaConfigTest, DefaultsComeFromTheEncodersAndClassNames) {
  CmaEncoderDims encoders{/*masked_embed_dim=*/768, /*masked_num_heads=*/12,
                          /*multimodal_width=*/1024};
  absl::StatusOr<CmaConfig> config =
      ResolveCmaConfig(CrossModelAttentionConfig(), encoders, 10);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_blocks, 4);
  EXPECT_EQ(config->width, 768);
  EXPECT_EQ(config->heads, 12);
  EXPECT_EQ(config->mlp_ratio, 4.0);
  EXPECT_EQ(config->num_classes, 10);
  EXPECT_EQ(config->masked_dim, 768);
  EXPECT_EQ(config->multimodal_dim, 1024);
  EXPECT_EQ(config->embed_dim, 0);  // no projection unless asked
}

absl::Status ErrorFor(const std::string& text, int num_class_names = 10) {
  CrossModelAttentionConfig proto;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &proto));
  return ResolveCmaConfig(proto, {192, 3, 256}, num_class_names).status();
}

TEST(CmaConfigTest, ErrorsNameTheField) {
  EXPECT_EQ(ErrorFor("heads: 5").message(),
            "cma.heads: 192 is not divisible by 5");
  EXPECT_EQ(ErrorFor("width: 100 heads: 3").message(),
            "cma.heads: 100 is not divisible by 3");
  EXPECT_EQ(ErrorFor("num_blocks: -1").message(),
            "cma.num_blocks: -1 is negative");
  EXPECT_EQ(ErrorFor("width: -8").message(), "cma.width: -8 is negative");
  EXPECT_EQ(ErrorFor("mlp_ratio: -2").message(), "cma.mlp_ratio: -2 < 0");
  EXPECT_EQ(ErrorFor("num_classes: 7").message(),
            "cma.num_classes: 7, but class_names has 10 entries");
  EXPECT_EQ(ErrorFor("", 0).message(),
            "cma.num_classes: required when class_names is empty");
  EXPECT_EQ(ErrorFor("num_classes: -1").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorFor("video_projection: true").message(),
            "cma.video_projection: the multimodal encoder has no joint "
            "embedding");
}

TEST(CmaConfigTest, RequiresBothEncoders) {
  const absl::Status status =
      ResolveCmaConfig(CrossModelAttentionConfig(), {192, 3, 0}, 10).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "cma: requires both masked_encoder and multimodal_encoder");
}

}  // namespace
}  // namespace iv::model
