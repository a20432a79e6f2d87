#include "trainer/evaluation.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/data/synthworld_samples.h"
#include "common/data/synthworld_vocabulary.h"
#include "common/data/window_features.h"
#include "common/model/multimodal/caption_generation.h"
#include "trainer/training_data.h"

namespace iv::trainer {
namespace {

namespace sw = data::synthworld;

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

constexpr std::pair<EvalTask, const char*> kTaskNames[] = {
    {EvalTask::kRecognition, "recognition"},
    {EvalTask::kRetrieval, "retrieval"},
    {EvalTask::kLocalization, "localization"},
    {EvalTask::kVqa, "vqa"},
    {EvalTask::kCaption, "caption"}};

// FAILED_PRECONDITION naming what `model` lacks for `task`.
absl::Status CheckModelFor(model::InternVideoModel& model, EvalTask task,
                           const text::ClipTokenizer* tokenizer) {
  const model::InternVideoConfig& config = model->config();
  std::string missing;
  switch (task) {
    case EvalTask::kRecognition:
      if (!model->masked_encoder()) missing = "a finetuned masked encoder";
      break;
    case EvalTask::kRetrieval:
      if (!config.multimodal) missing = "a multimodal encoder";
      break;
    case EvalTask::kLocalization:
      if (!config.localization) missing = "a localization head";
      break;
    case EvalTask::kVqa:
      if (!config.vqa) missing = "a VQA head";
      break;
    case EvalTask::kCaption:
      if (!config.multimodal || !config.multimodal->caption_decoder) {
        missing = "a caption decoder";
      }
      break;
  }
  const bool reads_text = task == EvalTask::kRetrieval ||
                          task == EvalTask::kVqa || task == EvalTask::kCaption;
  if (missing.empty() && reads_text && tokenizer == nullptr) {
    missing = "a tokenizer vocabulary";
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(EvalTaskName(task), ": the model has no ", missing));
}

}  // namespace

std::string EvalTaskName(EvalTask task) {
  for (const auto& [value, name] : kTaskNames) {
    if (value == task) return name;
  }
  return "";
}

std::optional<EvalTask> ParseEvalTask(const std::string& name) {
  for (const auto& [value, task_name] : kTaskNames) {
    if (name == task_name) return value;
  }
  return std::nullopt;
}

Metrics RecognitionMetrics(const torch::Tensor& logits,
                           const torch::Tensor& labels) {
  const torch::Tensor predicted = logits.argmax(1);
  Metrics metrics;
  const int64_t n = labels.size(0);
  metrics["n"] = static_cast<double>(n);
  metrics["top1"] =
      n == 0 ? 0.0 : predicted.eq(labels).sum().item<double>() / n;
  auto logits_a = logits.accessor<float, 2>();
  auto labels_a = labels.accessor<int64_t, 1>();
  int64_t twin_n = 0, twin_hits = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = labels_a[i];
    if (label < 0 || label >= sw::kNumActions || label >= logits.size(1)) {
      continue;
    }
    const int64_t twin = sw::Actions()[label].twin_id;
    ++twin_n;
    if (logits_a[i][label] > logits_a[i][twin]) ++twin_hits;
  }
  metrics["twin_top1"] =
      twin_n == 0 ? 0.0 : static_cast<double>(twin_hits) / twin_n;
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

std::string ClipKey(const data::TrimmedClip& clip) {
  return absl::StrCat(clip.actor.color, " ", clip.actor.shape, " ",
                      clip.action);
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

std::string CaptionTriple(const std::string& caption) {
  const std::vector<std::string> words =
      absl::StrSplit(absl::AsciiStrToLower(caption), ' ', absl::SkipEmpty());
  std::string color, shape;
  int action = -1;
  size_t action_at = words.size(), action_length = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    if (color.empty() && sw::ColorId(words[i]) >= 0) color = words[i];
    if (shape.empty() && sw::ShapeId(words[i]) >= 0) shape = words[i];
  }
  for (const sw::ActionInfo& info : sw::Actions()) {
    std::vector<absl::string_view> phrases(info.paraphrases.begin(),
                                           info.paraphrases.end());
    phrases.push_back(info.phrase);
    for (absl::string_view phrase : phrases) {
      const std::vector<std::string> tokens =
          absl::StrSplit(phrase, ' ', absl::SkipEmpty());
      for (size_t i = 0; i + tokens.size() <= words.size(); ++i) {
        if (!std::equal(tokens.begin(), tokens.end(), words.begin() + i)) {
          continue;
        }
        if (i < action_at ||
            (i == action_at && tokens.size() > action_length)) {
          action = info.id;
          action_at = i;
          action_length = tokens.size();
        }
        break;
      }
    }
  }
  if (color.empty() || shape.empty() || action < 0) return "";
  return absl::StrCat(color, " ", shape, " ", sw::Actions()[action].name);
}

Metrics CaptionMetrics(const std::vector<std::string>& generated,
                       const std::vector<data::TrimmedClip>& clips) {
  std::vector<std::string> references;
  double hits = 0;
  for (size_t i = 0; i < clips.size(); ++i) {
    references.push_back(clips[i].captions.empty() ? ""
                                                   : clips[i].captions.front());
    hits += CaptionTriple(generated[i]) == ClipKey(clips[i]) ? 1 : 0;
  }
  Metrics metrics;
  metrics["n"] = static_cast<double>(clips.size());
  metrics["triple_accuracy"] = clips.empty() ? 0.0 : hits / clips.size();
  metrics["bleu4"] = CorpusBleu4(generated, references);
  return metrics;
}

absl::StatusOr<Metrics> Evaluate(
    model::InternVideoModel& model, EvalTask task, const Dataset& data,
    const text::ClipTokenizer* tokenizer, const EvalOptions& eval,
    const std::function<void(int64_t, int64_t)>& on_batch) {
  const int batch_size = eval.batch_size;
  const model::InternVideoConfig& config = model->config();
  if (absl::Status s = CheckModelFor(model, task, tokenizer); !s.ok()) {
    return s;
  }
  absl::StatusOr<data::ClipLoaderOptions> cut =
      LoaderOptions(config, internvideo::v1::DataConfig(), /*train=*/false);
  if (!cut.ok()) return cut.status();
  data::ClipLoaderOptions options = *cut;
  options.batch_size = batch_size;
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  if (task == EvalTask::kLocalization) {
    std::vector<std::vector<model::Segment>> predictions, truth;
    for (const data::UntrimmedVideo& video : data.videos) {
      absl::StatusOr<data::WindowFeatures> windows =
          data::ComputeWindowFeatures(model, video.path, options.clip,
                                      batch_size);
      if (!windows.ok()) return windows.status();
      const model::LocalizationOutput out =
          model->localization_head()->forward(windows->features.unsqueeze(0));
      predictions.push_back(model::DecodeSegments(
          out.class_logits[0], out.offsets[0], windows->centres_s,
          config.localization->stride_s, windows->duration_s));
      truth.emplace_back();
      for (const data::ActionSegment& segment : video.segments) {
        truth.back().push_back(
            {segment.start_s, segment.end_s, segment.action_id, 1.0});
      }
      if (on_batch) on_batch(predictions.size(), data.videos.size());
    }
    model->train(was_training);
    return LocalizationMetrics(predictions, truth);
  }

  absl::StatusOr<std::unique_ptr<data::ClipLoader>> loader =
      data::ClipLoader::Create(data::RecognitionSamples(data.clips), options);
  if (!loader.ok()) return loader.status();
  (*loader)->StartEpoch(0);
  std::vector<torch::Tensor> outputs, labels;
  std::vector<std::string> captions;
  double vqa_hits = 0, vqa_n = 0;
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
        config.multimodal ? video : torch::Tensor();
    switch (task) {
      case EvalTask::kRecognition:
        outputs.push_back(
            model->RecognitionLogits(masked_video, multimodal_video));
        break;
      case EvalTask::kRetrieval:
        outputs.push_back(torch::nn::functional::normalize(
            model->VideoEmbeds(masked_video, multimodal_video),
            torch::nn::functional::NormalizeFuncOptions().dim(1)));
        break;
      case EvalTask::kVqa: {
        // Every question of every clip: each clip's row repeats per question.
        std::vector<int64_t> rows;
        std::vector<std::string> questions, answers;
        for (size_t i = 0; i < (*batch)->sample_ids.size(); ++i) {
          for (const data::QuestionAnswer& qa :
               data.clips[(*batch)->sample_ids[i]].questions) {
            rows.push_back(static_cast<int64_t>(i));
            questions.push_back(qa.q);
            answers.push_back(qa.a);
          }
        }
        if (rows.empty()) break;
        const torch::Tensor index = torch::tensor(rows, torch::kInt64);
        const torch::Tensor predicted =
            model
                ->VqaLogits(
                    masked_video.defined() ? masked_video.index_select(0, index)
                                           : torch::Tensor(),
                    multimodal_video.index_select(0, index),
                    tokenizer->Tokenize(questions,
                                        config.multimodal->text.context_length))
                .argmax(1);
        for (size_t q = 0; q < answers.size(); ++q) {
          vqa_hits +=
              config.vqa->answers[predicted[q].item<int64_t>()] == answers[q];
        }
        vqa_n += answers.size();
        break;
      }
      case EvalTask::kCaption: {
        model::CaptionGenerationOptions generation;
        generation.max_length = config.multimodal->caption_decoder->max_length;
        generation.sot_token = tokenizer->start_of_text();
        generation.eot_token = tokenizer->end_of_text();
        for (const model::GeneratedCaption& caption : model::GenerateCaptions(
                 model->multimodal(), model->caption_decoder(),
                 model->CaptionVideoTokens(masked_video, multimodal_video),
                 generation)) {
          absl::StatusOr<std::string> text = tokenizer->Decode(
              std::vector<int>(caption.tokens.begin(), caption.tokens.end()));
          if (!text.ok()) return text.status();
          captions.push_back(std::string(absl::StripAsciiWhitespace(*text)));
        }
        break;
      }
      case EvalTask::kLocalization:
        break;
    }
    labels.push_back((*batch)->labels);
    if (on_batch) on_batch(done + 1, total);
  }
  model->train(was_training);
  if (task == EvalTask::kVqa) {
    return Metrics{{"accuracy", vqa_n == 0 ? 0.0 : vqa_hits / vqa_n},
                   {"n", vqa_n}};
  }
  if (task == EvalTask::kCaption) return CaptionMetrics(captions, data.clips);
  const torch::Tensor output = torch::cat(outputs);
  if (task == EvalTask::kRecognition) {
    return RecognitionMetrics(output.to(torch::kFloat32), torch::cat(labels));
  }
  std::vector<std::string> keys, texts;
  for (const data::TrimmedClip& clip : data.clips) {
    keys.push_back(ClipKey(clip));
    texts.push_back(clip.captions.empty() ? ClipKey(clip)
                                          : clip.captions.front());
  }
  const int context = config.multimodal->text.context_length;
  std::vector<torch::Tensor> embeddings;
  for (size_t start = 0; start < texts.size(); start += batch_size) {
    const size_t end = std::min(texts.size(), start + batch_size);
    const torch::Tensor tokens = tokenizer->Tokenize(
        {texts.begin() + start, texts.begin() + end}, context);
    embeddings.push_back(torch::nn::functional::normalize(
        model->multimodal()->EncodeText(tokens),
        torch::nn::functional::NormalizeFuncOptions().dim(1)));
  }
  return RetrievalMetrics(output, torch::cat(embeddings), keys, keys);
}

}  // namespace iv::trainer
