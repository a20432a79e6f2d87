#include "common/model/arch/multimodal_arch.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/model/arch/arch_helpers.h"
#include "common/model/checkpoint/torch_checkpoint.h"
#include "common/model/multimodal/caption_decoder.h"
#include "common/model/multimodal/clip_model.h"
#include "common/model/multimodal/config.h"

namespace iv::model {
namespace {

using arch_internal::CountBlocks;
using arch_internal::CountParameters;
using arch_internal::Find;
using arch_internal::Guarded;
using arch_internal::Missing;
using arch_internal::Shape;
using arch_internal::TextInput;
using arch_internal::VideoInput;
using internvideo::v1::ModelConfig;
using internvideo::v1::MultimodalEncoderConfig;

// Heads are not in the checkpoint: CLIP's are 64 channels wide (ViT-B/16
// 768/12, ViT-L/14 1024/16, the text towers 512/8 and 768/12), and the
// official build_model gives the extractor layers the backbone's heads.
constexpr int64_t kHeadWidth = 64;
// build_model's extractor layers, on the last backbone layers.
constexpr int64_t kOfficialExtractorLayers = 4;
constexpr double kOfficialMlpFactor = 4.0;
// CaptionDecoder's num_visual_queries, which the config does not carry.
constexpr int64_t kOfficialVisualQueries = 256;
// The caption length is not in the weights (rotary positions): the
// config's default, capped by the context length.
constexpr int64_t kCaptionMaxLength = 32;

// InternVideo-MM's demo resizes to 256 and crops 224.
constexpr int64_t kDemoShortSide = 256;
constexpr int64_t kDemoCrop = 224;

constexpr absl::string_view kLightningPrefix = "clip.";
constexpr absl::string_view kDecoderPrefix = "caption_decoder.";
// Sizes that OpenAI's JIT archives keep among the weights (build_model
// deletes them).
constexpr const char* kClipSizeEntries[] = {"input_resolution",
                                            "context_length", "vocab_size"};

// What an OpenAI CLIP file lacks and keeps its initialization: the
// UniFormerV2 global branch and the masked-language-modeling embedding.
bool KeepsInitialization(absl::string_view name) {
  return name == "text_mask_embedding" ||
         name == "visual.transformer.temporal_cls_token" ||
         name == "visual.transformer.balance" ||
         absl::StartsWith(name, "visual.transformer.dpe.") ||
         absl::StartsWith(name, "visual.transformer.dec.");
}

// Whether normalized `weights` are an OpenAI CLIP model's: none of the
// weights only InternVideo-MM has.
bool IsClipLayout(const NamedTensors& weights) {
  return std::none_of(weights.begin(), weights.end(), [](const auto& entry) {
    return KeepsInitialization(entry.first);
  });
}

bool HasPrefix(const NamedTensors& weights, absl::string_view prefix) {
  return std::any_of(weights.begin(), weights.end(), [&](const auto& entry) {
    return absl::StartsWith(entry.first, prefix);
  });
}

absl::Status Misshapen(const std::string& name, const std::string& layout,
                       const torch::Tensor& tensor) {
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": ", layout, " expected, got ", Shape(tensor)));
}

absl::StatusOr<int64_t> Heads(int64_t width, const std::string& name) {
  if (width % kHeadWidth != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": width ", width, " is not a multiple of ",
                     kHeadWidth, " (CLIP's head width)"));
  }
  return width / kHeadWidth;
}

class MultimodalModel : public LoadedModel {
 public:
  MultimodalModel(InternVideoClip clip, CaptionDecoder decoder,
                  MultimodalConfig config)
      : clip_(std::move(clip)),
        decoder_(std::move(decoder)),
        config_(std::move(config)) {
    clip_->eval();
    if (!decoder_.is_empty()) decoder_->eval();
  }

  int64_t ParameterCount() const override {
    return CountParameters(*clip_) +
           (decoder_.is_empty() ? 0 : CountParameters(*decoder_));
  }

  absl::Status UseTokenizer(int64_t vocab_size) override {
    if (vocab_size != config_.text.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("text_tokens: the tokenizer (--vocab) has ", vocab_size,
                       " ids, the model's text encoder ",
                       config_.text.vocab_size, " (a different vocabulary)"));
    }
    tokenizer_vocab_size_ = vocab_size;
    return absl::OkStatus();
  }

  absl::StatusOr<NamedTensors> Forward(
      const std::map<std::string, torch::Tensor>& inputs) override {
    const bool has_video = inputs.count("video") != 0;
    if (!has_video && inputs.count("text_tokens") == 0) {
      return absl::InvalidArgumentError(
          "the input has neither a \"video\" nor a \"text_tokens\" tensor");
    }
    torch::Tensor video;
    if (has_video) {
      absl::StatusOr<torch::Tensor> checked = Video(inputs);
      if (!checked.ok()) return checked.status();
      video = *checked;
    }
    absl::StatusOr<std::optional<torch::Tensor>> text =
        tokenizer_vocab_size_.has_value()
            ? TextInput(inputs, config_.text, *tokenizer_vocab_size_,
                        "the tokenizer (--vocab)")
            : TextInput(inputs, config_.text, config_.text.vocab_size,
                        "the model's vocabulary");
    if (!text.ok()) return text.status();
    return Guarded([&]() -> NamedTensors {
      NamedTensors outputs;
      if (video.defined()) {
        outputs.push_back({"video_embeds", clip_->EncodeVideo(video)});
      }
      if (text->has_value()) {
        outputs.push_back({"text_embeds", clip_->EncodeText(**text)});
      }
      return outputs;
    });
  }

 private:
  // The clip, whose frames must give the positional embedding's patches.
  absl::StatusOr<torch::Tensor> Video(
      const std::map<std::string, torch::Tensor>& inputs) const {
    absl::StatusOr<torch::Tensor> video = VideoInput(inputs);
    if (!video.ok()) return video.status();
    const ClipVisionOptions& vision = config_.vision;
    if (video->size(2) < 1 || video->size(3) != vision.input_resolution ||
        video->size(4) != vision.input_resolution) {
      return absl::InvalidArgumentError(absl::StrCat(
          "video: ", Shape(*video), ": T >= 1 and H = W = ",
          vision.input_resolution, " expected (the positional embedding's ",
          vision.input_resolution / vision.patch_size, "x",
          vision.input_resolution / vision.patch_size, " patches of ",
          vision.patch_size, ")"));
    }
    return video;
  }

  InternVideoClip clip_;
  CaptionDecoder decoder_;  // empty without one
  MultimodalConfig config_;
  std::optional<int64_t> tokenizer_vocab_size_;
};

class MultimodalArch : public Arch {
 public:
  MultimodalArch(std::string name, std::string preset)
      : name_(std::move(name)), preset_(std::move(preset)) {
    MultimodalEncoderConfig proto;
    proto.set_preset(preset_);
    preset_config_ = *ResolveMultimodalConfig(proto);
  }

  const std::string& name() const override { return name_; }
  bool UsesText() const override { return true; }
  internvideo::v1::ModelPart part() const override {
    return internvideo::v1::MODEL_PART_MULTIMODAL_ENCODER;
  }

  absl::Status NormalizeNames(NamedTensors& weights) const override {
    if (absl::Status s = ReplacePrefix("module.", "", &weights); !s.ok()) {
      return s;
    }
    if (HasPrefix(weights, kLightningPrefix)) {
      // A Lightning checkpoint: the model under `clip.`, its caption
      // decoder beside it; the official load_model keeps only the model.
      NamedTensors kept;
      for (auto& [name, tensor] : weights) {
        if (absl::StartsWith(name, kLightningPrefix) ||
            absl::StartsWith(name, kDecoderPrefix)) {
          kept.emplace_back(name, tensor);
        }
      }
      if (absl::Status s = ReplacePrefix(kLightningPrefix, "", &kept);
          !s.ok()) {
        return s;
      }
      weights = std::move(kept);
      return absl::OkStatus();
    }
    return NormalizeClipNames(weights);
  }

  bool Matches(const NamedTensors& weights) const override {
    const torch::Tensor* conv1 = Find(weights, "visual.conv1.weight");
    return conv1 != nullptr && conv1->dim() == 5 &&
           Find(weights, "token_embedding.weight") != nullptr &&
           conv1->size(0) == preset_config_.vision.width &&
           conv1->size(4) == preset_config_.vision.patch_size;
  }

  absl::StatusOr<ModelConfig> InferConfig(
      const NamedTensors& weights) const override {
    absl::StatusOr<const torch::Tensor*> conv1 =
        Require(weights, "visual.conv1.weight", 5);
    if (!conv1.ok()) return conv1.status();
    const int64_t width = (*conv1)->size(0);
    const int64_t patch = (*conv1)->size(4);
    if ((*conv1)->size(1) != 3 || (*conv1)->size(2) != 1 ||
        (*conv1)->size(3) != patch) {
      return Misshapen("visual.conv1.weight", "[width,3,1,patch,patch]",
                       **conv1);
    }
    absl::StatusOr<const torch::Tensor*> positions =
        Require(weights, "visual.positional_embedding", 2);
    if (!positions.ok()) return positions.status();
    const auto grid = static_cast<int64_t>(
        std::lround(std::sqrt((*positions)->size(0) - 1.0)));
    if (grid * grid + 1 != (*positions)->size(0) ||
        (*positions)->size(1) != width) {
      return Misshapen("visual.positional_embedding",
                       absl::StrCat("[1+grid*grid,", width, "]"), **positions);
    }
    absl::StatusOr<const torch::Tensor*> tokens =
        Require(weights, "token_embedding.weight", 2);
    if (!tokens.ok()) return tokens.status();
    const int64_t text_width = (*tokens)->size(1);
    absl::StatusOr<const torch::Tensor*> context =
        Require(weights, "positional_embedding", 2);
    if (!context.ok()) return context.status();
    if ((*context)->size(1) != text_width) {
      return Misshapen("positional_embedding",
                       absl::StrCat("[context,", text_width, "]"), **context);
    }
    absl::StatusOr<const torch::Tensor*> text_projection =
        Require(weights, "text_projection", 2);
    if (!text_projection.ok()) return text_projection.status();
    const int64_t embed_dim = (*text_projection)->size(1);
    if ((*text_projection)->size(0) != text_width) {
      return Misshapen("text_projection",
                       absl::StrCat("[", text_width, ",embed_dim]"),
                       **text_projection);
    }
    absl::StatusOr<const torch::Tensor*> visual_proj =
        Require(weights, "visual_proj", 2);
    if (!visual_proj.ok()) return visual_proj.status();
    if ((*visual_proj)->size(0) != width ||
        (*visual_proj)->size(1) != embed_dim) {
      return Misshapen("visual_proj",
                       absl::StrCat("[", width, ",", embed_dim,
                                    "] (embed_dim of "
                                    "text_projection)"),
                       **visual_proj);
    }
    const int64_t layers =
        CountBlocks(weights, "visual.transformer.resblocks.");
    if (layers == 0) return Missing("visual.transformer.resblocks.0.*", name_);
    const int64_t text_layers = CountBlocks(weights, "transformer.resblocks.");
    if (text_layers == 0) return Missing("transformer.resblocks.0.*", name_);
    absl::StatusOr<int64_t> heads = Heads(width, "visual.conv1.weight");
    if (!heads.ok()) return heads.status();
    absl::StatusOr<int64_t> text_heads =
        Heads(text_width, "token_embedding.weight");
    if (!text_heads.ok()) return text_heads.status();

    ModelConfig config;
    config.set_name(name_);
    MultimodalEncoderConfig& encoder = *config.mutable_multimodal_encoder();
    encoder.set_preset(preset_);
    encoder.set_embed_dim(embed_dim);
    auto& vision = *encoder.mutable_vision();
    vision.set_input_resolution(grid * patch);
    vision.set_patch_size(patch);
    vision.set_width(width);
    vision.set_layers(layers);
    vision.set_heads(*heads);
    // What InternVideo-MM's demo (load_video) feeds the model: 8 frames at
    // np.linspace, Pillow-resized to a short side of 256 (for 224-pixel
    // inputs) and centre-cropped.
    auto& sampling = *vision.mutable_sampling();
    sampling.set_mode(internvideo::v1::ClipSampling::MODE_LINSPACE);
    sampling.set_resize(internvideo::v1::ClipSampling::RESIZE_PILLOW_BILINEAR);
    sampling.set_short_side(
        static_cast<int32_t>(grid * patch * kDemoShortSide / kDemoCrop));
    auto& branch = *vision.mutable_global_branch();
    int64_t extractors = CountBlocks(weights, "visual.transformer.dec.");
    if (extractors == 0) {
      extractors = std::min(kOfficialExtractorLayers, layers);
    } else if (const torch::Tensor* fc =
                   Find(weights, "visual.transformer.dec.0.mlp.c_fc.weight");
               fc != nullptr && fc->dim() == 2) {
      const double factor = static_cast<double>(fc->size(0)) / width;
      if (factor != kOfficialMlpFactor) branch.set_mlp_factor(factor);
    }
    branch.set_n_layers(extractors);
    branch.set_n_head(*heads);
    auto& text = *encoder.mutable_text();
    text.set_context_length((*context)->size(0));
    text.set_vocab_size((*tokens)->size(0));
    text.set_width(text_width);
    text.set_heads(*text_heads);
    text.set_layers(text_layers);
    if (HasPrefix(weights, kDecoderPrefix)) {
      if (absl::Status s = InferCaptionDecoder(weights, encoder); !s.ok()) {
        return s;
      }
    }
    absl::StatusOr<MultimodalConfig> resolved =
        ResolveMultimodalConfig(encoder);
    if (!resolved.ok()) return resolved.status();
    return config;
  }

  std::vector<std::pair<std::string, std::string>> LoadNotes(
      const NamedTensors& weights) const override {
    if (!IsClipLayout(weights)) return {};
    return {{"initialized",
             "an OpenAI CLIP file: text_mask_embedding and the UniFormerV2 "
             "global branch (visual.transformer.temporal_cls_token, "
             "balance, dpe.*, dec.*) are absent and keep their official "
             "initialization, under which the branch is the identity"}};
  }

  absl::StatusOr<std::unique_ptr<LoadedModel>> Load(
      const ModelConfig& config, const NamedTensors& weights) const override {
    if (!config.has_multimodal_encoder()) {
      return absl::InvalidArgumentError(
          absl::StrCat("multimodal_encoder: ", name_, " needs one"));
    }
    absl::StatusOr<MultimodalConfig> resolved =
        ResolveMultimodalConfig(config.multimodal_encoder());
    if (!resolved.ok()) return resolved.status();
    try {
      InternVideoClip clip(*resolved);
      NamedTensors clip_weights;
      NamedTensors decoder_weights;
      for (const auto& [name, tensor] : weights) {
        if (resolved->caption_decoder.has_value() &&
            absl::StartsWith(name, kDecoderPrefix)) {
          decoder_weights.emplace_back(name.substr(kDecoderPrefix.size()),
                                       tensor);
        } else {
          clip_weights.emplace_back(name, tensor);
        }
      }
      if (IsClipLayout(clip_weights)) {
        // Only these may be missing: they load as they are.
        for (const auto& [name, tensor] : StateDict(*clip)) {
          if (KeepsInitialization(name))
            clip_weights.emplace_back(name, tensor);
        }
      }
      absl::StatusOr<LoadReport> loaded = LoadStateDict(*clip, clip_weights);
      if (!loaded.ok()) return loaded.status();
      CaptionDecoder decoder{nullptr};
      if (resolved->caption_decoder.has_value()) {
        decoder =
            CaptionDecoder(*resolved->caption_decoder, resolved->vision.width,
                           resolved->text.vocab_size);
        loaded = LoadStateDict(*decoder, decoder_weights);
        if (!loaded.ok()) {
          return absl::Status(loaded.status().code(),
                              absl::StrCat("caption decoder (", kDecoderPrefix,
                                           "*): ", loaded.status().message()));
        }
      }
      return std::make_unique<MultimodalModel>(clip, decoder, *resolved);
    } catch (const c10::Error& error) {
      return absl::InternalError(error.what_without_backtrace());
    }
  }

 private:
  // The weight `name` of rank `dim`, or INVALID_ARGUMENT.
  absl::StatusOr<const torch::Tensor*> Require(const NamedTensors& weights,
                                               const std::string& name,
                                               int64_t dim) const {
    const torch::Tensor* tensor = Find(weights, name);
    if (tensor == nullptr) return Missing(name, name_);
    if (tensor->dim() != dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": ", dim, " dimensions expected, got ", Shape(*tensor)));
    }
    return tensor;
  }

  // OpenAI CLIP's names of the video tower's head and its 2D patch
  // embedding, to ours.
  static absl::Status NormalizeClipNames(NamedTensors& weights) {
    if (Find(weights, "visual.proj") != nullptr &&
        Find(weights, "visual_proj") != nullptr) {
      return absl::InvalidArgumentError(
          "both visual.proj and visual_proj: two models in one file?");
    }
    if (absl::Status s =
            ReplacePrefix("visual.ln_post.", "visual_ln_post.", &weights);
        !s.ok()) {
      return s;
    }
    NamedTensors renamed;
    for (auto& [name, tensor] : weights) {
      if (tensor.dim() == 0 &&
          std::find(std::begin(kClipSizeEntries), std::end(kClipSizeEntries),
                    name) != std::end(kClipSizeEntries)) {
        continue;
      }
      if (name == "visual.proj") {
        renamed.emplace_back("visual_proj", tensor);
      } else if (name == "visual.conv1.weight" && tensor.dim() == 4) {
        // Conv2d [w,3,p,p] -> Conv3d [w,3,1,p,p] (inflate_weight of one
        // frame).
        renamed.emplace_back(name, tensor.unsqueeze(2));
      } else {
        renamed.emplace_back(name, tensor);
      }
    }
    weights = std::move(renamed);
    return absl::OkStatus();
  }

  absl::Status InferCaptionDecoder(const NamedTensors& weights,
                                   MultimodalEncoderConfig& encoder) const {
    const std::string prefix(kDecoderPrefix);
    absl::StatusOr<const torch::Tensor*> norm =
        Require(weights, prefix + "text_norm.weight", 1);
    if (!norm.ok()) return norm.status();
    absl::StatusOr<const torch::Tensor*> to_kv =
        Require(weights, prefix + "visual_attn_pooler.to_kv.weight", 2);
    if (!to_kv.ok()) return to_kv.status();
    absl::StatusOr<const torch::Tensor*> queries =
        Require(weights, prefix + "visual_queries", 2);
    if (!queries.ok()) return queries.status();
    const int64_t width = (*norm)->size(0);
    const int64_t head_width = (*to_kv)->size(0) / 2;
    if (head_width == 0 || (*to_kv)->size(0) % 2 != 0 ||
        width % head_width != 0) {
      return Misshapen(prefix + "visual_attn_pooler.to_kv.weight",
                       absl::StrCat("[2*head_width,vision_width] with "
                                    "head_width dividing ",
                                    width),
                       **to_kv);
    }
    if ((*queries)->size(0) != kOfficialVisualQueries) {
      return Misshapen(prefix + "visual_queries",
                       absl::StrCat("[", kOfficialVisualQueries, ",", width,
                                    "] (the official query count)"),
                       **queries);
    }
    auto& decoder = *encoder.mutable_caption_decoder();
    decoder.set_layers(CountBlocks(weights, prefix + "multimodal_layers."));
    decoder.set_width(width);
    decoder.set_heads(width / head_width);
    decoder.set_max_length(
        std::min<int64_t>(kCaptionMaxLength, encoder.text().context_length()));
    return absl::OkStatus();
  }

  std::string name_;
  std::string preset_;
  MultimodalConfig preset_config_;
};

}  // namespace

std::vector<const Arch*> MultimodalArches() {
  static const auto* const arches = new std::vector<MultimodalArch>{
      {"internvideo-mm-b16", "b16"},
      {"internvideo-mm-l14", "l14"},
  };
  std::vector<const Arch*> pointers;
  for (const MultimodalArch& arch : *arches) pointers.push_back(&arch);
  return pointers;
}

}  // namespace iv::model
