#include "common/model/internvideo/vqa_head.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/model/cma/cma.h"
#include "common/model/config_fields.h"

namespace iv::model {
namespace {

constexpr absl::string_view kSection = "vqa_head";
constexpr int64_t kDefaultLayers = 2;

}  // namespace

absl::StatusOr<VqaConfig> ResolveVqaConfig(
    const internvideo::v1::VqaHeadConfig& proto,
    internvideo::v1::FeatureSource video_features, int64_t video_dim,
    int64_t text_width, int64_t text_heads) {
  VqaConfig config;
  config.video_features = video_features;
  config.video_dim = video_dim;
  config.question_dim = text_width;
  config.width = text_width;
  config.layers = kDefaultLayers;
  config.heads = text_heads;
  if (absl::Status s = ResolveDimensions(
          kSection, {{"width", proto.width(), &config.width},
                     {"layers", proto.layers(), &config.layers},
                     {"heads", proto.heads(), &config.heads}});
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckDivisible(kSection, "heads", config.width, config.heads,
                         std::to_string(config.heads));
      !s.ok()) {
    return s;
  }
  if (proto.answers_size() == 0) {
    return InvalidField(kSection, "answers",
                        "required (SynthWorld: the spec's 23 answers)");
  }
  config.answers.assign(proto.answers().begin(), proto.answers().end());
  return config;
}

VqaHeadImpl::VqaHeadImpl(const VqaConfig& config) {
  if (config.video_dim != config.width) {
    video_proj_ = register_module(
        "video_proj", torch::nn::Linear(config.video_dim, config.width));
  }
  if (config.question_dim != config.width) {
    question_proj_ = register_module(
        "question_proj", torch::nn::Linear(config.question_dim, config.width));
  }
  for (int64_t i = 0; i < config.layers; ++i) {
    blocks_->push_back(CmaBlock(config.width, config.heads, 4 * config.width));
  }
  register_module("blocks", blocks_);
  norm_ = register_module("norm", VideoMaeLayerNorm(config.width));
  head_ = register_module(
      "head", torch::nn::Linear(config.width,
                                static_cast<int64_t>(config.answers.size())));
}

torch::Tensor VqaHeadImpl::forward(const torch::Tensor& video_tokens,
                                   const torch::Tensor& question_tokens,
                                   const torch::Tensor& question_mask) {
  const torch::Tensor video =
      video_proj_ ? video_proj_(video_tokens) : video_tokens;
  torch::Tensor x =
      question_proj_ ? question_proj_(question_tokens) : question_tokens;
  for (const auto& block : *blocks_) {
    x = block->as<CmaBlockImpl>()->forward(x, video);
  }
  // Mean over the question's own tokens: padding positions carry no words.
  const torch::Tensor mask = question_mask.unsqueeze(2).to(x.dtype());
  const torch::Tensor pooled = (x * mask).sum(1) / mask.sum(1).clamp_min(1.0);
  return head_(norm_(pooled));
}

}  // namespace iv::model
