#include "common/model/videomae/config.h"

#include <array>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/model/config_fields.h"
#include "common/model/videomae/masking.h"

namespace iv::model {
namespace {

using internvideo::v1::MaskedVideoEncoderConfig;
using internvideo::v1::PIXEL_NORMALIZATION_CLIP;
using internvideo::v1::VideoMaeDecoderConfig;

// The official sizes (modeling_finetune.py / modeling_pretrain.py), plus the
// project's tiny model, small enough to train on SynthWorld on two CPU
// cores: 192 wide like ViT-Ti, 6 blocks, 3 heads of 64 channels.
struct Preset {
  const char* name;
  int64_t embed_dim;
  int64_t depth;
  int64_t num_heads;
  int64_t decoder_embed_dim;
  int64_t decoder_num_heads;
};
constexpr std::array<Preset, 5> kPresets = {{
    {"tiny", 192, 6, 3, 96, 3},
    {"s16", 384, 12, 6, 192, 3},
    {"b16", 768, 12, 12, 384, 6},
    {"l16", 1024, 24, 16, 512, 8},
    {"h16", 1280, 32, 16, 640, 8},
}};

// run_mae_pretraining.py's default decoder depth.
constexpr int64_t kDefaultDecoderDepth = 4;

constexpr absl::string_view kSection = "masked_encoder";

absl::StatusOr<PretrainDecoderConfig> ResolveDecoder(
    const VideoMaeDecoderConfig& proto, const Preset* preset,
    const VideoMaeConfig& encoder) {
  PretrainDecoderConfig decoder;
  auto embed_dim = ConfigDimension(kSection, "decoder.decoder_embed_dim",
                                   proto.decoder_embed_dim(),
                                   preset ? preset->decoder_embed_dim : 0);
  if (!embed_dim.ok()) return embed_dim.status();
  auto depth = ConfigDimension(kSection, "decoder.decoder_depth",
                               proto.decoder_depth(), kDefaultDecoderDepth);
  if (!depth.ok()) return depth.status();
  auto num_heads = ConfigDimension(kSection, "decoder.decoder_num_heads",
                                   proto.decoder_num_heads(),
                                   preset ? preset->decoder_num_heads : 0);
  if (!num_heads.ok()) return num_heads.status();
  decoder.embed_dim = *embed_dim;
  decoder.depth = *depth;
  decoder.num_heads = *num_heads;
  if (absl::Status s = CheckDivisible(kSection, "decoder.decoder_num_heads",
                                      decoder.embed_dim, decoder.num_heads,
                                      std::to_string(decoder.num_heads));
      !s.ok()) {
    return s;
  }
  if (proto.mask_ratio() != 0) decoder.mask_ratio = proto.mask_ratio();
  const int64_t per_slice = (encoder.img_size / encoder.patch_size) *
                            (encoder.img_size / encoder.patch_size);
  const int64_t masked = MaskedTokensPerSlice(decoder.mask_ratio, per_slice);
  if (masked < 1 || masked >= per_slice) {
    return InvalidField(
        kSection, "decoder.mask_ratio",
        absl::StrCat(decoder.mask_ratio, " masks ", masked, " of ", per_slice,
                     " tokens per frame; at least one must be "
                     "masked and one visible"));
  }
  if (proto.has_normalize_target()) {
    decoder.normalize_target = proto.normalize_target();
  }
  return decoder;
}

absl::StatusOr<const Preset*> FindPreset(const std::string& name) {
  if (name.empty()) return nullptr;
  for (const Preset& preset : kPresets) {
    if (name == preset.name) return &preset;
  }
  std::vector<std::string> names;
  for (const Preset& preset : kPresets) names.push_back(preset.name);
  return InvalidField(kSection, "preset",
                      absl::StrCat("unknown preset \"", name, "\" (known: ",
                                   absl::StrJoin(names, ", "), ")"));
}

absl::Status ResolveShape(const MaskedVideoEncoderConfig& proto,
                          const Preset* preset, VideoMaeConfig& config) {
  const std::array<std::tuple<const char*, int64_t, int64_t, int64_t*>, 7>
      dimensions = {{
          {"img_size", proto.img_size(), 224, &config.img_size},
          {"patch_size", proto.patch_size(), 16, &config.patch_size},
          {"num_frames", proto.num_frames(), 16, &config.num_frames},
          {"tubelet_size", proto.tubelet_size(), 2, &config.tubelet_size},
          {"embed_dim", proto.embed_dim(), preset ? preset->embed_dim : 0,
           &config.embed_dim},
          {"depth", proto.depth(), preset ? preset->depth : 0, &config.depth},
          {"num_heads", proto.num_heads(), preset ? preset->num_heads : 0,
           &config.num_heads},
      }};
  for (const auto& [field, value, fallback, out] : dimensions) {
    absl::StatusOr<int64_t> resolved =
        ConfigDimension(kSection, field, value, fallback);
    if (!resolved.ok()) return resolved.status();
    *out = *resolved;
  }
  if (absl::Status s =
          CheckDivisible(kSection, "num_heads", config.embed_dim,
                         config.num_heads, std::to_string(config.num_heads));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckDivisible(
          kSection, "img_size", config.img_size, config.patch_size,
          absl::StrCat("patch_size ", config.patch_size));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckDivisible(
          kSection, "num_frames", config.num_frames, config.tubelet_size,
          absl::StrCat("tubelet_size ", config.tubelet_size));
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<int64_t>> stem =
      ResolveConvStemChannels(kSection, "conv_stem_channels",
                              proto.conv_stem_channels(), config.patch_size);
  if (!stem.ok()) return stem.status();
  config.conv_stem_channels = *std::move(stem);
  return absl::OkStatus();
}

absl::Status ResolveBlocks(const MaskedVideoEncoderConfig& proto,
                           VideoMaeConfig& config) {
  if (proto.mlp_ratio() < 0) {
    return InvalidField(kSection, "mlp_ratio",
                        absl::StrCat(proto.mlp_ratio(), " < 0"));
  }
  if (proto.mlp_ratio() > 0) config.mlp_ratio = proto.mlp_ratio();
  if (proto.has_qkv_bias()) config.qkv_bias = proto.qkv_bias();
  if (proto.init_values() < 0) {
    return InvalidField(kSection, "init_values",
                        absl::StrCat(proto.init_values(), " < 0"));
  }
  config.init_values = proto.init_values();
  if (proto.drop_path_rate() < 0 || proto.drop_path_rate() >= 1) {
    return InvalidField(
        kSection, "drop_path_rate",
        absl::StrCat(proto.drop_path_rate(), " is not in [0, 1)"));
  }
  config.drop_path_rate = proto.drop_path_rate();
  return absl::OkStatus();
}

absl::Status ResolveHead(const MaskedVideoEncoderConfig& proto,
                         int num_class_names, VideoMaeConfig& config) {
  if (proto.has_use_mean_pooling()) {
    config.use_mean_pooling = proto.use_mean_pooling();
  }
  absl::StatusOr<int64_t> num_classes =
      ResolveNumClasses(kSection, proto.num_classes(), num_class_names);
  if (!num_classes.ok()) return num_classes.status();
  config.num_classes = *num_classes;
  if (proto.normalization() == PIXEL_NORMALIZATION_CLIP) {
    config.normalization = video::kClipNormalization;
  }
  const int sampled_frames = proto.sampling().num_frames();
  if (sampled_frames != 0 && sampled_frames != config.num_frames) {
    return InvalidField(
        kSection, "sampling.num_frames",
        absl::StrCat(sampled_frames, " differs from num_frames ",
                     config.num_frames));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<VideoMaeConfig> ResolveVideoMaeConfig(
    const MaskedVideoEncoderConfig& proto, int num_class_names) {
  absl::StatusOr<const Preset*> preset = FindPreset(proto.preset());
  if (!preset.ok()) return preset.status();
  VideoMaeConfig config;
  if (absl::Status s = ResolveShape(proto, *preset, config); !s.ok()) return s;
  if (absl::Status s = ResolveBlocks(proto, config); !s.ok()) return s;
  if (absl::Status s = ResolveHead(proto, num_class_names, config); !s.ok()) {
    return s;
  }
  if (proto.has_decoder()) {
    absl::StatusOr<PretrainDecoderConfig> decoder =
        ResolveDecoder(proto.decoder(), *preset, config);
    if (!decoder.ok()) return decoder.status();
    config.decoder = *decoder;
  }
  return config;
}

}  // namespace iv::model
