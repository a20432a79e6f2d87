#include "trainer/evaluation.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/data/recognition_samples.h"
#include "common/data/window_features.h"
#include "common/model/multimodal/caption_generation.h"
#include "common/synthworld/benchmark.h"
#include "trainer/task_plugin.h"
#include "trainer/training_data.h"

namespace iv::trainer {
namespace {

// Recall@k of each query row of `similarity` [Q, R] over results whose key
// must equal the query's.
void AddRecalls(const torch::Tensor& similarity,
                const std::vector<std::string>& query_keys,
                const std::vector<std::string>& result_keys,
                const std::string& prefix, Metrics& metrics) {
  const int64_t k_max = std::min<int64_t>(10, similarity.size(1));
  const torch::Tensor top = std::get<1>(similarity.topk(k_max, 1));
  auto top_a = top.accessor<int64_t, 2>();
  double hits[3] = {0, 0, 0};
  const int64_t ks[3] = {1, 5, 10};
  for (int64_t q = 0; q < similarity.size(0); ++q) {
    int64_t first_hit = k_max;
    for (int64_t j = 0; j < k_max; ++j) {
      if (result_keys[top_a[q][j]] == query_keys[q]) {
        first_hit = j;
        break;
      }
    }
    for (int i = 0; i < 3; ++i) hits[i] += first_hit < ks[i] ? 1 : 0;
  }
  const double n = std::max<int64_t>(1, similarity.size(0));
  for (int i = 0; i < 3; ++i) {
    metrics[absl::StrCat(prefix, "_r", ks[i])] = hits[i] / n;
  }
}

}  // namespace

Metrics RecognitionMetrics(const torch::Tensor& logits,
                           const torch::Tensor& labels) {
  const torch::Tensor predicted = logits.argmax(1);
  Metrics metrics;
  const int64_t n = labels.size(0);
  metrics["n"] = static_cast<double>(n);
  metrics["top1"] =
      n == 0 ? 0.0 : predicted.eq(labels).sum().item<double>() / n;
  metrics["twin_top1"] = synthworld::TwinAccuracy(logits, labels);
  return metrics;
}

Metrics RetrievalMetrics(const torch::Tensor& video_embeds,
                         const torch::Tensor& text_embeds,
                         const std::vector<std::string>& video_keys,
                         const std::vector<std::string>& text_keys) {
  const torch::Tensor similarity = torch::matmul(text_embeds, video_embeds.t());
  Metrics metrics;
  AddRecalls(similarity, text_keys, video_keys, "t2v", metrics);
  AddRecalls(similarity.t(), video_keys, text_keys, "v2t", metrics);
  metrics["n"] = static_cast<double>(video_embeds.size(0));
  return metrics;
}

Metrics LocalizationMetrics(
    const std::vector<std::vector<model::Segment>>& predictions,
    const std::vector<std::vector<model::Segment>>& ground_truth) {
  struct Scored {
    size_t video;
    model::Segment segment;
  };
  std::set<int> classes;
  for (const auto& video : ground_truth) {
    for (const model::Segment& segment : video) classes.insert(segment.label);
  }
  Metrics metrics;
  metrics["n"] = static_cast<double>(ground_truth.size());
  for (const double threshold : {0.3, 0.4, 0.5, 0.6, 0.7}) {
    double sum_ap = 0;
    for (const int label : classes) {
      std::vector<Scored> ranked;
      for (size_t v = 0; v < predictions.size(); ++v) {
        for (const model::Segment& segment : predictions[v]) {
          if (segment.label == label) ranked.push_back({v, segment});
        }
      }
      std::stable_sort(ranked.begin(), ranked.end(),
                       [](const Scored& a, const Scored& b) {
                         return a.segment.score > b.segment.score;
                       });
      std::vector<std::vector<bool>> matched(ground_truth.size());
      int64_t num_truth = 0;
      for (size_t v = 0; v < ground_truth.size(); ++v) {
        matched[v].assign(ground_truth[v].size(), false);
        for (const model::Segment& truth : ground_truth[v]) {
          num_truth += truth.label == label;
        }
      }
      // Interpolated precision (the best at this recall or beyond) times
      // each recall step, as ActivityNet's interpolated_prec_rec.
      std::vector<double> precision, recall;
      int64_t hits = 0;
      for (size_t rank = 0; rank < ranked.size(); ++rank) {
        const Scored& p = ranked[rank];
        double best_iou = -1;
        int best = -1;
        for (size_t g = 0; g < ground_truth[p.video].size(); ++g) {
          const model::Segment& truth = ground_truth[p.video][g];
          const double iou = model::SegmentIou(p.segment, truth);
          if (truth.label == label && !matched[p.video][g] && iou > best_iou) {
            best_iou = iou;
            best = static_cast<int>(g);
          }
        }
        if (best >= 0 && best_iou >= threshold) {
          matched[p.video][best] = true;
          ++hits;
        }
        precision.push_back(static_cast<double>(hits) / (rank + 1));
        recall.push_back(static_cast<double>(hits) / num_truth);
      }
      precision.push_back(0);
      for (size_t i = precision.size() - 1; i-- > 0;) {
        precision[i] = std::max(precision[i], precision[i + 1]);
      }
      double ap = 0, previous_recall = 0;
      for (size_t i = 0; i < recall.size(); ++i) {
        ap += (recall[i] - previous_recall) * precision[i];
        previous_recall = recall[i];
      }
      sum_ap += ap;
    }
    const double map = classes.empty() ? 0.0 : sum_ap / classes.size();
    metrics[absl::StrFormat("map_%.1f", threshold)] = map;
  }
  metrics["map_mean"] =
      (metrics["map_0.3"] + metrics["map_0.5"] + metrics["map_0.7"]) / 3;
  metrics["map_0.3:0.7"] =
      (metrics["map_0.3"] + metrics["map_0.4"] + metrics["map_0.5"] +
       metrics["map_0.6"] + metrics["map_0.7"]) /
      5;
  return metrics;
}

double CorpusBleu4(const std::vector<std::string>& candidates,
                   const std::vector<std::string>& references) {
  double matches[4] = {0, 0, 0, 0}, totals[4] = {0, 0, 0, 0};
  double candidate_length = 0, reference_length = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const std::vector<std::string> c =
        absl::StrSplit(candidates[i], ' ', absl::SkipEmpty());
    const std::vector<std::string> r =
        absl::StrSplit(references[i], ' ', absl::SkipEmpty());
    candidate_length += c.size();
    reference_length += r.size();
    for (size_t n = 1; n <= 4; ++n) {
      std::map<std::vector<std::string>, int> counts, reference_counts;
      for (size_t k = 0; k + n <= c.size(); ++k) {
        ++counts[{c.begin() + k, c.begin() + k + n}];
      }
      for (size_t k = 0; k + n <= r.size(); ++k) {
        ++reference_counts[{r.begin() + k, r.begin() + k + n}];
      }
      for (const auto& [gram, count] : counts) {
        matches[n - 1] += std::min(count, reference_counts[gram]);
        totals[n - 1] += count;
      }
    }
  }
  double log_precision = 0;
  for (int n = 0; n < 4; ++n) {
    if (matches[n] == 0) return 0.0;
    log_precision += std::log(matches[n] / totals[n]) / 4;
  }
  const double brevity = candidate_length < reference_length
                             ? std::exp(1 - reference_length / candidate_length)
                             : 1.0;
  return brevity * std::exp(log_precision);
}

Metrics CaptionMetrics(const std::vector<std::string>& generated,
                       const std::vector<data::TrimmedClip>& clips) {
  std::vector<std::string> references;
  double scenes = 0, hits = 0;
  for (size_t i = 0; i < clips.size(); ++i) {
    references.push_back(clips[i].captions.empty() ? ""
                                                   : clips[i].captions.front());
    if (clips[i].actor.shape.empty()) continue;
    ++scenes;
    hits +=
        synthworld::CaptionTriple(generated[i]) == synthworld::ClipKey(clips[i])
            ? 1
            : 0;
  }
  Metrics metrics;
  metrics["n"] = static_cast<double>(clips.size());
  if (scenes > 0) metrics["triple_accuracy"] = hits / scenes;
  metrics["bleu4"] = CorpusBleu4(generated, references);
  return metrics;
}

namespace {

class RecognitionEvaluator : public ClipEvaluator {
 public:
  explicit RecognitionEvaluator(model::InternVideoModel model)
      : model_(std::move(model)) {}
  absl::Status Add(const data::ClipBatch& batch,
                   const torch::Tensor& masked_video,
                   const torch::Tensor& multimodal_video) override {
    logits_.push_back(
        model_->RecognitionLogits(masked_video, multimodal_video));
    labels_.push_back(batch.labels);
    return absl::OkStatus();
  }
  absl::StatusOr<Metrics> Finish() override {
    return RecognitionMetrics(torch::cat(logits_).to(torch::kFloat32),
                              torch::cat(labels_));
  }

 private:
  model::InternVideoModel model_;
  std::vector<torch::Tensor> logits_, labels_;
};

// One query text per clip (its canonical caption), against every clip.
class RetrievalEvaluator : public ClipEvaluator {
 public:
  RetrievalEvaluator(model::InternVideoModel model, const Dataset& data,
                     const text::ClipTokenizer& tokenizer, int batch_size)
      : model_(std::move(model)),
        data_(data),
        tokenizer_(tokenizer),
        batch_size_(batch_size) {}
  absl::Status Add(const data::ClipBatch&, const torch::Tensor& masked_video,
                   const torch::Tensor& multimodal_video) override {
    video_.push_back(torch::nn::functional::normalize(
        model_->VideoEmbeds(masked_video, multimodal_video),
        torch::nn::functional::NormalizeFuncOptions().dim(1)));
    return absl::OkStatus();
  }
  absl::StatusOr<Metrics> Finish() override {
    std::vector<std::string> keys, texts;
    for (const data::TrimmedClip& clip : data_.clips) {
      keys.push_back(RetrievalKey(clip));
      texts.push_back(clip.captions.empty() ? FallbackCaption(clip)
                                            : clip.captions.front());
    }
    const int context = model_->config().multimodal->text.context_length;
    std::vector<torch::Tensor> text;
    for (size_t start = 0; start < texts.size(); start += batch_size_) {
      const size_t end = std::min(texts.size(), start + batch_size_);
      const torch::Tensor tokens = tokenizer_.Tokenize(
          {texts.begin() + start, texts.begin() + end}, context);
      text.push_back(torch::nn::functional::normalize(
          model_->multimodal()->EncodeText(tokens),
          torch::nn::functional::NormalizeFuncOptions().dim(1)));
    }
    return RetrievalMetrics(torch::cat(video_), torch::cat(text), keys, keys);
  }

 private:
  model::InternVideoModel model_;
  const Dataset& data_;
  const text::ClipTokenizer& tokenizer_;
  const size_t batch_size_;
  std::vector<torch::Tensor> video_;
};

// Every question of every clip: each clip's row repeats per question.
class VqaEvaluator : public ClipEvaluator {
 public:
  VqaEvaluator(model::InternVideoModel model, const Dataset& data,
               const text::ClipTokenizer& tokenizer)
      : model_(std::move(model)), data_(data), tokenizer_(tokenizer) {}
  absl::Status Add(const data::ClipBatch& batch,
                   const torch::Tensor& masked_video,
                   const torch::Tensor& multimodal_video) override {
    std::vector<int64_t> rows;
    std::vector<std::string> questions, answers;
    for (size_t i = 0; i < batch.sample_ids.size(); ++i) {
      for (const data::QuestionAnswer& qa :
           data_.clips[batch.sample_ids[i]].questions) {
        rows.push_back(static_cast<int64_t>(i));
        questions.push_back(qa.q);
        answers.push_back(qa.a);
      }
    }
    if (rows.empty()) return absl::OkStatus();
    const model::InternVideoConfig& config = model_->config();
    const torch::Tensor index = torch::tensor(rows, torch::kInt64);
    const torch::Tensor predicted =
        model_
            ->VqaLogits(masked_video.defined()
                            ? masked_video.index_select(0, index)
                            : torch::Tensor(),
                        multimodal_video.index_select(0, index),
                        tokenizer_.Tokenize(
                            questions, config.multimodal->text.context_length))
            .argmax(1);
    for (size_t q = 0; q < answers.size(); ++q) {
      hits_ += config.vqa->answers[predicted[q].item<int64_t>()] == answers[q];
    }
    n_ += answers.size();
    return absl::OkStatus();
  }
  absl::StatusOr<Metrics> Finish() override {
    return Metrics{{"accuracy", n_ == 0 ? 0.0 : hits_ / n_}, {"n", n_}};
  }

 private:
  model::InternVideoModel model_;
  const Dataset& data_;
  const text::ClipTokenizer& tokenizer_;
  double hits_ = 0, n_ = 0;
};

// Captions generated greedily.
class CaptionEvaluator : public ClipEvaluator {
 public:
  CaptionEvaluator(model::InternVideoModel model, const Dataset& data,
                   const text::ClipTokenizer& tokenizer)
      : model_(std::move(model)), data_(data), tokenizer_(tokenizer) {}
  absl::Status Add(const data::ClipBatch&, const torch::Tensor& masked_video,
                   const torch::Tensor& multimodal_video) override {
    model::CaptionGenerationOptions generation;
    generation.max_length =
        model_->config().multimodal->caption_decoder->max_length;
    generation.sot_token = tokenizer_.start_of_text();
    generation.eot_token = tokenizer_.end_of_text();
    for (const model::GeneratedCaption& caption : model::GenerateCaptions(
             model_->multimodal(), model_->caption_decoder(),
             model_->CaptionVideoTokens(masked_video, multimodal_video),
             generation)) {
      absl::StatusOr<std::string> text = tokenizer_.Decode(
          std::vector<int>(caption.tokens.begin(), caption.tokens.end()));
      if (!text.ok()) return text.status();
      captions_.push_back(std::string(absl::StripAsciiWhitespace(*text)));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<Metrics> Finish() override {
    return CaptionMetrics(captions_, data_.clips);
  }

 private:
  model::InternVideoModel model_;
  const Dataset& data_;
  const text::ClipTokenizer& tokenizer_;
  std::vector<std::string> captions_;
};

constexpr const char* kBuiltinTasks[] = {kRecognitionTask, kRetrievalTask,
                                         kLocalizationTask, kVqaTask,
                                         kCaptionTask};

absl::Status Lacks(const std::string& task, const std::string& what) {
  return absl::FailedPreconditionError(
      absl::StrCat(task, ": the model has no ", what));
}

// The evaluator of a task on trimmed clips: a built-in one or a plug-in's.
// FAILED_PRECONDITION naming what the model lacks for it; INVALID_ARGUMENT
// for a task nobody knows.
absl::StatusOr<std::unique_ptr<ClipEvaluator>> NewClipEvaluator(
    model::InternVideoModel& model, const std::string& task,
    const Dataset& data, const text::ClipTokenizer* tokenizer, int batch_size) {
  const model::InternVideoConfig& config = model->config();
  const bool reads_text =
      task == kRetrievalTask || task == kVqaTask || task == kCaptionTask;
  if (reads_text && tokenizer == nullptr) {
    return Lacks(task, "tokenizer vocabulary");
  }
  if (task == kRecognitionTask) {
    if (!model->masked_encoder())
      return Lacks(task, "finetuned masked encoder");
    return std::make_unique<RecognitionEvaluator>(model);
  }
  if (task == kRetrievalTask) {
    if (!config.multimodal) return Lacks(task, "multimodal encoder");
    return std::make_unique<RetrievalEvaluator>(model, data, *tokenizer,
                                                batch_size);
  }
  if (task == kVqaTask) {
    if (!config.vqa) return Lacks(task, "VQA head");
    return std::make_unique<VqaEvaluator>(model, data, *tokenizer);
  }
  if (task == kCaptionTask) {
    if (!config.multimodal || !config.multimodal->caption_decoder) {
      return Lacks(task, "caption decoder");
    }
    return std::make_unique<CaptionEvaluator>(model, data, *tokenizer);
  }
  if (const TaskPlugin* plugin = FindTaskPlugin(task)) {
    return plugin->NewEvaluator(model, data, tokenizer);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("task ", task, ": expected one of ",
                   absl::StrJoin(EvalTaskNames(), ", ")));
}

// Localization: each untrimmed video's windows through the head, decoded
// into segments.
absl::StatusOr<Metrics> EvaluateLocalization(
    model::InternVideoModel& model, const Dataset& data,
    const video::ClipSpec& windows, int batch_size,
    const std::function<void(int64_t, int64_t)>& on_batch) {
  const model::InternVideoConfig& config = model->config();
  if (!config.localization)
    return Lacks(kLocalizationTask, "localization head");
  std::vector<std::vector<model::Segment>> predictions, truth;
  for (const data::UntrimmedVideo& video : data.videos) {
    absl::StatusOr<data::WindowFeatures> features =
        data::ComputeWindowFeatures(model, video.path, windows, batch_size);
    if (!features.ok()) return features.status();
    const model::LocalizationOutput out =
        model->localization_head()->forward(features->features.unsqueeze(0));
    predictions.push_back(model::DecodeSegments(
        out.class_logits[0], out.offsets[0], features->centres_s,
        config.localization->stride_s, features->duration_s));
    truth.emplace_back();
    for (const data::ActionSegment& segment : video.segments) {
      truth.back().push_back(
          {segment.start_s, segment.end_s, segment.action_id, 1.0});
    }
    if (on_batch) on_batch(predictions.size(), data.videos.size());
  }
  return LocalizationMetrics(predictions, truth);
}

// Restores the model's training mode when evaluation ends, however it ends.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(model::InternVideoModel& model)
      : model_(model), was_training_(model->is_training()) {
    model_->eval();
  }
  ~EvalModeGuard() { model_->train(was_training_); }

 private:
  model::InternVideoModel& model_;
  const bool was_training_;
};

}  // namespace

std::vector<std::string> EvalTaskNames() {
  std::vector<std::string> names(std::begin(kBuiltinTasks),
                                 std::end(kBuiltinTasks));
  for (const std::string& name : TaskPluginNames()) names.push_back(name);
  return names;
}

absl::StatusOr<Metrics> Evaluate(
    model::InternVideoModel& model, const std::string& task,
    const Dataset& data, const text::ClipTokenizer* tokenizer,
    const EvalOptions& eval,
    const std::function<void(int64_t, int64_t)>& on_batch) {
  absl::StatusOr<data::ClipLoaderOptions> cut = LoaderOptions(
      model->config(), internvideo::v1::DataConfig(), /*train=*/false);
  if (!cut.ok()) return cut.status();
  data::ClipLoaderOptions options = *cut;
  options.batch_size = eval.batch_size;
  EvalModeGuard eval_mode(model);
  torch::NoGradGuard no_grad;
  if (task == kLocalizationTask) {
    return EvaluateLocalization(model, data, options.clip, eval.batch_size,
                                on_batch);
  }
  absl::StatusOr<std::unique_ptr<ClipEvaluator>> evaluator =
      NewClipEvaluator(model, task, data, tokenizer, eval.batch_size);
  if (!evaluator.ok()) return evaluator.status();
  absl::StatusOr<std::unique_ptr<data::ClipLoader>> loader =
      data::ClipLoader::Create(data::RecognitionSamples(data.clips), options);
  if (!loader.ok()) return loader.status();
  (*loader)->StartEpoch(0);
  const int64_t total = (*loader)->batches_per_epoch();
  for (int64_t done = 0;; ++done) {
    absl::StatusOr<std::optional<data::ClipBatch>> batch = (*loader)->Next();
    if (!batch.ok()) return batch.status();
    if (!batch->has_value()) break;
    torch::Tensor video = (*batch)->video;  // [B, 3, T, H, W]
    if (eval.single_frame) {
      video = video.narrow(2, video.size(2) / 2, 1).expand_as(video);
    }
    // Cut as the model's ClipInputOf says: the multimodal encoder's clip
    // when it has one, the masked encoder's renormalized from it.
    const torch::Tensor masked_video = model->MaskedVideo(video);
    const torch::Tensor multimodal_video =
        model->config().multimodal ? video : torch::Tensor();
    if (absl::Status s =
            (*evaluator)->Add(**batch, masked_video, multimodal_video);
        !s.ok()) {
      return s;
    }
    if (on_batch) on_batch(done + 1, total);
  }
  return (*evaluator)->Finish();
}

}  // namespace iv::trainer
