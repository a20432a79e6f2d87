// Object-count head: how many objects a clip shows (1 .. max_objects),
// classified from the clip's pooled video feature. A toy task head from a
// plug-in, the worked example of docs/extending.md; its task (objective and
// evaluator) is object_count_task.cc.
//
// Parameter names (the project's own), under "heads.object_count.":
// classifier (Linear).
#ifndef HEADS_OBJECT_COUNT_OBJECT_COUNT_HEAD_H_
#define HEADS_OBJECT_COUNT_OBJECT_COUNT_HEAD_H_

#include <torch/torch.h>

#include <cstdint>

#include "common/model/internvideo/internvideo_model.h"
#include "heads/object_count/object_count.pb.h"

namespace iv::heads {

inline constexpr char kObjectCount[] = "object_count";

class ObjectCountHeadImpl : public torch::nn::Module {
 public:
  ObjectCountHeadImpl(int64_t input_dim, int64_t max_objects);
  // Pooled features [B, input_dim] -> logits [B, max_objects]; class k
  // means k + 1 objects.
  torch::Tensor forward(const torch::Tensor& features);

 private:
  torch::nn::Linear classifier_{nullptr};
};
TORCH_MODULE(ObjectCountHead);

// The features the head reads: the masked encoder's pooled features when
// the model has a (finetuning) masked encoder, else the multimodal
// encoder's video feature.
internvideo::v1::FeatureSource ObjectCountFeatures(
    const model::InternVideoConfig& model);

// The head's config in `model` (defaults filled in).
internvideo::heads::v1::ObjectCountHeadConfig ObjectCountConfig(
    const model::InternVideoConfig& model);

// Count logits [B, max_objects] of clips, `masked_video` and
// `multimodal_video` as InternVideoModelImpl's two-encoder calls take them.
// The model must have the head.
torch::Tensor ObjectCountLogits(model::InternVideoModel& model,
                                const torch::Tensor& masked_video,
                                const torch::Tensor& multimodal_video);

}  // namespace iv::heads

#endif  // HEADS_OBJECT_COUNT_OBJECT_COUNT_HEAD_H_
