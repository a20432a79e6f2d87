#include "common/model/multimodal/contrastive_loss.h"

namespace iv::model {
namespace {

// fp32 for half-precision inputs, else unchanged: softmax over the batch is
// where bf16 would lose the small differences between negatives.
torch::Tensor AtLeastFloat32(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat64 ? x : x.to(torch::kFloat32);
}

}  // namespace

torch::Tensor SymmetricInfoNce(const torch::Tensor& video_embeds,
                               const torch::Tensor& text_embeds,
                               const torch::Tensor& logit_scale) {
  namespace F = torch::nn::functional;
  const auto normalized = [](const torch::Tensor& x) {
    return F::normalize(AtLeastFloat32(x), F::NormalizeFuncOptions().dim(-1));
  };
  const torch::Tensor logits =
      AtLeastFloat32(logit_scale).exp() *
      torch::matmul(normalized(video_embeds), normalized(text_embeds).t());
  const torch::Tensor labels =
      torch::arange(logits.size(0), logits.options().dtype(torch::kInt64));
  return (F::cross_entropy(logits, labels) +
          F::cross_entropy(logits.t(), labels)) /
         2;
}

}  // namespace iv::model
