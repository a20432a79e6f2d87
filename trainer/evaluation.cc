#include "trainer/evaluation.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/data/synthworld_samples.h"
#include "common/data/synthworld_vocabulary.h"
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

}  // namespace

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

absl::StatusOr<Metrics> Evaluate(
    model::InternVideoModel& model, EvalTask task,
    const std::vector<data::TrimmedClip>& clips,
    const text::ClipTokenizer* tokenizer, int batch_size,
    const std::function<void(int64_t, int64_t)>& on_batch) {
  const model::InternVideoConfig& config = model->config();
  if (task == EvalTask::kRecognition && !model->masked_encoder()) {
    return absl::FailedPreconditionError(
        "recognition: the model has no finetuned masked encoder");
  }
  if (task == EvalTask::kRetrieval && (!model->multimodal() || !tokenizer)) {
    return absl::FailedPreconditionError(
        "retrieval: the model has no multimodal encoder (or no tokenizer)");
  }
  data::ClipLoaderOptions options =
      LoaderOptions(config, internvideo::v1::DataConfig(), /*train=*/false);
  options.batch_size = batch_size;
  absl::StatusOr<std::unique_ptr<data::ClipLoader>> loader =
      data::ClipLoader::Create(data::RecognitionSamples(clips), options);
  if (!loader.ok()) return loader.status();
  (*loader)->StartEpoch(0);

  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> outputs, labels;
  const int64_t total = (*loader)->batches_per_epoch();
  for (int64_t done = 0;; ++done) {
    absl::StatusOr<std::optional<data::ClipBatch>> batch = (*loader)->Next();
    if (!batch.ok()) return batch.status();
    if (!batch->has_value()) break;
    const torch::Tensor& video = (*batch)->video;
    const torch::Tensor multimodal_video =
        config.multimodal ? Renormalize(video, options.normalization,
                                        MultimodalNormalization(config))
                          : torch::Tensor();
    if (task == EvalTask::kRecognition) {
      outputs.push_back(model->RecognitionLogits(video, multimodal_video));
    } else {
      outputs.push_back(torch::nn::functional::normalize(
          model->multimodal()->EncodeVideo(multimodal_video),
          torch::nn::functional::NormalizeFuncOptions().dim(1)));
    }
    labels.push_back((*batch)->labels);
    if (on_batch) on_batch(done + 1, total);
  }
  model->train(was_training);
  const torch::Tensor output = torch::cat(outputs);
  if (task == EvalTask::kRecognition) {
    return RecognitionMetrics(output.to(torch::kFloat32), torch::cat(labels));
  }
  std::vector<std::string> keys, captions;
  for (const data::TrimmedClip& clip : clips) {
    keys.push_back(ClipKey(clip));
    captions.push_back(clip.captions.empty() ? ClipKey(clip)
                                             : clip.captions.front());
  }
  const int context = config.multimodal->text.context_length;
  std::vector<torch::Tensor> texts;
  for (size_t start = 0; start < captions.size(); start += batch_size) {
    const size_t end = std::min(captions.size(), start + batch_size);
    const torch::Tensor tokens = tokenizer->Tokenize(
        {captions.begin() + start, captions.begin() + end}, context);
    texts.push_back(torch::nn::functional::normalize(
        model->multimodal()->EncodeText(tokens),
        torch::nn::functional::NormalizeFuncOptions().dim(1)));
  }
  return RetrievalMetrics(output, torch::cat(texts), keys, keys);
}

}  // namespace iv::trainer
