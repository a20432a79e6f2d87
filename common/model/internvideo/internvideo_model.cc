#include "common/model/internvideo/internvideo_model.h"

#include "absl/status/status.h"

namespace iv::model {

using internvideo::v1::ModelConfig;
using internvideo::v1::ModelPart;

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
  if (proto.has_cma()) {
    if (!config.masked_encoder || !config.multimodal) {
      return absl::InvalidArgumentError(
          "model.cma: needs both masked_encoder and multimodal_encoder");
    }
    CmaEncoderDims dims;
    dims.masked_embed_dim = config.masked_encoder->embed_dim;
    dims.masked_num_heads = config.masked_encoder->num_heads;
    dims.multimodal_width = config.multimodal->vision.width;
    absl::StatusOr<CmaConfig> cma =
        ResolveCmaConfig(proto.cma(), dims, proto.class_names_size());
    if (!cma.ok()) return cma.status();
    config.cma = *cma;
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
                                         config.multimodal->vision.width,
                                         config.multimodal->text.vocab_size));
    }
  }
  if (config.cma)
    cma_ = register_module("cma", CrossModelAttention(*config.cma));
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
    default:
      return "";
  }
}

}  // namespace iv::model
