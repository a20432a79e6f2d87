#include "common/model/multimodal/config.h"

#include <array>
#include <string>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/model/config_fields.h"

namespace iv::model {
namespace {

using internvideo::v1::GlobalBranchConfig;
using internvideo::v1::MultimodalEncoderConfig;
using internvideo::v1::MultimodalVisionConfig;

// The official CLIP sizes (clip/model.py build_model on ViT-B/16 and
// ViT-L/14), plus the project's tiny model for SynthWorld on CPU.
struct Preset {
  const char* name;
  int64_t embed_dim;
  int64_t patch_size;
  int64_t vision_width;
  int64_t vision_layers;
  int64_t vision_heads;
  int64_t text_width;
  int64_t text_heads;
  int64_t text_layers;
  int64_t caption_layers;
};
constexpr std::array<Preset, 3> kPresets = {{
    {"tiny", 256, 16, 192, 6, 3, 256, 4, 4, 2},
    {"b16", 512, 16, 768, 12, 12, 512, 8, 12, 4},
    {"l14", 768, 14, 1024, 24, 16, 768, 12, 12, 4},
}};

constexpr absl::string_view kSection = "multimodal_encoder";

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

// Resolves each (field, proto value, fallback, destination) in order.
template <size_t N>
absl::Status ResolveDimensions(
    const std::array<std::tuple<const char*, int64_t, int64_t, int64_t*>, N>&
        dimensions) {
  for (const auto& [field, value, fallback, out] : dimensions) {
    absl::StatusOr<int64_t> resolved =
        ConfigDimension(kSection, field, value, fallback);
    if (!resolved.ok()) return resolved.status();
    *out = *resolved;
  }
  return absl::OkStatus();
}

absl::Status ResolveVision(const MultimodalEncoderConfig& proto,
                           const Preset* preset, MultimodalConfig& config) {
  const auto& vision = proto.vision();
  ClipVisionOptions& out = config.vision;
  const std::array<std::tuple<const char*, int64_t, int64_t, int64_t*>, 6>
      dimensions = {{
          {"vision.input_resolution", vision.input_resolution(), 224,
           &out.input_resolution},
          {"vision.patch_size", vision.patch_size(),
           preset ? preset->patch_size : 0, &out.patch_size},
          {"vision.width", vision.width(), preset ? preset->vision_width : 0,
           &out.width},
          {"vision.layers", vision.layers(), preset ? preset->vision_layers : 0,
           &out.layers},
          {"vision.heads", vision.heads(), preset ? preset->vision_heads : 0,
           &out.heads},
          {"vision.num_frames", vision.num_frames(), 8, &out.num_frames},
      }};
  if (absl::Status s = ResolveDimensions(dimensions); !s.ok()) return s;
  if (vision.output_dim() != 0 && vision.output_dim() != config.embed_dim) {
    return InvalidField(
        kSection, "vision.output_dim",
        absl::StrCat(vision.output_dim(), " differs from embed_dim ",
                     config.embed_dim));
  }
  const int sampled_frames = vision.sampling().num_frames();
  if (sampled_frames != 0 && sampled_frames != out.num_frames) {
    return InvalidField(
        kSection, "vision.sampling.num_frames",
        absl::StrCat(sampled_frames, " differs from num_frames ",
                     out.num_frames));
  }
  if (absl::Status s = CheckDivisible(kSection, "vision.heads", out.width,
                                      out.heads, std::to_string(out.heads));
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<int64_t>> stem =
      ResolveConvStemChannels(kSection, "vision.conv_stem_channels",
                              vision.conv_stem_channels(), out.patch_size);
  if (!stem.ok()) return stem.status();
  out.conv_stem_channels = *std::move(stem);
  return CheckDivisible(kSection, "vision.input_resolution",
                        out.input_resolution, out.patch_size,
                        absl::StrCat("patch_size ", out.patch_size));
}

absl::Status ResolveGlobalBranch(const GlobalBranchConfig& proto,
                                 ClipVisionOptions& vision) {
  GlobalBranchOptions& out = vision.global_branch;
  const std::string prefix = "vision.global_branch.";
  const std::array<std::tuple<const char*, int64_t, int64_t, int64_t*>, 2>
      dimensions = {{
          {"vision.global_branch.n_layers", proto.n_layers(), 4, &out.n_layers},
          {"vision.global_branch.n_head", proto.n_head(), vision.heads,
           &out.n_head},
      }};
  if (absl::Status s = ResolveDimensions(dimensions); !s.ok()) return s;
  if (proto.n_dim() != 0 && proto.n_dim() != vision.width) {
    return InvalidField(
        kSection, prefix + "n_dim",
        absl::StrCat(proto.n_dim(), " differs from vision width ",
                     vision.width));
  }
  if (proto.mlp_factor() < 0) {
    return InvalidField(kSection, prefix + "mlp_factor",
                        absl::StrCat(proto.mlp_factor(), " < 0"));
  }
  if (proto.mlp_factor() > 0) out.mlp_factor = proto.mlp_factor();
  out.balance = proto.balance();
  if (out.n_layers > vision.layers) {
    return InvalidField(kSection, prefix + "n_layers",
                        absl::StrCat(out.n_layers, " exceeds the ",
                                     vision.layers, " vision layers"));
  }
  if (proto.return_list_size() == 0) {
    for (int64_t i = vision.layers - out.n_layers; i < vision.layers; ++i) {
      out.return_list.push_back(i);
    }
  } else {
    out.return_list.assign(proto.return_list().begin(),
                           proto.return_list().end());
  }
  if (static_cast<int64_t>(out.return_list.size()) != out.n_layers) {
    return InvalidField(kSection, prefix + "return_list",
                        absl::StrCat(out.return_list.size(), " entries for ",
                                     out.n_layers, " extractor layers"));
  }
  for (size_t i = 0; i < out.return_list.size(); ++i) {
    const int64_t layer = out.return_list[i];
    // Increasing, because extractor layer j reads the backbone after layer
    // return_list[j] in one pass over the backbone.
    if (layer < 0 || layer >= vision.layers ||
        (i > 0 && layer <= out.return_list[i - 1])) {
      return InvalidField(kSection, prefix + "return_list",
                          absl::StrCat("must increase within [0, ",
                                       vision.layers, "); got ", layer));
    }
  }
  return CheckDivisible(kSection, prefix + "n_head", vision.width, out.n_head,
                        std::to_string(out.n_head));
}

absl::Status ResolveText(const MultimodalEncoderConfig& proto,
                         const Preset* preset, ClipTextOptions& out) {
  const auto& text = proto.text();
  const std::array<std::tuple<const char*, int64_t, int64_t, int64_t*>, 5>
      dimensions = {{
          {"text.context_length", text.context_length(), 77,
           &out.context_length},
          {"text.vocab_size", text.vocab_size(), 49408, &out.vocab_size},
          {"text.width", text.width(), preset ? preset->text_width : 0,
           &out.width},
          {"text.heads", text.heads(), preset ? preset->text_heads : 0,
           &out.heads},
          {"text.layers", text.layers(), preset ? preset->text_layers : 0,
           &out.layers},
      }};
  if (absl::Status s = ResolveDimensions(dimensions); !s.ok()) return s;
  return CheckDivisible(kSection, "text.heads", out.width, out.heads,
                        std::to_string(out.heads));
}

absl::StatusOr<CaptionDecoderOptions> ResolveCaptionDecoder(
    const internvideo::v1::CaptionDecoderConfig& proto, const Preset* preset,
    const ClipTextOptions& text) {
  CaptionDecoderOptions out;
  // The official decoder's layer count (config.py clip_cap_decoder_n_layers)
  // is the same for every size.
  const std::array<std::tuple<const char*, int64_t, int64_t, int64_t*>, 4>
      dimensions = {{
          {"caption_decoder.layers", proto.layers(),
           preset ? preset->caption_layers : 0, &out.layers},
          {"caption_decoder.width", proto.width(), text.width, &out.width},
          {"caption_decoder.heads", proto.heads(), text.heads, &out.heads},
          {"caption_decoder.max_length", proto.max_length(), 32,
           &out.max_length},
      }};
  if (absl::Status s = ResolveDimensions(dimensions); !s.ok()) return s;
  if (out.max_length > text.context_length) {
    return InvalidField(
        kSection, "caption_decoder.max_length",
        absl::StrCat(out.max_length, " exceeds the context length ",
                     text.context_length));
  }
  // The decoder reads the text encoder's token features.
  if (out.width != text.width) {
    return InvalidField(
        kSection, "caption_decoder.width",
        absl::StrCat(out.width, " differs from the text width ", text.width));
  }
  if (absl::Status s =
          CheckDivisible(kSection, "caption_decoder.heads", out.width,
                         out.heads, std::to_string(out.heads));
      !s.ok()) {
    return s;
  }
  return out;
}

}  // namespace

absl::StatusOr<MultimodalConfig> ResolveMultimodalConfig(
    const MultimodalEncoderConfig& proto) {
  absl::StatusOr<const Preset*> preset = FindPreset(proto.preset());
  if (!preset.ok()) return preset.status();
  MultimodalConfig config;
  absl::StatusOr<int64_t> embed_dim =
      ConfigDimension(kSection, "embed_dim", proto.embed_dim(),
                      *preset ? (*preset)->embed_dim : 0);
  if (!embed_dim.ok()) return embed_dim.status();
  config.embed_dim = *embed_dim;
  if (absl::Status s = ResolveVision(proto, *preset, config); !s.ok()) return s;
  if (absl::Status s =
          ResolveGlobalBranch(proto.vision().global_branch(), config.vision);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ResolveText(proto, *preset, config.text); !s.ok()) {
    return s;
  }
  if (proto.has_caption_decoder()) {
    absl::StatusOr<CaptionDecoderOptions> decoder =
        ResolveCaptionDecoder(proto.caption_decoder(), *preset, config.text);
    if (!decoder.ok()) return decoder.status();
    config.caption_decoder = *decoder;
  }
  return config;
}

}  // namespace iv::model
