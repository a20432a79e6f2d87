#include "trainer/objectives.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/data/window_features.h"
#include "common/model/multimodal/contrastive_loss.h"
#include "common/model/videomae/masking.h"
#include "common/synthworld/attribute_labels.h"
#include "common/synthworld/caption_negatives.h"
#include "common/video/clip_spec.h"
#include "trainer/recipe.h"
#include "trainer/task_plugin.h"
#include "trainer/training_data.h"

namespace iv::trainer {
namespace {

using internvideo::v1::ModelPart;
using internvideo::v1::TrainingRecipe;
namespace F = torch::nn::functional;

// One manifest caption per clip of the batch, drawn per (epoch, clip); a
// clip without captions stands for itself by FallbackCaption.
std::vector<std::string> DrawCaptions(
    const std::vector<data::TrimmedClip>& clips,
    const std::vector<int64_t>& sample_ids, const StepContext& context) {
  std::vector<std::string> captions;
  for (int64_t id : sample_ids) {
    const data::TrimmedClip& clip = clips.at(id);
    if (clip.captions.empty()) {
      captions.push_back(FallbackCaption(clip));
      continue;
    }
    const uint64_t pick =
        data::MixSeed(context.seed, context.epoch, id) % clip.captions.size();
    captions.push_back(clip.captions[pick]);
  }
  return captions;
}

// Symmetric InfoNCE with negatives from every rank: the loss of this rank's
// rows against the whole global batch, as the one-process loss would be.
// `hard_negatives` (optional, this rank's) are extra texts that every video
// must score below its own caption.
torch::Tensor GlobalInfoNce(const torch::Tensor& video,
                            const torch::Tensor& text,
                            const torch::Tensor& logit_scale,
                            const StepContext& context,
                            const torch::Tensor& hard_negatives = {}) {
  if (!context.all_gather && !hard_negatives.defined()) {
    return model::SymmetricInfoNce(video, text, logit_scale);
  }
  const torch::Tensor all_video =
      context.all_gather ? context.all_gather(video) : video;
  torch::Tensor all_text = context.all_gather ? context.all_gather(text) : text;
  if (hard_negatives.defined()) {
    all_text = torch::cat({all_text, hard_negatives});
  }
  const torch::Tensor v = F::normalize(video, F::NormalizeFuncOptions().dim(1));
  const torch::Tensor t = F::normalize(text, F::NormalizeFuncOptions().dim(1));
  const torch::Tensor av =
      F::normalize(all_video, F::NormalizeFuncOptions().dim(1));
  const torch::Tensor at =
      F::normalize(all_text, F::NormalizeFuncOptions().dim(1));
  const torch::Tensor scale = logit_scale.exp();
  const torch::Tensor targets =
      torch::arange(video.size(0), torch::kInt64) + context.gather_offset;
  // Each rank's rows of the global loss, scaled so that the ranks' averaged
  // gradients equal the one-process gradient.
  const torch::Tensor v2t = F::cross_entropy(scale * v.matmul(at.t()), targets);
  const torch::Tensor t2v = F::cross_entropy(scale * t.matmul(av.t()), targets);
  return (v2t + t2v) / 2;
}

torch::Tensor CrossEntropy(const torch::Tensor& logits,
                           const torch::Tensor& labels, double smoothing) {
  return F::cross_entropy(
      logits.to(torch::kFloat32), labels,
      F::CrossEntropyFuncOptions().label_smoothing(smoothing));
}

class MaskedVideoModeling : public Objective {
 public:
  std::vector<ModelPart> TrainedParts() const override {
    return {internvideo::v1::MODEL_PART_MASKED_ENCODER};
  }
  torch::Tensor Loss(model::InternVideoModel& model,
                     const data::ClipBatch& batch,
                     const StepContext& context) override {
    // Per (step, rank) masks: reproducible after a resume and different on
    // every rank, like the official per-sample masking generator.
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(
        data::MixSeed(context.seed, context.step, context.rank));
    model::PretrainVisionTransformer& mae = model->masked_pretrain();
    const torch::Tensor video = model->MaskedVideo(batch.video);
    const torch::Tensor mask = mae->SampleMask(video, generator);
    return mae->Loss(video, mask);
  }
  std::string eval_task() const override { return ""; }
};

class Recognition : public Objective {
 public:
  // `attribute_labels`: synthworld::AttributeLabels of the training set when
  // the attribute losses count (`attribute_weight` > 0).
  Recognition(double smoothing, double attribute_weight,
              torch::Tensor attribute_labels)
      : smoothing_(smoothing),
        attribute_weight_(attribute_weight),
        attribute_labels_(std::move(attribute_labels)) {}
  std::vector<ModelPart> TrainedParts() const override {
    if (attribute_weight_ > 0) {
      return {internvideo::v1::MODEL_PART_MASKED_ENCODER,
              internvideo::v1::MODEL_PART_ATTRIBUTE_HEAD};
    }
    return {internvideo::v1::MODEL_PART_MASKED_ENCODER};
  }
  torch::Tensor Loss(model::InternVideoModel& model,
                     const data::ClipBatch& batch,
                     const StepContext&) override {
    const model::VideoMaeOutput out =
        model->masked_encoder()->forward(model->MaskedVideo(batch.video));
    torch::Tensor loss = CrossEntropy(out.logits, batch.labels, smoothing_);
    if (attribute_weight_ > 0) {
      const torch::Tensor labels = attribute_labels_.index_select(
          0, torch::tensor(batch.sample_ids, torch::kInt64));
      const model::AttributeLogits logits =
          model->attribute_head()->forward(out.features);
      loss = loss + attribute_weight_ *
                        (CrossEntropy(logits.color, labels.select(1, 0), 0) +
                         CrossEntropy(logits.shape, labels.select(1, 1), 0) +
                         CrossEntropy(logits.count, labels.select(1, 2), 0));
    }
    return loss;
  }
  std::string eval_task() const override { return kRecognitionTask; }

 private:
  double smoothing_;
  double attribute_weight_;
  torch::Tensor attribute_labels_;
};

class Cma : public Objective {
 public:
  Cma(const model::InternVideoConfig& config,
      const std::vector<data::TrimmedClip>* clips,
      const text::ClipTokenizer* tokenizer, double smoothing,
      double contrastive_weight, bool train_text, bool hard_negatives)
      : clips_(clips),
        tokenizer_(tokenizer),
        context_length_(config.multimodal->text.context_length),
        smoothing_(smoothing),
        contrastive_weight_(contrastive_weight),
        train_text_(train_text),
        hard_negatives_(hard_negatives) {}
  std::vector<ModelPart> TrainedParts() const override {
    if (train_text_) {
      return {internvideo::v1::MODEL_PART_CMA,
              internvideo::v1::MODEL_PART_MULTIMODAL_ENCODER};
    }
    return {internvideo::v1::MODEL_PART_CMA};
  }
  std::vector<std::string> FrozenPrefixes() const override {
    // The multimodal encoder's video tower: visual.*, visual_ln_post,
    // visual_proj.
    return {"multimodal_encoder.visual"};
  }
  torch::Tensor Loss(model::InternVideoModel& model,
                     const data::ClipBatch& batch,
                     const StepContext& context) override {
    torch::Tensor masked_tokens, video_context;
    {
      torch::NoGradGuard frozen;
      masked_tokens =
          model->masked_encoder()->Tokens(model->MaskedVideo(batch.video));
      video_context =
          model::MultimodalContext(model->multimodal()->Visual(batch.video));
    }
    const model::CmaOutput out =
        model->cma()->forward(masked_tokens, video_context);
    torch::Tensor loss = CrossEntropy(out.logits, batch.labels, smoothing_);
    if (contrastive_weight_ > 0) {
      std::vector<std::string> texts =
          DrawCaptions(*clips_, batch.sample_ids, context);
      const int64_t batch_size = static_cast<int64_t>(texts.size());
      if (hard_negatives_) {
        for (int64_t i = 0; i < batch_size; ++i) {
          const int64_t id = batch.sample_ids[i];
          for (std::string& negative : synthworld::AttributeSwappedCaptions(
                   clips_->at(id), texts[i],
                   data::MixSeed(context.seed, context.step, id))) {
            texts.push_back(std::move(negative));
          }
        }
      }
      const torch::Tensor tokens = tokenizer_->Tokenize(texts, context_length_);
      // A frozen text tower's parameters want no gradient, so this builds
      // no graph for it.
      const torch::Tensor text_embeds = model->multimodal()->EncodeText(tokens);
      const torch::Tensor negatives =
          text_embeds.size(0) > batch_size
              ? text_embeds.narrow(0, batch_size,
                                   text_embeds.size(0) - batch_size)
              : torch::Tensor();
      loss = loss + contrastive_weight_ *
                        GlobalInfoNce(out.video_embeds,
                                      text_embeds.narrow(0, 0, batch_size),
                                      model->multimodal()->logit_scale(),
                                      context, negatives);
    }
    return loss;
  }
  std::string eval_task() const override {
    return contrastive_weight_ > 0 ? kRetrievalTask : kRecognitionTask;
  }

 private:
  const std::vector<data::TrimmedClip>* clips_;
  const text::ClipTokenizer* tokenizer_;
  int64_t context_length_;
  double smoothing_;
  double contrastive_weight_;
  bool train_text_;
  bool hard_negatives_;
};

// Contrastive and captioning losses over clips paired with one of their
// captions, drawn per (epoch, clip).
class VideoText : public Objective {
 public:
  VideoText(const model::InternVideoConfig& config,
            const std::vector<data::TrimmedClip>* clips,
            const text::ClipTokenizer* tokenizer, double contrastive_weight,
            double caption_weight)
      : clips_(clips),
        tokenizer_(tokenizer),
        context_length_(config.multimodal->text.context_length),
        caption_length_(config.multimodal->caption_decoder
                            ? config.multimodal->caption_decoder->max_length
                            : context_length_),
        contrastive_weight_(contrastive_weight),
        caption_weight_(caption_weight) {}

  std::vector<ModelPart> TrainedParts() const override {
    if (contrastive_weight_ == 0) {
      return {internvideo::v1::MODEL_PART_CAPTION_DECODER};
    }
    std::vector<ModelPart> parts = {
        internvideo::v1::MODEL_PART_MULTIMODAL_ENCODER};
    if (caption_weight_ > 0) {
      parts.push_back(internvideo::v1::MODEL_PART_CAPTION_DECODER);
    }
    return parts;
  }

  torch::Tensor Loss(model::InternVideoModel& model,
                     const data::ClipBatch& batch,
                     const StepContext& context) override {
    const torch::Tensor tokens = tokenizer_->Tokenize(
        DrawCaptions(*clips_, batch.sample_ids, context), context_length_);
    const torch::Tensor& video = batch.video;  // the multimodal encoder's
    model::InternVideoClip& clip_model = model->multimodal();
    torch::Tensor loss = torch::zeros({}, video.options());
    if (contrastive_weight_ > 0) {
      const model::ClipOutput out = clip_model->forward(video, tokens);
      loss = loss + contrastive_weight_ *
                        GlobalInfoNce(out.video_embeds, out.text_embeds,
                                      clip_model->logit_scale(), context);
      if (caption_weight_ > 0) {
        loss = loss + caption_weight_ * CaptionLoss(model, out.video_tokens,
                                                    out.text_tokens, tokens);
      }
      return loss;
    }
    torch::Tensor video_tokens, text_tokens;
    {
      torch::NoGradGuard frozen;
      video_tokens =
          model->CaptionVideoTokens(model->MaskedVideo(video), video);
      text_tokens = clip_model->TextTokens(tokens);
    }
    return caption_weight_ *
           CaptionLoss(model, video_tokens, text_tokens, tokens);
  }

  std::string eval_task() const override {
    // Captioning alone is judged on generated captions.
    if (contrastive_weight_ > 0) return kRetrievalTask;
    if (caption_weight_ > 0) return kCaptionTask;
    return "";
  }

 private:
  torch::Tensor CaptionLoss(model::InternVideoModel& model,
                            const torch::Tensor& video_tokens,
                            const torch::Tensor& text_tokens,
                            const torch::Tensor& tokens) {
    const int64_t n = std::min<int64_t>(caption_length_, tokens.size(1));
    const torch::Tensor logits = model->caption_decoder()->forward(
        video_tokens, text_tokens.narrow(1, 0, n - 1));
    return model::CaptioningLoss(logits, CaptionLabels(tokens.narrow(1, 0, n)));
  }

  const std::vector<data::TrimmedClip>* clips_;
  const text::ClipTokenizer* tokenizer_;
  int64_t context_length_;
  int64_t caption_length_;
  double contrastive_weight_;
  double caption_weight_;
};

// The localization head on each video's window features, computed by the
// frozen extractor the first time the video comes up and kept.
class Localization : public Objective {
 public:
  // `windows`: the model's clips as evaluation and serving cut them
  // (centred, no augmentation).
  Localization(const Dataset* train, const video::ClipSpec& windows)
      : train_(train), windows_(windows) {}

  std::vector<ModelPart> TrainedParts() const override {
    return {internvideo::v1::MODEL_PART_LOCALIZATION_HEAD};
  }
  torch::Tensor Loss(model::InternVideoModel& model,
                     const data::ClipBatch& batch,
                     const StepContext&) override {
    const double stride = model->config().localization->stride_s;
    torch::Tensor loss;
    for (int64_t id : batch.sample_ids) {
      const data::WindowFeatures& video = Features(model, id);
      const model::LocalizationOutput out =
          model->localization_head()->forward(video.features.unsqueeze(0));
      const torch::Tensor one = LocalizationLoss(
          {out.class_logits[0], out.offsets[0]}, video.centres_s, stride,
          train_->videos.at(id).segments);
      loss = loss.defined() ? loss + one : one;
    }
    return loss / static_cast<double>(batch.sample_ids.size());
  }
  std::string eval_task() const override { return kLocalizationTask; }

 private:
  const data::WindowFeatures& Features(model::InternVideoModel& model,
                                       int64_t id) {
    auto cached = features_.find(id);
    if (cached != features_.end()) return cached->second;
    absl::StatusOr<data::WindowFeatures> computed = data::ComputeWindowFeatures(
        model, train_->videos.at(id).path, windows_);
    if (!computed.ok()) throw std::runtime_error(computed.status().ToString());
    return features_.emplace(id, std::move(*computed)).first->second;
  }

  const Dataset* train_;
  video::ClipSpec windows_;
  std::map<int64_t, data::WindowFeatures> features_;
};

// The VQA head on clips paired with one of their questions, drawn per
// (epoch, clip); answers outside the head's vocabulary are ignored.
class Vqa : public Objective {
 public:
  Vqa(const model::InternVideoConfig& config, const Dataset* train,
      const text::ClipTokenizer* tokenizer)
      : train_(train),
        tokenizer_(tokenizer),
        context_length_(config.multimodal->text.context_length) {
    for (size_t i = 0; i < config.vqa->answers.size(); ++i) {
      answer_ids_[config.vqa->answers[i]] = static_cast<int64_t>(i);
    }
  }

  std::vector<ModelPart> TrainedParts() const override {
    return {internvideo::v1::MODEL_PART_VQA_HEAD};
  }
  torch::Tensor Loss(model::InternVideoModel& model,
                     const data::ClipBatch& batch,
                     const StepContext& context) override {
    std::vector<std::string> questions;
    std::vector<int64_t> labels;
    for (int64_t id : batch.sample_ids) {
      const data::TrimmedClip& clip = train_->clips.at(id);
      if (clip.questions.empty()) {
        questions.emplace_back();
        labels.push_back(-100);
        continue;
      }
      const data::QuestionAnswer& qa =
          clip.questions[data::MixSeed(context.seed, context.epoch, id) %
                         clip.questions.size()];
      questions.push_back(qa.q);
      auto answer = answer_ids_.find(qa.a);
      labels.push_back(answer == answer_ids_.end() ? -100 : answer->second);
    }
    const torch::Tensor logits =
        model->VqaLogits(model->MaskedVideo(batch.video), batch.video,
                         tokenizer_->Tokenize(questions, context_length_));
    return CrossEntropy(logits, torch::tensor(labels, torch::kInt64), 0.0);
  }
  std::string eval_task() const override { return kVqaTask; }

 private:
  const Dataset* train_;
  const text::ClipTokenizer* tokenizer_;
  int64_t context_length_;
  std::map<std::string, int64_t> answer_ids_;
};

}  // namespace

torch::Tensor LocalizationLoss(
    const model::LocalizationOutput& output,
    const std::vector<double>& centres_s, double stride_s,
    const std::vector<data::ActionSegment>& actions) {
  const torch::Tensor logits = output.class_logits.to(torch::kFloat32);
  const int64_t windows = logits.size(0), classes = logits.size(1);
  torch::Tensor labels = torch::zeros({windows, classes});
  torch::Tensor targets = torch::zeros({windows, 2});
  std::vector<int64_t> positives;
  for (int64_t i = 0; i < windows; ++i) {
    const data::ActionSegment* best = nullptr;
    for (const data::ActionSegment& action : actions) {
      if (action.action_id < 0 || action.action_id >= classes ||
          centres_s[i] < action.start_s || centres_s[i] > action.end_s) {
        continue;
      }
      if (!best ||
          action.end_s - action.start_s < best->end_s - best->start_s) {
        best = &action;
      }
    }
    if (!best) continue;
    positives.push_back(i);
    labels[i][best->action_id] = 1.0;
    targets[i][0] = (centres_s[i] - best->start_s) / stride_s;
    targets[i][1] = (best->end_s - centres_s[i]) / stride_s;
  }
  const double normalizer = std::max<size_t>(1, positives.size());
  // Sigmoid focal loss (Lin et al. 2017), alpha 0.25, gamma 2.
  const torch::Tensor p = torch::sigmoid(logits);
  const torch::Tensor ce = F::binary_cross_entropy_with_logits(
      logits, labels,
      F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
  const torch::Tensor p_t = p * labels + (1 - p) * (1 - labels);
  const torch::Tensor alpha_t = 0.25 * labels + 0.75 * (1 - labels);
  torch::Tensor loss = (alpha_t * ce * (1 - p_t).pow(2)).sum() / normalizer;
  if (positives.empty()) return loss;
  // Generalized IoU of 1-D segments sharing the window centre.
  const torch::Tensor index = torch::tensor(positives, torch::kInt64);
  const torch::Tensor pred =
      output.offsets.to(torch::kFloat32).index_select(0, index);
  const torch::Tensor target = targets.index_select(0, index);
  const torch::Tensor intersection = torch::min(pred, target).sum(1);
  const torch::Tensor union_length = pred.sum(1) + target.sum(1) - intersection;
  const torch::Tensor enclosing = torch::max(pred, target).sum(1);
  const torch::Tensor giou =
      intersection / union_length.clamp_min(1e-6) -
      (enclosing - union_length) / enclosing.clamp_min(1e-6);
  return loss + (1 - giou).sum() / normalizer;
}

torch::Tensor CaptionLabels(const torch::Tensor& tokens) {
  torch::Tensor labels = tokens.narrow(1, 1, tokens.size(1) - 1).clone();
  labels.masked_fill_(labels.eq(0), -100);
  return labels;
}

absl::StatusOr<std::unique_ptr<Objective>> CreateObjective(
    const TrainingRecipe& recipe, const model::InternVideoConfig& config,
    const Dataset* train, const text::ClipTokenizer* tokenizer) {
  const std::vector<data::TrimmedClip>* clips = &train->clips;
  const bool reads_text =
      recipe.objective_case() == TrainingRecipe::kMultimodalPretraining ||
      recipe.objective_case() == TrainingRecipe::kCaptioning ||
      recipe.objective_case() == TrainingRecipe::kVqa;
  if (reads_text && tokenizer == nullptr) {
    return absl::InvalidArgumentError(
        "recipe.model.multimodal_encoder.tokenizer.vocab_path: the objective "
        "reads captions or questions and needs the tokenizer's vocabulary");
  }
  switch (recipe.objective_case()) {
    case TrainingRecipe::kMaskedVideoModeling:
      return std::make_unique<MaskedVideoModeling>();
    case TrainingRecipe::kRecognition: {
      if (absl::Status s =
              CheckActionLabels(*clips, config.masked_encoder->num_classes);
          !s.ok()) {
        return s;
      }
      const double attribute_weight = recipe.recognition().attribute_weight();
      torch::Tensor attribute_labels;
      if (attribute_weight > 0) {  // ValidateRecipe checked the head
        absl::StatusOr<torch::Tensor> labels = synthworld::AttributeLabels(
            *clips, config.attributes->colors, config.attributes->shapes,
            config.attributes->max_objects);
        if (!labels.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("recipe.model.attribute_head: training ",
                           labels.status().message()));
        }
        attribute_labels = *std::move(labels);
      }
      return std::make_unique<Recognition>(
          recipe.recognition().label_smoothing(), attribute_weight,
          std::move(attribute_labels));
    }
    case TrainingRecipe::kCma: {
      if (absl::Status s = CheckActionLabels(*clips, config.cma->num_classes);
          !s.ok()) {
        return s;
      }
      const auto& objective = recipe.cma();
      // ValidateRecipe checked the weight against the projection.
      const double contrastive = CmaContrastiveWeight(objective, config);
      if (contrastive > 0 && tokenizer == nullptr) {
        return absl::InvalidArgumentError(
            "recipe.model.multimodal_encoder.tokenizer.vocab_path: the CMA "
            "contrastive loss reads captions and needs the tokenizer");
      }
      return std::make_unique<Cma>(
          config, clips, tokenizer, objective.label_smoothing(), contrastive,
          objective.train_text_encoder(), objective.hard_negative_captions());
    }
    case TrainingRecipe::kMultimodalPretraining: {
      const auto& objective = recipe.multimodal_pretraining();
      const double contrastive = objective.has_contrastive_loss_weight()
                                     ? objective.contrastive_loss_weight()
                                     : 1.0;
      const double caption =
          objective.has_caption_loss_weight()
              ? objective.caption_loss_weight()
              : (config.multimodal->caption_decoder ? 1.0 : 0.0);
      if (caption > 0 &&
          config.caption_features !=
              internvideo::v1::FEATURE_SOURCE_MULTIMODAL_ENCODER) {
        return absl::InvalidArgumentError(
            "recipe.multimodal_pretraining.caption_loss_weight: the caption "
            "decoder reads CMA's tokens "
            "(model.multimodal_encoder.caption_decoder.video_features), which "
            "exist only after CMA is trained; set it to 0 here and train the "
            "decoder in a captioning stage after CMA");
      }
      return std::make_unique<VideoText>(config, clips, tokenizer, contrastive,
                                         caption);
    }
    case TrainingRecipe::kCaptioning:
      return std::make_unique<VideoText>(config, clips, tokenizer, 0.0, 1.0);
    case TrainingRecipe::kLocalization: {
      // The windows evaluation and serving see.
      absl::StatusOr<data::ClipLoaderOptions> windows =
          LoaderOptions(config, internvideo::v1::DataConfig(), /*train=*/false,
                        "recipe.model");
      if (!windows.ok()) return windows.status();
      return std::make_unique<Localization>(train, windows->clip);
    }
    case TrainingRecipe::kVqa:
      return std::make_unique<Vqa>(config, train, tokenizer);
    case TrainingRecipe::kPlugin:  // ValidateRecipe found the plug-in
      return FindTaskPlugin(recipe.plugin().task())
          ->CreateObjective(recipe.plugin().options(), config, *train,
                            tokenizer);
    default:
      return absl::InvalidArgumentError("recipe.objective: is not set");
  }
}

}  // namespace iv::trainer
