#include "common/model/multimodal/extractor.h"

#include <cmath>

namespace iv::model {

ExtractorImpl::ExtractorImpl(int64_t width, int64_t heads, double mlp_factor) {
  attn_ = register_module("attn", MultiheadAttention(width, heads));
  ln_1_ = register_module("ln_1", ClipLayerNorm(width));
  const auto hidden = static_cast<int64_t>(std::round(mlp_factor * width));
  mlp_ = register_module("mlp", ClipMlp(width, hidden));
  ln_2_ = register_module("ln_2", ClipLayerNorm(width));
  ln_3_ = register_module("ln_3", ClipLayerNorm(width));
}

torch::Tensor ExtractorImpl::forward(const torch::Tensor& query,
                                     const torch::Tensor& tokens) {
  const torch::Tensor x =
      query + attn_->CrossAttend(ln_1_(query), ln_3_(tokens));
  return x + mlp_(ln_2_(x));
}

}  // namespace iv::model
