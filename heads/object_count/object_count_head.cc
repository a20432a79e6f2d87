#include "heads/object_count/object_count_head.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/model/internvideo/head_plugin.h"
#include "common/plugin/options.h"

namespace iv::heads {

using internvideo::heads::v1::ObjectCountHeadConfig;

ObjectCountHeadImpl::ObjectCountHeadImpl(int64_t input_dim, int64_t max_objects)
    : classifier_(register_module("classifier",
                                  torch::nn::Linear(input_dim, max_objects))) {}

torch::Tensor ObjectCountHeadImpl::forward(const torch::Tensor& features) {
  return classifier_(features);
}

internvideo::v1::FeatureSource ObjectCountFeatures(
    const model::InternVideoConfig& model) {
  return model.masked_encoder && !model.masked_encoder->decoder
             ? internvideo::v1::FEATURE_SOURCE_MASKED_ENCODER
             : internvideo::v1::FEATURE_SOURCE_MULTIMODAL_ENCODER;
}

ObjectCountHeadConfig ObjectCountConfig(const model::InternVideoConfig& model) {
  ObjectCountHeadConfig config;
  model.proto.heads().at(kObjectCount).UnpackTo(&config);
  if (config.max_objects() == 0) config.set_max_objects(4);
  return config;
}

torch::Tensor ObjectCountLogits(model::InternVideoModel& model,
                                const torch::Tensor& masked_video,
                                const torch::Tensor& multimodal_video) {
  const auto head = model->plugin_head_as<ObjectCountHeadImpl>(kObjectCount);
  TORCH_CHECK(head, "the model has no object_count head");
  return head->forward(model->ClipFeatures(ObjectCountFeatures(model->config()),
                                           masked_video, multimodal_video));
}

namespace {

class ObjectCountPlugin : public model::HeadPlugin {
 public:
  absl::Status Validate(const google::protobuf::Any& options,
                        const model::InternVideoConfig& model,
                        const std::string& field) const override {
    ObjectCountHeadConfig config;
    if (absl::Status s = plugin::UnpackOptions(options, field, &config);
        !s.ok()) {
      return s;
    }
    if (config.max_objects() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".max_objects: must be >= 0"));
    }
    if (ObjectCountFeatures(model) ==
            internvideo::v1::FEATURE_SOURCE_MULTIMODAL_ENCODER &&
        !model.multimodal) {
      return absl::InvalidArgumentError(
          absl::StrCat(field,
                       ": reads a finetuning masked encoder or a multimodal "
                       "encoder, and the model has neither"));
    }
    return absl::OkStatus();
  }

  std::shared_ptr<torch::nn::Module> Build(
      const google::protobuf::Any&,
      const model::InternVideoConfig& model) const override {
    const int64_t input_dim =
        ObjectCountFeatures(model) ==
                internvideo::v1::FEATURE_SOURCE_MASKED_ENCODER
            ? model.masked_encoder->embed_dim
            : model.multimodal->vision.width;
    return ObjectCountHead(input_dim, ObjectCountConfig(model).max_objects())
        .ptr();
  }
};

const bool kRegistered = [] {
  model::RegisterHeadPlugin(kObjectCount,
                            std::make_unique<ObjectCountPlugin>());
  return true;
}();

}  // namespace
}  // namespace iv::heads
