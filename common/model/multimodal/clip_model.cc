#include "common/model/multimodal/clip_model.h"

#include <cmath>
#include <limits>

namespace iv::model {

InternVideoClipImpl::InternVideoClipImpl(const MultimodalConfig& config) {
  const ClipVisionOptions& vision = config.vision;
  const ClipTextOptions& text = config.text;
  visual_ = register_module("visual", ClipVisionTransformer(vision));
  visual_ln_post_ =
      register_module("visual_ln_post", ClipLayerNorm(vision.width));
  // Inits as the official initialize_parameters.
  visual_proj_ = register_parameter(
      "visual_proj", torch::randn({vision.width, config.embed_dim}) /
                         std::sqrt(static_cast<double>(vision.width)));
  transformer_ = register_module(
      "transformer", ClipTransformer(text.width, text.layers, text.heads));
  token_embedding_ = register_module(
      "token_embedding", torch::nn::Embedding(text.vocab_size, text.width));
  torch::nn::init::normal_(token_embedding_->weight, 0.0, 0.02);
  positional_embedding_ = register_parameter(
      "positional_embedding",
      0.01 * torch::randn({text.context_length, text.width}));
  ln_final_ = register_module("ln_final", ClipLayerNorm(text.width));
  text_projection_ = register_parameter(
      "text_projection", torch::randn({text.width, config.embed_dim}) /
                             std::sqrt(static_cast<double>(text.width)));
  // CLIP's initial temperature 0.07.
  logit_scale_ =
      register_parameter("logit_scale", torch::full({}, std::log(1 / 0.07)));
  text_mask_embedding_ = register_parameter(
      "text_mask_embedding", 0.02 * torch::randn({1, 1, text.width}));
}

torch::Tensor InternVideoClipImpl::ProjectVideo(const torch::Tensor& feature) {
  return torch::matmul(visual_ln_post_(feature), visual_proj_);
}

GlobalTransformerOutput InternVideoClipImpl::Visual(
    const torch::Tensor& video) {
  return visual_(video);
}

torch::Tensor InternVideoClipImpl::EncodeVideo(const torch::Tensor& video) {
  return ProjectVideo(visual_(video).feature);
}

torch::Tensor InternVideoClipImpl::TextTokens(const torch::Tensor& text) {
  const int64_t length = text.size(1);
  TORCH_CHECK(length <= positional_embedding_.size(0), "texts of ", length,
              " tokens exceed the context length ",
              positional_embedding_.size(0));
  const torch::Tensor x =
      token_embedding_(text) + positional_embedding_.narrow(0, 0, length);
  return ln_final_(transformer_(x, CausalMask(length).to(x.device())));
}

torch::Tensor InternVideoClipImpl::ProjectText(const torch::Tensor& tokens,
                                               const torch::Tensor& text) {
  // The EOT token has the largest id, so argmax finds where each text ends.
  const torch::Tensor eot = text.argmax(-1);
  const torch::Tensor rows = torch::arange(text.size(0), eot.options());
  return torch::matmul(tokens.index({rows, eot}), text_projection_);
}

torch::Tensor InternVideoClipImpl::EncodeText(const torch::Tensor& text) {
  return ProjectText(TextTokens(text), text);
}

ClipOutput InternVideoClipImpl::forward(const torch::Tensor& video,
                                        const torch::Tensor& text) {
  const GlobalTransformerOutput visual = visual_(video);
  ClipOutput out;
  out.video_embeds = ProjectVideo(visual.feature);
  out.video_tokens = visual.tokens;
  out.text_tokens = TextTokens(text);
  out.text_embeds = ProjectText(out.text_tokens, text);
  return out;
}

torch::Tensor CausalMask(int64_t length) {
  return torch::full({length, length}, -std::numeric_limits<float>::infinity())
      .triu_(1);
}

}  // namespace iv::model
