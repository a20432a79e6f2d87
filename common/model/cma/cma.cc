#include "common/model/cma/cma.h"

#include "common/model/videomae/attention.h"

namespace iv::model {

CmaCrossAttentionImpl::CmaCrossAttentionImpl(int64_t width, int64_t heads)
    : heads_(heads) {
  q_proj_ = register_module("q_proj", torch::nn::Linear(width, width));
  // No key bias: it adds a constant per query row, which softmax cancels,
  // so it would be a parameter that never learns (as in VideoMAE's qkv).
  k_proj_ = register_module(
      "k_proj",
      torch::nn::Linear(torch::nn::LinearOptions(width, width).bias(false)));
  v_proj_ = register_module("v_proj", torch::nn::Linear(width, width));
  out_proj_ = register_module("out_proj", torch::nn::Linear(width, width));
}

torch::Tensor CmaCrossAttentionImpl::forward(const torch::Tensor& queries,
                                             const torch::Tensor& context) {
  const int64_t batch = queries.size(0);
  const int64_t width = queries.size(2);
  const int64_t head_dim = width / heads_;
  // [B, N, W] -> [B, heads, N, head_dim].
  auto split = [&](const torch::Tensor& x) {
    return x.view({batch, x.size(1), heads_, head_dim}).transpose(1, 2);
  };
  const torch::Tensor out = ScaledDotProductAttention(split(q_proj_(queries)),
                                                      split(k_proj_(context)),
                                                      split(v_proj_(context)));
  return out_proj_(
      out.transpose(1, 2).reshape({batch, queries.size(1), width}));
}

CmaBlockImpl::CmaBlockImpl(int64_t width, int64_t heads, int64_t hidden_dim) {
  norm_q_ = register_module("norm_q", VideoMaeLayerNorm(width));
  norm_kv_ = register_module("norm_kv", VideoMaeLayerNorm(width));
  cross_attn_ = register_module("cross_attn", CmaCrossAttention(width, heads));
  norm_ffn_ = register_module("norm_ffn", VideoMaeLayerNorm(width));
  ffn_ = register_module("ffn", Mlp(width, hidden_dim));
}

torch::Tensor CmaBlockImpl::forward(const torch::Tensor& x,
                                    const torch::Tensor& context) {
  const torch::Tensor y = x + cross_attn_(norm_q_(x), norm_kv_(context));
  return y + ffn_(norm_ffn_(y));
}

CrossModelAttentionImpl::CrossModelAttentionImpl(const CmaConfig& config) {
  const int64_t width = config.width;
  const auto hidden = static_cast<int64_t>(width * config.mlp_ratio);
  if (config.masked_dim != width) {
    masked_proj_ = register_module("masked_proj",
                                   torch::nn::Linear(config.masked_dim, width));
  }
  if (config.multimodal_dim != width) {
    multimodal_proj_ = register_module(
        "multimodal_proj", torch::nn::Linear(config.multimodal_dim, width));
  }
  for (int64_t i = 0; i < config.num_blocks; ++i) {
    blocks_->push_back(CmaBlock(width, config.heads, hidden));
  }
  register_module("blocks", blocks_);
  top_ = register_module("top", CmaBlock(width, config.heads, hidden));
  cls_norm_ = register_module("cls_norm", VideoMaeLayerNorm(width));
  cls_head_ =
      register_module("cls_head", torch::nn::Linear(width, config.num_classes));
  pooled_norm_ = register_module("pooled_norm", VideoMaeLayerNorm(width));
  pooled_head_ = register_module("pooled_head",
                                 torch::nn::Linear(width, config.num_classes));
  if (config.embed_dim > 0) {
    video_proj_ = register_module(
        "video_proj",
        torch::nn::Linear(
            torch::nn::LinearOptions(width, config.embed_dim).bias(false)));
  }
}

CmaOutput CrossModelAttentionImpl::forward(
    const torch::Tensor& masked_tokens,
    const torch::Tensor& multimodal_tokens) {
  torch::Tensor x = masked_proj_ ? masked_proj_(masked_tokens) : masked_tokens;
  const torch::Tensor context = multimodal_proj_
                                    ? multimodal_proj_(multimodal_tokens)
                                    : multimodal_tokens;
  for (const auto& block : *blocks_) {
    x = block->as<CmaBlockImpl>()->forward(x, context);
  }
  // The class token keeps its multimodal (semantic) view and gathers the
  // masked encoder's (motion) evidence from every coordinated token.
  const torch::Tensor cls = top_(context.narrow(1, 0, 1), x).squeeze(1);
  CmaOutput out;
  out.cls_features = cls_norm_(cls);
  out.pooled_features = pooled_norm_(x.mean(1));
  out.logits = cls_head_(out.cls_features) + pooled_head_(out.pooled_features);
  if (video_proj_) out.video_embeds = video_proj_(out.cls_features);
  out.tokens = torch::cat({cls.unsqueeze(1), x}, 1);
  return out;
}

}  // namespace iv::model
