// Scene-attribute head: linear classifiers on the masked encoder's pooled
// features that name the actor's color and shape and count the objects in
// the clip. Not a part of the paper's model: auxiliary supervision for
// recognition finetuning (RecognitionFinetuning.attribute_weight), because
// a small masked encoder trained on actions alone learns nothing of shape,
// which retrieval, captions and questions need (docs/iv-tiny-experiments.md,
// session 8). Later stages leave it out of their models.
//
// Parameter names (the project's own): color, shape, count (Linear).
#ifndef COMMON_MODEL_INTERNVIDEO_ATTRIBUTE_HEAD_H_
#define COMMON_MODEL_INTERNVIDEO_ATTRIBUTE_HEAD_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "protos/model_config.pb.h"

namespace iv::model {

struct AttributeConfig {
  int64_t input_dim = 0;                    // the masked encoder's embed_dim
  std::vector<std::string> colors, shapes;  // class-id order
  int64_t max_objects = 0;  // count classes: 1 .. max_objects objects
};

// INVALID_ARGUMENT naming the field ("attribute_head.colors: required").
absl::StatusOr<AttributeConfig> ResolveAttributeConfig(
    const internvideo::v1::AttributeHeadConfig& proto, int64_t input_dim);

struct AttributeLogits {
  torch::Tensor color, shape, count;  // [B, classes] each
};

class AttributeHeadImpl : public torch::nn::Module {
 public:
  explicit AttributeHeadImpl(const AttributeConfig& config);

  // Pooled features [B, input_dim] -> logits; count class k = k+1 objects.
  AttributeLogits forward(const torch::Tensor& features);

 private:
  torch::nn::Linear color_{nullptr}, shape_{nullptr}, count_{nullptr};
};
TORCH_MODULE(AttributeHead);

}  // namespace iv::model

#endif  // COMMON_MODEL_INTERNVIDEO_ATTRIBUTE_HEAD_H_
