// SynthWorld-Bench metrics (shared/spec/SYNTHWORLD.md, "Evaluation
// protocol"), keyed as `iv eval` prints them, and the loops that compute a
// model's on a set of clips. Used by the trainer's periodic evaluation and
// by `iv eval`.
#ifndef TRAINER_EVALUATION_H_
#define TRAINER_EVALUATION_H_

#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/clip_loader.h"
#include "common/data/manifest.h"
#include "common/model/internvideo/internvideo_model.h"
#include "common/text/clip_tokenizer.h"
#include "trainer/training_data.h"

namespace iv::trainer {

using Metrics = std::map<std::string, double>;

// "top1" over logits [N, C] and labels [N]; "twin_top1":
// synthworld::TwinAccuracy, the reverse-twin decision of SynthWorld's
// actions (labels outside them are left out); "n".
Metrics RecognitionMetrics(const torch::Tensor& logits,
                           const torch::Tensor& labels);

// Text-to-video and video-to-text recall at 1, 5 and 10 ("t2v_r1" ...
// "v2t_r10") of L2-normalized embeddings video [N, D] and text [M, D]
// (one query text per clip in the protocol, so M = N): a hit is a result
// whose key (RetrievalKey) equals the query's.
Metrics RetrievalMetrics(const torch::Tensor& video_embeds,
                         const torch::Tensor& text_embeds,
                         const std::vector<std::string>& video_keys,
                         const std::vector<std::string>& text_keys);

// ActivityNet's detection mAP at tIoU 0.3, 0.4, ..., 0.7 ("map_0.3" ...
// "map_0.7"), "map_mean" of 0.3, 0.5 and 0.7 (SynthWorld-Bench's), and
// "map_0.3:0.7" of all five (THUMOS14's average mAP); "n" videos) of
// `predictions` against `ground_truth`
// (one list of segments per video, same order; ground-truth scores unused).
// Per class with ground truth: predictions of all videos by descending
// score, each matched to the unmatched ground truth of its video with the
// highest tIoU if that reaches the threshold (else a false positive); AP is
// the area under the interpolated precision-recall curve. mAP averages the
// classes.
Metrics LocalizationMetrics(
    const std::vector<std::vector<model::Segment>>& predictions,
    const std::vector<std::vector<model::Segment>>& ground_truth);

// Corpus BLEU-4 (Papineni et al. 2002) of candidates against one reference
// each, words split on white space: the geometric mean of the clipped 1- to
// 4-gram precisions summed over the corpus, times the brevity penalty
// exp(1 - r / c) when the candidates' total length c is below the
// references' r. 0 when some n-gram order has no match (no smoothing).
double CorpusBleu4(const std::vector<std::string>& candidates,
                   const std::vector<std::string>& references);

// "bleu4" against the clips' canonical (first) captions, "n", and for
// SynthWorld clips (ones with an actor) "triple_accuracy": the fraction whose
// caption states their event (synthworld::CaptionTriple == ClipKey).
Metrics CaptionMetrics(const std::vector<std::string>& generated,
                       const std::vector<data::TrimmedClip>& clips);

// What an evaluation on trimmed clips computes, a batch at a time: Evaluate
// cuts the clips in the model's input geometry (centre crops, one view) and
// hands each batch to Add, in both encoders' normalizations (`masked_video`
// undefined without a masked encoder, `multimodal_video` without a
// multimodal one); Finish returns the metrics. Built-in tasks and task
// plug-ins (task_plugin.h) implement it.
class ClipEvaluator {
 public:
  virtual ~ClipEvaluator() = default;
  virtual absl::Status Add(const data::ClipBatch& batch,
                           const torch::Tensor& masked_video,
                           const torch::Tensor& multimodal_video) = 0;
  virtual absl::StatusOr<Metrics> Finish() = 0;
};

// The built-in tasks' names, as `iv eval --task` and Objective::eval_task
// give them. Localization reads untrimmed videos, the others trimmed clips.
inline constexpr char kRecognitionTask[] = "recognition";
inline constexpr char kRetrievalTask[] = "retrieval";
inline constexpr char kLocalizationTask[] = "localization";
inline constexpr char kVqaTask[] = "vqa";
inline constexpr char kCaptionTask[] = "caption";

// What `iv eval --task` accepts: "recognition", "retrieval",
// "localization", "vqa", "caption", then every linked task plug-in's name.
std::vector<std::string> EvalTaskNames();

// Loads the dataset in the model's input geometry (centre crops; untrimmed
// videos as the localization head's windows) and computes the task's
// metrics: VQA "accuracy" (exact match over every question of every clip,
// "n" questions), captions generated greedily. `tokenizer` is needed for
// retrieval, VQA and captions. FAILED_PRECONDITION naming what the model
// lacks for the task; INVALID_ARGUMENT for a task nobody knows.
// `on_batch(done, total)` reports progress.
struct EvalOptions {
  int batch_size = 16;
  // Each trimmed clip's middle frame repeated over time: the single-frame
  // baseline of SynthWorld-Bench (a model that uses time should fall
  // toward 50% on reverse-twin pairs with it).
  bool single_frame = false;
};
absl::StatusOr<Metrics> Evaluate(
    model::InternVideoModel& model, const std::string& task,
    const Dataset& data, const text::ClipTokenizer* tokenizer,
    const EvalOptions& eval = {},
    const std::function<void(int64_t, int64_t)>& on_batch = {});

}  // namespace iv::trainer

#endif  // TRAINER_EVALUATION_H_
