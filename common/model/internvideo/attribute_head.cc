#include "common/model/internvideo/attribute_head.h"

#include "absl/strings/str_cat.h"
#include "common/model/config_fields.h"

namespace iv::model {
namespace {

constexpr char kSection[] = "attribute_head";

}  // namespace

absl::StatusOr<AttributeConfig> ResolveAttributeConfig(
    const internvideo::v1::AttributeHeadConfig& proto, int64_t input_dim) {
  if (proto.colors().empty()) {
    return InvalidField(kSection, "colors", "required");
  }
  if (proto.shapes().empty()) {
    return InvalidField(kSection, "shapes", "required");
  }
  if (proto.max_objects() <= 0) {
    return InvalidField(kSection, "max_objects",
                        absl::StrCat(proto.max_objects(), " is not > 0"));
  }
  AttributeConfig config;
  config.input_dim = input_dim;
  config.colors.assign(proto.colors().begin(), proto.colors().end());
  config.shapes.assign(proto.shapes().begin(), proto.shapes().end());
  config.max_objects = proto.max_objects();
  return config;
}

AttributeHeadImpl::AttributeHeadImpl(const AttributeConfig& config) {
  const int64_t dim = config.input_dim;
  color_ = register_module(
      "color",
      torch::nn::Linear(dim, static_cast<int64_t>(config.colors.size())));
  shape_ = register_module(
      "shape",
      torch::nn::Linear(dim, static_cast<int64_t>(config.shapes.size())));
  count_ = register_module("count", torch::nn::Linear(dim, config.max_objects));
}

AttributeLogits AttributeHeadImpl::forward(const torch::Tensor& features) {
  return {color_(features), shape_(features), count_(features)};
}

}  // namespace iv::model
