#include "common/model/multimodal/caption_decoder.h"

#include <cmath>
#include <utility>

namespace iv::model {
namespace {

// CoCa's feed-forward width multiplier, fixed in the official decoder.
constexpr int64_t kFfMult = 4;

}  // namespace

ResidualImpl::ResidualImpl(std::shared_ptr<torch::nn::Module> fn) {
  register_module("fn", std::move(fn));
}

CaptionDecoderImpl::CaptionDecoderImpl(const CaptionDecoderOptions& options,
                                       int64_t vision_width, int64_t vocab_size)
    : max_length_(options.max_length) {
  const int64_t width = options.width;
  const int64_t dim_head = width / options.heads;
  visual_queries_ = register_parameter(
      "visual_queries", torch::randn({options.num_visual_queries, width}) /
                            std::sqrt(static_cast<double>(width)));
  CrossAttentionOptions pooler;
  pooler.dim = width;
  pooler.context_dim = vision_width;
  pooler.dim_head = dim_head;
  pooler.heads = options.heads;
  pooler.norm_context = true;
  visual_attn_pooler_ =
      register_module("visual_attn_pooler", CocaCrossAttention(pooler));
  visual_pooler_norm_ = register_module(
      "visual_pooler_norm", torch::nn::LayerNorm(std::vector<int64_t>{width}));
  text_norm_ = register_module(
      "text_norm", torch::nn::LayerNorm(std::vector<int64_t>{width}));
  CrossAttentionOptions cross;
  cross.dim = width;
  cross.dim_head = dim_head;
  cross.heads = options.heads;
  cross.parallel_ff = true;
  cross.ff_mult = kFfMult;
  torch::nn::ModuleList layers;
  for (int64_t i = 0; i < options.layers; ++i) {
    self_attention_.push_back(
        ParallelTransformerBlock(width, dim_head, options.heads, kFfMult));
    cross_attention_.push_back(CocaCrossAttention(cross));
    layers->push_back(
        torch::nn::ModuleList(Residual(self_attention_.back().ptr()),
                              Residual(cross_attention_.back().ptr())));
  }
  register_module("multimodal_layers", layers);
  predictor_ = register_module(
      "predictor",
      torch::nn::Sequential(torch::nn::LayerNorm(std::vector<int64_t>{width}),
                            torch::nn::Linear(width, width), torch::nn::GELU(),
                            torch::nn::LayerNorm(std::vector<int64_t>{width}),
                            torch::nn::Linear(width, vocab_size)));
}

torch::Tensor CaptionDecoderImpl::forward(const torch::Tensor& video_tokens,
                                          const torch::Tensor& text_tokens) {
  return Decode(PoolVideo(video_tokens), text_tokens);
}

torch::Tensor CaptionDecoderImpl::PoolVideo(const torch::Tensor& video_tokens) {
  const int64_t batch = video_tokens.size(0);
  const torch::Tensor queries = visual_queries_.expand(
      {batch, visual_queries_.size(0), visual_queries_.size(1)});
  return visual_pooler_norm_(
      visual_attn_pooler_(queries, video_tokens.flatten(1, 2)));
}

torch::Tensor CaptionDecoderImpl::Decode(const torch::Tensor& visual,
                                         const torch::Tensor& text_tokens) {
  torch::Tensor x = text_norm_(text_tokens);
  for (size_t i = 0; i < self_attention_.size(); ++i) {
    x = x + self_attention_[i](x);
    x = x + cross_attention_[i](x, visual);
  }
  return predictor_->forward(x);
}

torch::Tensor CaptioningLoss(const torch::Tensor& logits,
                             const torch::Tensor& labels) {
  namespace F = torch::nn::functional;
  return F::cross_entropy(
      logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32),
      labels.reshape({-1}), F::CrossEntropyFuncOptions().ignore_index(-100));
}

}  // namespace iv::model
