// Checks the multimodal modules against testdata/multimodal_reference.py, an
// independent float64 PyTorch reference run on the same random weights
// (stored under the official InternVideo-MM parameter names) and inputs:
// video and text embeddings, the InfoNCE loss and the loss's gradient of
// every parameter within 1e-4 relative L2 error in fp32 (also for frames
// of another size than input_resolution, "clip_resized", whose positional
// grid is resized bicubically, and with a convolutional stem in place of
// conv1, "clip_stem"); likewise the caption decoder's logits, the
// captioning loss and its gradients.

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <vector>

#include "common/model/multimodal/caption_decoder.h"
#include "common/model/multimodal/clip_model.h"
#include "common/model/multimodal/config.h"
#include "common/model/multimodal/contrastive_loss.h"
#include "common/model/reference_testing.h"
#include "common/model/state_dict.h"
#include "common/safetensors/safetensors.h"

namespace iv::model {
namespace {

constexpr double kTolerance = 1e-4;

// Runs the reference once for the whole suite; its files stay in TempDir.
class MultimodalTest : public testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    RunPythonReference(
        "common/model/multimodal/testdata/multimodal_reference.py");
  }

  // The case's model, built from the config in the io file's metadata, with
  // the case's weights; every official name must match exactly.
  InternVideoClip LoadModel(const std::string& name) {
    case_ = name;
    io_ = ReadReferenceOutput(name + ".io.safetensors");
    internvideo::v1::MultimodalEncoderConfig proto;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
        io_.metadata.at("config"), &proto));
    absl::StatusOr<MultimodalConfig> config = ResolveMultimodalConfig(proto);
    EXPECT_TRUE(config.ok()) << config.status();
    config_ = *config;
    InternVideoClip model(config_);
    LoadWeights(*model, name + ".weights.safetensors");
    return model;
  }

  void LoadWeights(torch::nn::Module& module, const std::string& file) {
    absl::StatusOr<LoadReport> loaded =
        LoadStateDict(module, ReadReferenceOutput(file).tensors);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
  }

  // Compares each parameter's gradient with the reference's `prefix` + its
  // name; parameters the loss does not reach must get none.
  void ExpectGradients(const torch::nn::Module& module,
                       const std::string& prefix) {
    for (const auto& item : module.named_parameters()) {
      const std::string& name = item.key();
      const torch::Tensor& parameter = item.value();
      const torch::Tensor& expected = ExpectedTensor(io_, prefix + name);
      const torch::Tensor grad = parameter.grad().defined()
                                     ? parameter.grad()
                                     : torch::zeros_like(parameter);
      if (expected.abs().max().item<double>() == 0) {
        EXPECT_EQ(grad.abs().max().item<double>(), 0) << name;
        continue;
      }
      EXPECT_LE(ReferenceError(io_, prefix + name, grad, case_), kTolerance)
          << name;
    }
  }

  std::string case_;
  TensorFile io_;
  MultimodalConfig config_;
};

TEST_P(MultimodalTest, EmbeddingsAndLossMatchReference) {
  InternVideoClip model = LoadModel(GetParam());
  model->eval();
  torch::InferenceMode inference;
  const ClipOutput out =
      model(ExpectedTensor(io_, "video"), ExpectedTensor(io_, "text"));
  EXPECT_LE(ReferenceError(io_, "video_embeds", out.video_embeds, case_),
            kTolerance);
  EXPECT_LE(ReferenceError(io_, "text_embeds", out.text_embeds, case_),
            kTolerance);
  EXPECT_LE(ReferenceError(io_, "loss",
                           SymmetricInfoNce(out.video_embeds, out.text_embeds,
                                            model->logit_scale()),
                           case_),
            kTolerance);
}

TEST_P(MultimodalTest, LossGradientsMatchReference) {
  InternVideoClip model = LoadModel(GetParam());
  const ClipOutput out =
      model(ExpectedTensor(io_, "video"), ExpectedTensor(io_, "text"));
  SymmetricInfoNce(out.video_embeds, out.text_embeds, model->logit_scale())
      .backward();
  ExpectGradients(*model, "grad.");
}

INSTANTIATE_TEST_SUITE_P(Cases, MultimodalTest,
                         testing::Values("clip", "clip_other", "clip_resized",
                                         "clip_stem"));

// Central differences of the loss in float64 against autograd, for every
// element of the embeddings and the logit scale.
using CaptionTest = MultimodalTest;

TEST_F(CaptionTest, LogitsLossAndGradientsMatchReference) {
  InternVideoClip model = LoadModel("clip");
  ASSERT_TRUE(config_.caption_decoder.has_value());
  CaptionDecoder decoder(*config_.caption_decoder, config_.vision.width,
                         config_.text.vocab_size);
  LoadWeights(*decoder, "clip.caption_decoder.weights.safetensors");
  const ClipOutput out =
      model(ExpectedTensor(io_, "video"), ExpectedTensor(io_, "text"));
  const torch::Tensor logits =
      decoder(out.video_tokens,
              out.text_tokens.narrow(1, 0, out.text_tokens.size(1) - 1));
  EXPECT_LE(ReferenceError(io_, "caption_logits", logits, case_), kTolerance);
  const torch::Tensor loss =
      CaptioningLoss(logits, ExpectedTensor(io_, "caption_labels"));
  EXPECT_LE(ReferenceError(io_, "caption_loss", loss, case_), kTolerance);
  loss.backward();
  ExpectGradients(*decoder, "capgrad.");
  ExpectGradients(*model, "capgrad.clip.");
}

TEST(SymmetricInfoNceTest, GradientMatchesFiniteDifferences) {
  torch::manual_seed(0);
  const auto options = torch::TensorOptions().dtype(torch::kFloat64);
  std::vector<torch::Tensor> inputs = {torch::randn({5, 8}, options),
                                       torch::randn({5, 8}, options),
                                       torch::full({}, 1.3, options)};
  for (torch::Tensor& input : inputs) input.requires_grad_();
  SymmetricInfoNce(inputs[0], inputs[1], inputs[2]).backward();
  constexpr double kStep = 1e-6;
  torch::NoGradGuard no_grad;
  for (torch::Tensor& input : inputs) {
    const torch::Tensor flat = input.view({-1});
    const torch::Tensor grad = input.grad().view({-1});
    for (int64_t i = 0; i < flat.numel(); ++i) {
      const double value = flat[i].item<double>();
      flat[i] = value + kStep;
      const double plus =
          SymmetricInfoNce(inputs[0], inputs[1], inputs[2]).item<double>();
      flat[i] = value - kStep;
      const double minus =
          SymmetricInfoNce(inputs[0], inputs[1], inputs[2]).item<double>();
      flat[i] = value;
      EXPECT_NEAR(grad[i].item<double>(), (plus - minus) / (2 * kStep), 1e-6);
    }
  }
}

TEST(SymmetricInfoNceTest, MatchedPairsGiveLowLoss) {
  // Identical video and text embeddings at a high temperature: each row's
  // positive dominates, so the loss approaches 0; shuffled texts do not.
  torch::manual_seed(0);
  const torch::Tensor embeds = torch::randn({6, 32});
  const torch::Tensor scale = torch::full({}, std::log(100.0));
  EXPECT_LT(SymmetricInfoNce(embeds, embeds, scale).item<double>(), 1e-3);
  EXPECT_GT(SymmetricInfoNce(embeds, embeds.roll(1, 0), scale).item<double>(),
            1.0);
}

TEST(CausalMaskTest, HidesOnlyLaterTokens) {
  const torch::Tensor mask = CausalMask(3);
  EXPECT_TRUE(torch::equal(
      mask.isinf(),
      torch::tensor(
          {{false, true, true}, {false, false, true}, {false, false, false}})));
  EXPECT_EQ(mask.masked_fill(mask.isinf(), 0).abs().sum().item<double>(), 0);
}

}  // namespace
}  // namespace iv::model
