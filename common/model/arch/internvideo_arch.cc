#include "common/model/arch/internvideo_arch.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/model/arch/arch_helpers.h"
#include "common/model/internvideo/internvideo_model.h"

namespace iv::model {
namespace {

using arch_internal::CountParameters;
using arch_internal::Guarded;
using arch_internal::Shape;
using arch_internal::TextInput;
using arch_internal::VideoInput;
using internvideo::v1::FEATURE_SOURCE_MASKED_ENCODER;
using internvideo::v1::ModelConfig;

class LoadedInternVideoModel : public LoadedModel {
 public:
  explicit LoadedInternVideoModel(InternVideoModel model)
      : model_(std::move(model)), input_(ClipInputOf(model_->config())) {}

  int64_t ParameterCount() const override { return CountParameters(*model_); }

  absl::Status UseTokenizer(int64_t vocab_size) override {
    const InternVideoConfig& config = model_->config();
    if (!config.multimodal) return absl::OkStatus();
    if (vocab_size != config.multimodal->text.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "text_tokens: the tokenizer (--vocab) has ", vocab_size,
          " ids, the model's text encoder ", config.multimodal->text.vocab_size,
          " (a different vocabulary)"));
    }
    tokenizer_vocab_size_ = vocab_size;
    return absl::OkStatus();
  }

  absl::StatusOr<NamedTensors> Forward(
      const std::map<std::string, torch::Tensor>& inputs) override {
    const InternVideoConfig& config = model_->config();
    const bool has_video = inputs.count("video") != 0;
    const bool has_text = inputs.count("text_tokens") != 0;
    if (!has_video && !has_text) {
      return absl::InvalidArgumentError(
          "the input has neither a \"video\" nor a \"text_tokens\" tensor");
    }
    if (has_text && !config.multimodal) {
      return absl::InvalidArgumentError(
          "text_tokens: the model has no text encoder");
    }
    torch::Tensor video;
    if (has_video) {
      absl::StatusOr<torch::Tensor> checked = Video(inputs);
      if (!checked.ok()) return checked.status();
      video = *checked;
    }
    std::optional<torch::Tensor> tokens;
    if (has_text) {
      const int64_t vocab =
          tokenizer_vocab_size_.value_or(config.multimodal->text.vocab_size);
      absl::StatusOr<std::optional<torch::Tensor>> text =
          TextInput(inputs, config.multimodal->text, vocab,
                    tokenizer_vocab_size_ ? "the tokenizer (--vocab)"
                                          : "the model's vocabulary");
      if (!text.ok()) return text.status();
      tokens = *text;
    }
    return Guarded([&]() -> NamedTensors {
      NamedTensors outputs;
      InternVideoModelImpl& model = *model_;
      if (video.defined()) {
        const torch::Tensor masked = model.MaskedVideo(video);
        if (config.multimodal) {
          outputs.push_back({"video_embeds", model.EmbedClips(video)});
        }
        if (HasRecognizer()) {
          outputs.push_back({"logits", model.RecognitionLogits(masked, video)});
        }
        if (!model.masked_encoder().is_empty()) {
          outputs.push_back(
              {"features", model.ClipFeatures(FEATURE_SOURCE_MASKED_ENCODER,
                                              masked, video)});
        } else if (!model.masked_pretrain().is_empty()) {
          outputs.push_back({"encoder_tokens",
                             model.masked_pretrain()->EncoderTokens(masked)});
        }
      }
      if (tokens.has_value()) {
        outputs.push_back(
            {"text_embeds", model.multimodal()->EncodeText(*tokens)});
      }
      return outputs;
    });
  }

 private:
  // Whether RecognitionLogits has a head to answer with.
  bool HasRecognizer() {
    const InternVideoConfig& config = model_->config();
    if (model_->masked_encoder().is_empty()) return false;
    return config.cma ? config.cma->num_classes > 0
                      : config.masked_encoder->num_classes > 0;
  }

  // The clip, which must be the model's (its position tables' size).
  absl::StatusOr<torch::Tensor> Video(
      const std::map<std::string, torch::Tensor>& inputs) const {
    absl::StatusOr<torch::Tensor> video = VideoInput(inputs);
    if (!video.ok()) return video.status();
    if (video->size(2) != input_.num_frames || video->size(3) != input_.size ||
        video->size(4) != input_.size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "video: ", Shape(*video), ": T = ", input_.num_frames,
          " and H = W = ", input_.size, " expected (the model's clip)"));
    }
    return video;
  }

  InternVideoModel model_;
  const video::ClipInput input_;
  std::optional<int64_t> tokenizer_vocab_size_;
};

class InternVideoArchImpl : public Arch {
 public:
  const std::string& name() const override { return name_; }
  bool UsesText() const override { return true; }
  internvideo::v1::ModelPart part() const override {
    return internvideo::v1::MODEL_PART_UNSPECIFIED;
  }

  absl::Status NormalizeNames(NamedTensors& weights) const override {
    return absl::OkStatus();  // official files hold parts, not the whole
  }

  bool Matches(const NamedTensors& weights) const override { return false; }

  absl::StatusOr<ModelConfig> InferConfig(
      const NamedTensors& weights) const override {
    return absl::InvalidArgumentError(absl::StrCat(
        name_,
        " checkpoints are native folders, whose model_config.textproto says "
        "their config; import an official file with the arch of its part"));
  }

  absl::StatusOr<std::unique_ptr<LoadedModel>> Load(
      const ModelConfig& config, const NamedTensors& weights) const override {
    absl::StatusOr<InternVideoModel> model =
        LoadInternVideoModel(config, weights);
    if (!model.ok()) return model.status();
    return std::make_unique<LoadedInternVideoModel>(*std::move(model));
  }

 private:
  const std::string name_ = kInternVideoArch;
};

}  // namespace

const Arch* InternVideoArch() {
  static const Arch* const arch = new InternVideoArchImpl();
  return arch;
}

}  // namespace iv::model
