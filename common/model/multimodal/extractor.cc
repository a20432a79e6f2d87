#include "common/model/multimodal/extractor.h"

#include <cmath>
#include <string>

namespace iv::model {

ExtractorImpl::ExtractorImpl(int64_t width, int64_t heads, double mlp_factor) {
  attn_ = register_module("attn", MultiheadAttention(width, heads));
  ln_1_ = register_module("ln_1", ClipLayerNorm(width));
  const auto hidden = static_cast<int64_t>(std::round(mlp_factor * width));
  mlp_ = register_module("mlp", ClipMlp(width, hidden));
  ln_2_ = register_module("ln_2", ClipLayerNorm(width));
  ln_3_ = register_module("ln_3", ClipLayerNorm(width));
  // The official init: the layer starts as the identity (its attention and
  // MLP outputs are zero), so a CLIP backbone without a trained global
  // branch gives the mean class token.
  torch::NoGradGuard no_grad;
  for (auto& item : named_parameters()) {
    const std::string& name = item.key();
    if (name == "mlp.c_fc.weight") {
      torch::nn::init::xavier_uniform_(item.value());
    } else if (name == "attn.out_proj.weight" || name == "attn.out_proj.bias" ||
               name == "mlp.c_proj.weight" || name == "mlp.c_proj.bias") {
      item.value().zero_();
    }
  }
}

torch::Tensor ExtractorImpl::forward(const torch::Tensor& query,
                                     const torch::Tensor& tokens) {
  const torch::Tensor x =
      query + attn_->CrossAttend(ln_1_(query), ln_3_(tokens));
  return x + mlp_(ln_2_(x));
}

}  // namespace iv::model
