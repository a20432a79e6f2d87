#include "common/model/arch/videomae_arch.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "common/model/arch/arch_helpers.h"
#include "common/model/checkpoint/torch_checkpoint.h"
#include "common/model/videomae/config.h"
#include "common/model/videomae/pretrain.h"
#include "common/model/videomae/vision_transformer.h"

namespace iv::model {
namespace {

using arch_internal::CountBlocks;
using arch_internal::CountParameters;
using arch_internal::Find;
using arch_internal::Guarded;
using arch_internal::Missing;
using arch_internal::Shape;
using arch_internal::VideoInput;
using internvideo::v1::MaskedVideoEncoderConfig;
using internvideo::v1::ModelConfig;

// Heads are not in the checkpoint. The official models use their preset's
// heads; other widths get heads of 64 channels, like ViT-S/B/L.
constexpr int64_t kHeadWidth = 64;
// Any nonzero init_values creates the gamma_1/gamma_2 parameters; their
// values then come from the checkpoint.
constexpr float kLoadedLayerScale = 0.1f;

// The input clip, checked against what the encoder can cut into tubelets.
absl::StatusOr<torch::Tensor> Video(
    const std::map<std::string, torch::Tensor>& inputs,
    const VideoMaeConfig& config) {
  absl::StatusOr<torch::Tensor> found = VideoInput(inputs);
  if (!found.ok()) return found.status();
  const torch::Tensor& video = *found;
  if (video.size(2) % config.tubelet_size != 0 ||
      video.size(3) % config.patch_size != 0 ||
      video.size(4) % config.patch_size != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("video: ", Shape(video), ": T must be a multiple of ",
                     config.tubelet_size, " and H, W of ", config.patch_size));
  }
  return video;
}

class FinetunedModel : public LoadedModel {
 public:
  explicit FinetunedModel(VisionTransformer model) : model_(model) {
    model_->eval();
  }
  int64_t ParameterCount() const override { return CountParameters(*model_); }
  absl::StatusOr<NamedTensors> Forward(
      const std::map<std::string, torch::Tensor>& inputs) override {
    absl::StatusOr<torch::Tensor> video = Video(inputs, model_->config());
    if (!video.ok()) return video.status();
    return Guarded([&]() -> NamedTensors {
      VideoMaeOutput output = model_->forward(*video);
      NamedTensors outputs = {{"features", output.features}};
      if (output.logits.defined()) outputs.push_back({"logits", output.logits});
      return outputs;
    });
  }

 private:
  VisionTransformer model_;
};

class PretrainModel : public LoadedModel {
 public:
  explicit PretrainModel(PretrainVisionTransformer model) : model_(model) {
    model_->eval();
  }
  int64_t ParameterCount() const override { return CountParameters(*model_); }
  absl::StatusOr<NamedTensors> Forward(
      const std::map<std::string, torch::Tensor>& inputs) override {
    absl::StatusOr<torch::Tensor> video = Video(inputs, model_->config());
    if (!video.ok()) return video.status();
    return Guarded([&]() -> NamedTensors {
      return {{"encoder_tokens", model_->EncoderTokens(*video)}};
    });
  }

 private:
  PretrainVisionTransformer model_;
};

class VideoMaeArch : public Arch {
 public:
  VideoMaeArch(std::string name, std::string preset, bool pretrain)
      : name_(std::move(name)),
        preset_(std::move(preset)),
        pretrain_(pretrain),
        prefix_(pretrain ? "encoder." : "") {
    MaskedVideoEncoderConfig proto;
    proto.set_preset(preset_);
    preset_config_ = *ResolveVideoMaeConfig(proto);
    proto.mutable_decoder();
    preset_decoder_ = *ResolveVideoMaeConfig(proto)->decoder;
  }

  const std::string& name() const override { return name_; }
  bool UsesText() const override { return false; }
  internvideo::v1::ModelPart part() const override {
    return internvideo::v1::MODEL_PART_MASKED_ENCODER;
  }

  absl::Status NormalizeNames(NamedTensors& weights) const override {
    // DeepSpeed wraps the model in `module.`. Finetuned encoders are also
    // found under `backbone.` (mmaction2) or `encoder.` (a pretraining
    // encoder, which run_class_finetuning.py loads by dropping it).
    std::vector<const char*> prefixes = {"module."};
    if (!pretrain_) prefixes.insert(prefixes.end(), {"backbone.", "encoder."});
    for (const char* prefix : prefixes) {
      if (absl::Status s = ReplacePrefix(prefix, "", &weights); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  bool Matches(const NamedTensors& weights) const override {
    const torch::Tensor* patch =
        Find(weights, prefix_ + "patch_embed.proj.weight");
    return patch != nullptr && patch->dim() == 5 &&
           patch->size(0) == preset_config_.embed_dim &&
           (Find(weights, "encoder_to_decoder.weight") != nullptr) == pretrain_;
  }

  absl::StatusOr<ModelConfig> InferConfig(
      const NamedTensors& weights) const override {
    const std::string patch_name = prefix_ + "patch_embed.proj.weight";
    const torch::Tensor* patch = Find(weights, patch_name);
    if (patch == nullptr) return Missing(patch_name, name_);
    if (patch->dim() != 5 || patch->size(1) != 3 ||
        patch->size(3) != patch->size(4)) {
      return absl::InvalidArgumentError(
          absl::StrCat(patch_name, ": [D,3,tubelet,patch,patch] expected, got ",
                       Shape(*patch)));
    }
    ModelConfig config;
    config.set_name(name_);
    MaskedVideoEncoderConfig& encoder = *config.mutable_masked_encoder();
    encoder.set_preset(preset_);
    encoder.set_embed_dim(patch->size(0));
    encoder.set_tubelet_size(patch->size(2));
    encoder.set_patch_size(patch->size(3));
    const int64_t depth = CountBlocks(weights, prefix_ + "blocks.");
    if (depth == 0) return Missing(prefix_ + "blocks.0.*", name_);
    encoder.set_depth(depth);
    absl::StatusOr<int64_t> heads =
        Heads(patch->size(0), preset_config_.embed_dim,
              preset_config_.num_heads, patch_name);
    if (!heads.ok()) return heads.status();
    encoder.set_num_heads(*heads);
    const std::string block = prefix_ + "blocks.0.";
    encoder.set_qkv_bias(Find(weights, block + "attn.q_bias") != nullptr);
    encoder.set_init_values(
        Find(weights, block + "gamma_1") != nullptr ? kLoadedLayerScale : 0);
    if (pretrain_) {
      absl::Status s = InferDecoder(weights, encoder);
      if (!s.ok()) return s;
    } else {
      encoder.set_use_mean_pooling(Find(weights, "fc_norm.weight") != nullptr);
      // VideoMAE's finetuning evaluation (ssv2.py / kinetics.py in test
      // mode): one frame from each of num_frames segments, OpenCV's bilinear
      // resize to a short side of img_size, the centre crop.
      auto& sampling = *encoder.mutable_sampling();
      sampling.set_mode(internvideo::v1::ClipSampling::MODE_UNIFORM);
      sampling.set_resize(
          internvideo::v1::ClipSampling::RESIZE_OPENCV_BILINEAR);
      if (const torch::Tensor* head = Find(weights, "head.weight")) {
        encoder.set_num_classes(head->size(0));
      }
    }
    absl::StatusOr<VideoMaeConfig> resolved = ResolveVideoMaeConfig(encoder);
    if (!resolved.ok()) return resolved.status();
    return config;
  }

  absl::StatusOr<std::unique_ptr<LoadedModel>> Load(
      const ModelConfig& config, const NamedTensors& weights) const override {
    absl::StatusOr<VideoMaeConfig> resolved = ResolveVideoMaeConfig(
        config.masked_encoder(), config.class_names_size());
    if (!resolved.ok()) return resolved.status();
    if (resolved->decoder.has_value() != pretrain_) {
      return absl::InvalidArgumentError(
          absl::StrCat("masked_encoder.decoder: ", name_,
                       pretrain_ ? " needs" : " has no", " a decoder"));
    }
    try {
      if (pretrain_) {
        PretrainVisionTransformer model(*resolved);
        absl::StatusOr<LoadReport> loaded = LoadStateDict(*model, weights);
        if (!loaded.ok()) return loaded.status();
        return std::make_unique<PretrainModel>(model);
      }
      VisionTransformer model(*resolved);
      absl::StatusOr<LoadReport> loaded = LoadStateDict(*model, weights);
      if (!loaded.ok()) return loaded.status();
      return std::make_unique<FinetunedModel>(model);
    } catch (const c10::Error& error) {
      return absl::InternalError(error.what_without_backtrace());
    }
  }

 private:
  static absl::StatusOr<int64_t> Heads(int64_t width, int64_t preset_width,
                                       int64_t preset_heads,
                                       const std::string& field) {
    if (width == preset_width) return preset_heads;
    if (width % kHeadWidth != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": width ", width, " is not a multiple of ", kHeadWidth,
          " (the head width assumed for non-official sizes)"));
    }
    return width / kHeadWidth;
  }

  absl::Status InferDecoder(const NamedTensors& weights,
                            MaskedVideoEncoderConfig& encoder) const {
    const std::string name = "encoder_to_decoder.weight";
    const torch::Tensor* to_decoder = Find(weights, name);
    if (to_decoder == nullptr) return Missing(name, name_);
    if (to_decoder->dim() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": [Dd,D] expected, got ", Shape(*to_decoder)));
    }
    auto& decoder = *encoder.mutable_decoder();
    decoder.set_decoder_embed_dim(to_decoder->size(0));
    decoder.set_decoder_depth(CountBlocks(weights, "decoder.blocks."));
    absl::StatusOr<int64_t> heads =
        Heads(to_decoder->size(0), preset_decoder_.embed_dim,
              preset_decoder_.num_heads, name);
    if (!heads.ok()) return heads.status();
    decoder.set_decoder_num_heads(*heads);
    return absl::OkStatus();
  }

  std::string name_;
  std::string preset_;
  bool pretrain_;
  std::string prefix_;  // of the encoder's weights
  VideoMaeConfig preset_config_;
  PretrainDecoderConfig preset_decoder_;
};

}  // namespace

std::vector<const Arch*> VideoMaeArches() {
  static const auto* const arches = new std::vector<VideoMaeArch>{
      {"videomae-vit-b16", "b16", false},
      {"videomae-vit-b16-pretrain", "b16", true},
      {"videomae-vit-l16", "l16", false},
      {"videomae-vit-h16", "h16", false},
  };
  std::vector<const Arch*> pointers;
  for (const VideoMaeArch& arch : *arches) pointers.push_back(&arch);
  return pointers;
}

}  // namespace iv::model
