#include "common/model/internvideo/internvideo_model.h"

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace iv::model {

using internvideo::v1::FeatureSource;
using internvideo::v1::ModelConfig;
using internvideo::v1::ModelPart;

namespace {

// The width of `source`'s clip features (pooled) or tokens, or
// INVALID_ARGUMENT naming `field` when the model lacks that part.
absl::StatusOr<int64_t> SourceDim(const InternVideoConfig& config,
                                  FeatureSource source,
                                  const std::string& field, bool pooled) {
  switch (source) {
    case internvideo::v1::FEATURE_SOURCE_MASKED_ENCODER:
      if (config.masked_encoder && !config.masked_encoder->decoder) {
        return config.masked_encoder->embed_dim;
      }
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": needs a masked_encoder without a pretraining decoder"));
    case internvideo::v1::FEATURE_SOURCE_MULTIMODAL_ENCODER:
      if (config.multimodal) return config.multimodal->vision.width;
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": the model has no multimodal_encoder"));
    case internvideo::v1::FEATURE_SOURCE_CMA:
      if (config.cma) return (pooled ? 2 : 1) * config.cma->width;
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": the model has no cma"));
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": unknown feature source"));
  }
}

absl::Status ResolveHeads(InternVideoConfig& config) {
  const ModelConfig& proto = config.proto;
  if (config.multimodal && config.multimodal->caption_decoder) {
    FeatureSource source =
        proto.multimodal_encoder().caption_decoder().video_features();
    if (source == internvideo::v1::FEATURE_SOURCE_UNSPECIFIED) {
      source = internvideo::v1::FEATURE_SOURCE_MULTIMODAL_ENCODER;
    }
    absl::StatusOr<int64_t> dim = SourceDim(
        config, source, "multimodal_encoder.caption_decoder.video_features",
        /*pooled=*/false);
    if (!dim.ok()) return dim.status();
    config.caption_features = source;
    config.caption_vision_width = *dim;
  }
  if (proto.has_localization_head()) {
    FeatureSource source = proto.localization_head().feature_source();
    if (source == internvideo::v1::FEATURE_SOURCE_UNSPECIFIED) {
      source = config.cma ? internvideo::v1::FEATURE_SOURCE_CMA
               : config.masked_encoder
                   ? internvideo::v1::FEATURE_SOURCE_MASKED_ENCODER
                   : internvideo::v1::FEATURE_SOURCE_MULTIMODAL_ENCODER;
    }
    absl::StatusOr<int64_t> dim = SourceDim(
        config, source, "localization_head.feature_source", /*pooled=*/true);
    if (!dim.ok()) return dim.status();
    absl::StatusOr<LocalizationConfig> head = ResolveLocalizationConfig(
        proto.localization_head(), source, *dim, proto.class_names_size());
    if (!head.ok()) return head.status();
    config.localization = *head;
  }
  if (proto.has_vqa_head()) {
    if (!config.multimodal) {
      return absl::InvalidArgumentError(
          "vqa_head: needs multimodal_encoder (its text encoder reads the "
          "question)");
    }
    FeatureSource source = proto.vqa_head().video_features();
    if (source == internvideo::v1::FEATURE_SOURCE_UNSPECIFIED) {
      source = internvideo::v1::FEATURE_SOURCE_MULTIMODAL_ENCODER;
    }
    absl::StatusOr<int64_t> dim =
        SourceDim(config, source, "vqa_head.video_features", /*pooled=*/false);
    if (!dim.ok()) return dim.status();
    absl::StatusOr<VqaConfig> head = ResolveVqaConfig(
        proto.vqa_head(), source, *dim, config.multimodal->text.width,
        config.multimodal->text.heads);
    if (!head.ok()) return head.status();
    config.vqa = *head;
  }
  if (proto.has_attribute_head()) {
    if (!config.masked_encoder) {
      return absl::InvalidArgumentError(
          "attribute_head: needs masked_encoder (it reads its features)");
    }
    absl::StatusOr<AttributeConfig> head = ResolveAttributeConfig(
        proto.attribute_head(), config.masked_encoder->embed_dim);
    if (!head.ok()) return head.status();
    config.attributes = *head;
  }
  return absl::OkStatus();
}

}  // namespace

video::Normalization MaskedNormalization(const InternVideoConfig& config) {
  return config.masked_encoder ? config.masked_encoder->normalization
                               : video::kImageNetNormalization;
}

video::ClipInput ClipInputOf(const InternVideoConfig& config) {
  video::ClipInput input;
  if (config.multimodal) {
    const ClipVisionOptions& vision = config.multimodal->vision;
    input.num_frames = static_cast<int>(vision.num_frames);
    input.size = static_cast<int>(vision.input_resolution);
    input.patch_size = static_cast<int>(vision.patch_size);
    input.normalization = MultimodalNormalization(config);
    input.sampling = config.proto.multimodal_encoder().vision().sampling();
  } else {
    input.num_frames = static_cast<int>(config.masked_encoder->num_frames);
    input.size = static_cast<int>(config.masked_encoder->img_size);
    input.patch_size = static_cast<int>(config.masked_encoder->patch_size);
    input.normalization = MaskedNormalization(config);
    input.sampling = config.proto.masked_encoder().sampling();
  }
  return input;
}

video::Normalization MultimodalNormalization(const InternVideoConfig& config) {
  switch (config.proto.multimodal_encoder().vision().normalization()) {
    case internvideo::v1::PIXEL_NORMALIZATION_IMAGENET:
      return video::kImageNetNormalization;
    default:
      return video::kClipNormalization;
  }
}

absl::StatusOr<InternVideoConfig> ResolveInternVideoConfig(
    const ModelConfig& proto) {
  InternVideoConfig config;
  config.proto = proto;
  if (proto.has_masked_encoder()) {
    absl::StatusOr<VideoMaeConfig> masked =
        ResolveVideoMaeConfig(proto.masked_encoder(), proto.class_names_size());
    if (!masked.ok()) return masked.status();
    config.masked_encoder = *masked;
  }
  if (proto.has_multimodal_encoder()) {
    absl::StatusOr<MultimodalConfig> multimodal =
        ResolveMultimodalConfig(proto.multimodal_encoder());
    if (!multimodal.ok()) return multimodal.status();
    config.multimodal = *multimodal;
  }
  if (!config.masked_encoder && !config.multimodal) {
    return absl::InvalidArgumentError(
        "model: has no encoder (set masked_encoder or multimodal_encoder)");
  }
  // The platform cuts one clip for both encoders (ClipInputOf).
  if (config.masked_encoder && config.multimodal &&
      (config.masked_encoder->num_frames !=
           config.multimodal->vision.num_frames ||
       config.masked_encoder->img_size !=
           config.multimodal->vision.input_resolution)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.masked_encoder: reads ", config.masked_encoder->num_frames,
        " frames of ", config.masked_encoder->img_size,
        " px but multimodal_encoder.vision ",
        config.multimodal->vision.num_frames, " of ",
        config.multimodal->vision.input_resolution,
        " px; both encoders read the same clip, so make them equal"));
  }
  if (proto.has_cma()) {
    if (!config.masked_encoder || !config.multimodal) {
      return absl::InvalidArgumentError(
          "model.cma: needs both masked_encoder and multimodal_encoder");
    }
    CmaEncoderDims dims;
    dims.masked_embed_dim = config.masked_encoder->embed_dim;
    dims.masked_num_heads = config.masked_encoder->num_heads;
    dims.multimodal_width = config.multimodal->vision.width;
    dims.multimodal_embed_dim = config.multimodal->embed_dim;
    absl::StatusOr<CmaConfig> cma =
        ResolveCmaConfig(proto.cma(), dims, proto.class_names_size());
    if (!cma.ok()) return cma.status();
    config.cma = *cma;
  }
  if (absl::Status s = ResolveHeads(config); !s.ok()) return s;
  for (const auto& [name, options] : proto.heads()) {
    const std::string field = absl::StrCat("model.heads[", name, "]");
    const HeadPlugin* plugin = FindHeadPlugin(name);
    if (plugin == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": no head plug-in of that name is linked into this program",
          " (linked: ", absl::StrJoin(HeadPluginNames(), ", "), ")"));
    }
    if (absl::Status s = plugin->Validate(options, config, field); !s.ok()) {
      return s;
    }
  }
  return config;
}

torch::Tensor MultimodalContext(const GlobalTransformerOutput& visual) {
  const torch::Tensor& tokens = visual.tokens;  // [B, T, L, W]
  return torch::cat({visual.feature.unsqueeze(1),
                     tokens.reshape({tokens.size(0), -1, tokens.size(3)})},
                    1);
}

InternVideoModelImpl::InternVideoModelImpl(const InternVideoConfig& config)
    : config_(config) {
  if (config.masked_encoder) {
    if (config.masked_encoder->decoder) {
      masked_pretrain_ = register_module(
          "masked_encoder", PretrainVisionTransformer(*config.masked_encoder));
    } else {
      masked_encoder_ = register_module(
          "masked_encoder", VisionTransformer(*config.masked_encoder));
    }
  }
  if (config.multimodal) {
    multimodal_ = register_module("multimodal_encoder",
                                  InternVideoClip(*config.multimodal));
    if (config.multimodal->caption_decoder) {
      caption_decoder_ =
          register_module("caption_decoder",
                          CaptionDecoder(*config.multimodal->caption_decoder,
                                         config.caption_vision_width,
                                         config.multimodal->text.vocab_size));
    }
  }
  if (config.cma)
    cma_ = register_module("cma", CrossModelAttention(*config.cma));
  if (config.localization) {
    localization_head_ = register_module(
        "localization_head", LocalizationHead(*config.localization));
  }
  if (config.vqa) vqa_head_ = register_module("vqa_head", VqaHead(*config.vqa));
  if (config.attributes) {
    attribute_head_ =
        register_module("attribute_head", AttributeHead(*config.attributes));
  }
  if (!config.proto.heads().empty()) {
    plugin_heads_ = register_module("heads", torch::nn::ModuleDict());
    // Sorted, so parameters enumerate in the same order in every process.
    std::map<std::string, google::protobuf::Any> sorted(
        config.proto.heads().begin(), config.proto.heads().end());
    for (const auto& [name, options] : sorted) {
      plugin_heads_->update(
          {{name, FindHeadPlugin(name)->Build(options, config)}});
    }
  }
}

std::shared_ptr<torch::nn::Module> InternVideoModelImpl::plugin_head(
    const std::string& name) const {
  if (!plugin_heads_ || !plugin_heads_->contains(name)) return nullptr;
  return (*plugin_heads_)[name];
}

torch::Tensor InternVideoModelImpl::ClipFeatures(
    FeatureSource source, const torch::Tensor& masked_video,
    const torch::Tensor& multimodal_video) {
  switch (source) {
    case internvideo::v1::FEATURE_SOURCE_MASKED_ENCODER:
      return masked_encoder_->forward(masked_video).features;
    case internvideo::v1::FEATURE_SOURCE_MULTIMODAL_ENCODER:
      return multimodal_->Visual(multimodal_video).feature;
    case internvideo::v1::FEATURE_SOURCE_CMA: {
      const CmaOutput out = cma_->forward(
          masked_encoder_->Tokens(masked_video),
          MultimodalContext(multimodal_->Visual(multimodal_video)));
      return torch::cat({out.cls_features, out.pooled_features}, 1);
    }
    default:
      TORCH_CHECK(false, "ClipFeatures: unresolved feature source");
  }
}

torch::Tensor InternVideoModelImpl::VideoTokens(
    FeatureSource source, const torch::Tensor& masked_video,
    const torch::Tensor& multimodal_video) {
  switch (source) {
    case internvideo::v1::FEATURE_SOURCE_MASKED_ENCODER:
      return masked_encoder_->Tokens(masked_video);
    case internvideo::v1::FEATURE_SOURCE_MULTIMODAL_ENCODER:
      return MultimodalContext(multimodal_->Visual(multimodal_video));
    case internvideo::v1::FEATURE_SOURCE_CMA:
      return cma_
          ->forward(masked_encoder_->Tokens(masked_video),
                    MultimodalContext(multimodal_->Visual(multimodal_video)))
          .tokens;
    default:
      TORCH_CHECK(false, "VideoTokens: unresolved feature source");
  }
}

torch::Tensor InternVideoModelImpl::CaptionVideoTokens(
    const torch::Tensor& masked_video, const torch::Tensor& multimodal_video) {
  TORCH_CHECK(caption_decoder_, "the model has no caption decoder");
  if (config_.caption_features ==
      internvideo::v1::FEATURE_SOURCE_MULTIMODAL_ENCODER) {
    return multimodal_->Visual(multimodal_video).tokens;
  }
  return VideoTokens(config_.caption_features, masked_video, multimodal_video)
      .unsqueeze(1);
}

torch::Tensor InternVideoModelImpl::VqaLogits(
    const torch::Tensor& masked_video, const torch::Tensor& multimodal_video,
    const torch::Tensor& question_tokens) {
  TORCH_CHECK(vqa_head_, "the model has no VQA head");
  return vqa_head_(
      VideoTokens(config_.vqa->video_features, masked_video, multimodal_video),
      multimodal_->TextTokens(question_tokens), question_tokens.ne(0));
}

torch::Tensor InternVideoModelImpl::RecognitionLogits(
    const torch::Tensor& masked_video, const torch::Tensor& multimodal_video) {
  TORCH_CHECK(masked_encoder_, "the model has no finetuned masked encoder");
  if (!cma_) {
    torch::Tensor logits = masked_encoder_->forward(masked_video).logits;
    TORCH_CHECK(logits.defined(), "the masked encoder has no head");
    return logits;
  }
  return cma_
      ->forward(masked_encoder_->Tokens(masked_video),
                MultimodalContext(multimodal_->Visual(multimodal_video)))
      .logits;
}

torch::Tensor InternVideoModelImpl::VideoEmbeds(
    const torch::Tensor& masked_video, const torch::Tensor& multimodal_video) {
  TORCH_CHECK(multimodal_, "the model has no multimodal encoder");
  if (!EmbedsThroughCma()) return multimodal_->EncodeVideo(multimodal_video);
  return cma_
      ->forward(masked_encoder_->Tokens(masked_video),
                MultimodalContext(multimodal_->Visual(multimodal_video)))
      .video_embeds;
}

torch::Tensor InternVideoModelImpl::MaskedVideo(
    const torch::Tensor& clips) const {
  if (!config_.masked_encoder) return torch::Tensor();
  if (!config_.multimodal) return clips;  // cut for the masked encoder
  return video::Renormalize(clips, MultimodalNormalization(config_),
                            config_.masked_encoder->normalization);
}

torch::Tensor InternVideoModelImpl::EmbedClips(const torch::Tensor& clips) {
  if (!EmbedsThroughCma()) return multimodal_->EncodeVideo(clips);
  return VideoEmbeds(MaskedVideo(clips), clips);
}

std::string InternVideoModelImpl::PartPrefix(ModelPart part) {
  switch (part) {
    case internvideo::v1::MODEL_PART_MASKED_ENCODER:
      return "masked_encoder.";
    case internvideo::v1::MODEL_PART_MULTIMODAL_ENCODER:
      return "multimodal_encoder.";
    case internvideo::v1::MODEL_PART_CAPTION_DECODER:
      return "caption_decoder.";
    case internvideo::v1::MODEL_PART_CMA:
      return "cma.";
    case internvideo::v1::MODEL_PART_LOCALIZATION_HEAD:
      return "localization_head.";
    case internvideo::v1::MODEL_PART_VQA_HEAD:
      return "vqa_head.";
    case internvideo::v1::MODEL_PART_ATTRIBUTE_HEAD:
      return "attribute_head.";
    default:
      return "";
  }
}

absl::StatusOr<InternVideoModel> LoadInternVideoModel(
    const ModelConfig& proto, const NamedTensors& weights) {
  absl::StatusOr<InternVideoConfig> config = ResolveInternVideoConfig(proto);
  if (!config.ok()) return config.status();
  InternVideoModel model{nullptr};
  try {
    model = InternVideoModel(*config);
  } catch (const c10::Error& error) {
    return absl::InternalError(error.what_without_backtrace());
  }
  absl::StatusOr<LoadReport> report = LoadStateDict(*model, weights);
  if (!report.ok()) return report.status();
  model->eval();
  return model;
}

}  // namespace iv::model
