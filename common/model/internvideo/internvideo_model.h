// The whole InternVideo model of a ModelConfig (paper Fig. 1): whichever of
// the masked video encoder, the multimodal video-text encoder, its caption
// decoder and cross-model attention the config has, as one module with one
// state dict. This is what the trainer trains and what native checkpoints
// of the "internvideo" arch hold; each part keeps its official parameter
// names under its own prefix:
//   masked_encoder.      VideoMAE's VisionTransformer (finetuning layout),
//                        or PretrainVisionTransformer (encoder.*, decoder.*,
//                        encoder_to_decoder, mask_token) when the config has
//                        a pretraining decoder
//   multimodal_encoder.  InternVideo-MM's CLIP (visual.*, transformer.*, ...)
//   caption_decoder.     its caption decoder
//   cma.                 cross-model attention
//   localization_head.   the temporal localization head (localization_head.h)
//   vqa_head.            the question answering head (vqa_head.h)
//   attribute_head.      the scene-attribute head (attribute_head.h)
//   heads.<name>.        a plug-in's task head (head_plugin.h)
#ifndef COMMON_MODEL_INTERNVIDEO_INTERNVIDEO_MODEL_H_
#define COMMON_MODEL_INTERNVIDEO_INTERNVIDEO_MODEL_H_

#include <torch/torch.h>

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/model/cma/cma.h"
#include "common/model/cma/config.h"
#include "common/model/internvideo/attribute_head.h"
#include "common/model/internvideo/head_plugin.h"
#include "common/model/internvideo/localization_head.h"
#include "common/model/internvideo/vqa_head.h"
#include "common/model/multimodal/caption_decoder.h"
#include "common/model/multimodal/clip_model.h"
#include "common/model/multimodal/config.h"
#include "common/model/state_dict.h"
#include "common/model/videomae/config.h"
#include "common/model/videomae/pretrain.h"
#include "common/model/videomae/vision_transformer.h"
#include "common/video/clip_spec.h"
#include "common/video/transforms.h"
#include "protos/model_config.pb.h"
#include "protos/training.pb.h"

namespace iv::model {

// The arch name of native checkpoints holding an InternVideoModel.
inline constexpr char kInternVideoArch[] = "internvideo";

struct InternVideoConfig {
  internvideo::v1::ModelConfig proto;
  std::optional<VideoMaeConfig> masked_encoder;
  std::optional<MultimodalConfig> multimodal;
  std::optional<CmaConfig> cma;
  std::optional<LocalizationConfig> localization;
  std::optional<VqaConfig> vqa;
  std::optional<AttributeConfig> attributes;
  // What the caption decoder reads (resolved; with a caption decoder) and
  // that source's token width.
  internvideo::v1::FeatureSource caption_features =
      internvideo::v1::FEATURE_SOURCE_UNSPECIFIED;
  int64_t caption_vision_width = 0;
};

// Resolves every part the proto has. INVALID_ARGUMENT naming the field;
// a config without any encoder is "model: has no encoder".
absl::StatusOr<InternVideoConfig> ResolveInternVideoConfig(
    const internvideo::v1::ModelConfig& proto);

// The pixel normalization each encoder of `config` expects: the masked
// encoder's (ImageNet without one), and the multimodal encoder's
// vision.normalization (CLIP when unset).
video::Normalization MaskedNormalization(const InternVideoConfig& config);
video::Normalization MultimodalNormalization(const InternVideoConfig& config);

// What one input clip of the model is: the multimodal encoder's frames, size
// and pixel normalization when the model has that encoder (the masked
// encoder then reads the same frames, renormalized: MaskedVideo), else the
// masked encoder's. Every clip the platform cuts for the model is resolved
// from it (video::ResolveClipSpec).
video::ClipInput ClipInputOf(const InternVideoConfig& config);

// The multimodal encoder's tokens as cross-model attention reads them: the
// video-level feature (the global branch's balanced class token) first, then
// every frame's tokens, [B, 1 + T * (1 + H*W), width].
torch::Tensor MultimodalContext(const GlobalTransformerOutput& visual);

class InternVideoModelImpl : public torch::nn::Module {
 public:
  explicit InternVideoModelImpl(const InternVideoConfig& config);

  const InternVideoConfig& config() const { return config_; }

  // The parts; null when the config lacks them. Exactly one of
  // masked_encoder and masked_pretrain is set when there is a masked
  // encoder.
  VisionTransformer& masked_encoder() { return masked_encoder_; }
  PretrainVisionTransformer& masked_pretrain() { return masked_pretrain_; }
  InternVideoClip& multimodal() { return multimodal_; }
  CaptionDecoder& caption_decoder() { return caption_decoder_; }
  CrossModelAttention& cma() { return cma_; }
  LocalizationHead& localization_head() { return localization_head_; }
  VqaHead& vqa_head() { return vqa_head_; }
  AttributeHead& attribute_head() { return attribute_head_; }
  // The plug-in head `name` (ModelConfig.heads), null when the config has
  // none of that name; its plug-in casts it to its own module type.
  std::shared_ptr<torch::nn::Module> plugin_head(const std::string& name) const;
  template <typename Head>
  std::shared_ptr<Head> plugin_head_as(const std::string& name) const {
    return std::dynamic_pointer_cast<Head>(plugin_head(name));
  }

  // Action logits of the model's best recognizer: CMA when it has one
  // (fed by both encoders), else the masked encoder's head.
  // `masked_video` and `multimodal_video` are the same clip normalized for
  // each encoder.
  torch::Tensor RecognitionLogits(const torch::Tensor& masked_video,
                                  const torch::Tensor& multimodal_video);

  // Video embeddings [B, embed_dim] in the joint video-text space, what
  // retrieval compares with the text encoder's: CMA's projected class
  // feature when the CMA has video_projection (then `masked_video` is
  // needed), else the multimodal encoder's.
  torch::Tensor VideoEmbeds(const torch::Tensor& masked_video,
                            const torch::Tensor& multimodal_video);
  // Whether VideoEmbeds reads the masked encoder too (through CMA).
  bool EmbedsThroughCma() const {
    return config_.cma && config_.cma->embed_dim > 0;
  }

  // `clips` [N, 3, T, H, W], normalized as ClipInputOf says, renormalized
  // for the masked encoder (undefined when the model has none; the clips
  // themselves when it is the only encoder): the first argument of the
  // two-encoder calls (RecognitionLogits, VqaLogits, ...).
  torch::Tensor MaskedVideo(const torch::Tensor& clips) const;
  // VideoEmbeds of `clips` normalized as ClipInputOf says.
  torch::Tensor EmbedClips(const torch::Tensor& clips);

  // One feature vector per clip from `source` (never UNSPECIFIED), what the
  // localization head reads per window: the masked encoder's pooled
  // features [B, embed_dim], the multimodal video feature before its
  // projection [B, vision width], or CMA's class and pooled features side
  // by side [B, 2 x cma width].
  torch::Tensor ClipFeatures(internvideo::v1::FeatureSource source,
                             const torch::Tensor& masked_video,
                             const torch::Tensor& multimodal_video);

  // The video tokens [B, N, width] of `source` (never UNSPECIFIED), what
  // token-reading heads attend to: the masked encoder's tokens, the
  // multimodal encoder's MultimodalContext, or CMA's coordinated tokens.
  torch::Tensor VideoTokens(internvideo::v1::FeatureSource source,
                            const torch::Tensor& masked_video,
                            const torch::Tensor& multimodal_video);

  // The caption decoder's input [B, T, L, width] from its source: the
  // multimodal encoder's frame tokens, or VideoTokens as one "frame".
  torch::Tensor CaptionVideoTokens(const torch::Tensor& masked_video,
                                   const torch::Tensor& multimodal_video);

  // Answer logits [B, answers] of questions (token ids [B, N], 0-padded)
  // about clips: the question's text-encoder tokens attend to the
  // VideoTokens of the head's source.
  torch::Tensor VqaLogits(const torch::Tensor& masked_video,
                          const torch::Tensor& multimodal_video,
                          const torch::Tensor& question_tokens);

  // The parameter-name prefix of `part` ("" for the whole model), e.g.
  // "masked_encoder.".
  static std::string PartPrefix(internvideo::v1::ModelPart part);

 private:
  InternVideoConfig config_;
  VisionTransformer masked_encoder_{nullptr};
  PretrainVisionTransformer masked_pretrain_{nullptr};
  InternVideoClip multimodal_{nullptr};
  CaptionDecoder caption_decoder_{nullptr};
  CrossModelAttention cma_{nullptr};
  LocalizationHead localization_head_{nullptr};
  VqaHead vqa_head_{nullptr};
  AttributeHead attribute_head_{nullptr};
  torch::nn::ModuleDict plugin_heads_{nullptr};
};
TORCH_MODULE(InternVideoModel);

// The model of `proto` with `weights` (under the names above) loaded, in
// eval mode: what native checkpoints of the "internvideo" arch (and the
// imported parts, renamed) load into. INVALID_ARGUMENT naming the field of
// a bad config, or listing missing, unexpected and misshapen weights.
absl::StatusOr<InternVideoModel> LoadInternVideoModel(
    const internvideo::v1::ModelConfig& proto, const NamedTensors& weights);

}  // namespace iv::model

#endif  // COMMON_MODEL_INTERNVIDEO_INTERNVIDEO_MODEL_H_
