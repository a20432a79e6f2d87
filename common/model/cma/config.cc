#include "common/model/cma/config.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/model/config_fields.h"

namespace iv::model {
namespace {

constexpr absl::string_view kSection = "cma";
constexpr int64_t kDefaultNumBlocks = 4;

}  // namespace

absl::StatusOr<CmaConfig> ResolveCmaConfig(
    const internvideo::v1::CrossModelAttentionConfig& proto,
    const CmaEncoderDims& encoders, int num_class_names) {
  // CMA only exists over both encoders; without their widths it has no
  // inputs to size its projections from.
  if (encoders.masked_embed_dim <= 0 || encoders.multimodal_width <= 0) {
    return absl::InvalidArgumentError(
        "cma: requires both masked_encoder and multimodal_encoder");
  }
  CmaConfig config;
  config.masked_dim = encoders.masked_embed_dim;
  config.multimodal_dim = encoders.multimodal_width;
  absl::StatusOr<int64_t> num_blocks = ConfigDimension(
      kSection, "num_blocks", proto.num_blocks(), kDefaultNumBlocks);
  if (!num_blocks.ok()) return num_blocks.status();
  absl::StatusOr<int64_t> width = ConfigDimension(
      kSection, "width", proto.width(), encoders.masked_embed_dim);
  if (!width.ok()) return width.status();
  absl::StatusOr<int64_t> heads = ConfigDimension(
      kSection, "heads", proto.heads(), encoders.masked_num_heads);
  if (!heads.ok()) return heads.status();
  config.num_blocks = *num_blocks;
  config.width = *width;
  config.heads = *heads;
  if (absl::Status s = CheckDivisible(kSection, "heads", config.width,
                                      config.heads, std::to_string(*heads));
      !s.ok()) {
    return s;
  }
  if (proto.mlp_ratio() < 0) {
    return InvalidField(kSection, "mlp_ratio",
                        absl::StrCat(proto.mlp_ratio(), " < 0"));
  }
  if (proto.mlp_ratio() > 0) config.mlp_ratio = proto.mlp_ratio();
  absl::StatusOr<int64_t> num_classes =
      ResolveNumClasses(kSection, proto.num_classes(), num_class_names);
  if (!num_classes.ok()) return num_classes.status();
  config.num_classes = *num_classes;
  // Both heads are the point of CMA: without classes it has no output.
  if (config.num_classes == 0) {
    return InvalidField(kSection, "num_classes",
                        "required when class_names is empty");
  }
  if (proto.video_projection()) {
    if (encoders.multimodal_embed_dim <= 0) {
      return InvalidField(kSection, "video_projection",
                          "the multimodal encoder has no joint embedding");
    }
    config.embed_dim = encoders.multimodal_embed_dim;
  }
  return config;
}

}  // namespace iv::model
