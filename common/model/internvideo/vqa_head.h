// Video question answering head: the question's token features (from the
// multimodal text encoder) attend to the video's tokens through blocks of
// cross-attention + FFN (cross-model attention's block), are mean-pooled
// over the question's tokens and classified over a fixed answer vocabulary,
// as in the VQA heads of InternVideo's downstream code (answer
// classification, not generation).
//
// Parameter names (the project's own):
//   video_proj, question_proj  Linear to `width`, present only when the
//                              input width differs from it
//   blocks.N.*                 CMA blocks (norm_q, norm_kv, cross_attn, ...)
//   norm, head                 LayerNorm and Linear(width, answers)
//
// The answer list lives in the config (VqaHeadConfig.answers, class-id
// order), so a checkpoint carries the meaning of its outputs; SynthWorld's
// recipes list the spec's 23 answers in synthworld::Answers() order.
#ifndef COMMON_MODEL_INTERNVIDEO_VQA_HEAD_H_
#define COMMON_MODEL_INTERNVIDEO_VQA_HEAD_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/videomae/block.h"
#include "protos/model_config.pb.h"

namespace iv::model {

struct VqaConfig {
  internvideo::v1::FeatureSource video_features;  // resolved
  int64_t video_dim = 0;     // token width of the video features
  int64_t question_dim = 0;  // the text encoder's width
  int64_t width = 0;
  int64_t layers = 2;
  int64_t heads = 0;
  std::vector<std::string> answers;
};

// Fills the proto's defaults (width and heads from the text encoder).
// INVALID_ARGUMENT naming the field, e.g. "vqa_head.answers: required".
absl::StatusOr<VqaConfig> ResolveVqaConfig(
    const internvideo::v1::VqaHeadConfig& proto,
    internvideo::v1::FeatureSource video_features, int64_t video_dim,
    int64_t text_width, int64_t text_heads);

class VqaHeadImpl : public torch::nn::Module {
 public:
  explicit VqaHeadImpl(const VqaConfig& config);

  // video_tokens [B, Nv, video_dim], question_tokens [B, Nq, question_dim],
  // question_mask [B, Nq] bool (true at real tokens, false at padding)
  // -> answer logits [B, answers].
  torch::Tensor forward(const torch::Tensor& video_tokens,
                        const torch::Tensor& question_tokens,
                        const torch::Tensor& question_mask);

 private:
  torch::nn::Linear video_proj_{nullptr};     // null when widths match
  torch::nn::Linear question_proj_{nullptr};  // null when widths match
  torch::nn::ModuleList blocks_;
  VideoMaeLayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(VqaHead);

}  // namespace iv::model

#endif  // COMMON_MODEL_INTERNVIDEO_VQA_HEAD_H_
