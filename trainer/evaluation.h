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
#include "common/data/manifest.h"
#include "common/model/internvideo/internvideo_model.h"
#include "common/text/clip_tokenizer.h"

namespace iv::trainer {

using Metrics = std::map<std::string, double>;

// "top1" over logits [N, C] and labels [N]; "twin_top1": the fraction of
// clips whose true action scores above its time-reversed twin (SynthWorld's
// pairs, ids 2k and 2k + 1), the decision a single frame cannot make;
// "n". Labels outside the twin table are left out of twin_top1.
Metrics RecognitionMetrics(const torch::Tensor& logits,
                           const torch::Tensor& labels);

// Text-to-video and video-to-text recall at 1, 5 and 10 ("t2v_r1" ...
// "v2t_r10") of L2-normalized embeddings video [N, D] and text [M, D]
// (one query text per clip in the protocol, so M = N): a hit is a result
// whose key (the clip's "color shape action" triple) equals the query's.
Metrics RetrievalMetrics(const torch::Tensor& video_embeds,
                         const torch::Tensor& text_embeds,
                         const std::vector<std::string>& video_keys,
                         const std::vector<std::string>& text_keys);

// The (color, shape, action) triple retrieval and captioning match on.
std::string ClipKey(const data::TrimmedClip& clip);

enum class EvalTask { kRecognition, kRetrieval };

// Loads the clips in the model's input geometry (centre crops) and
// computes the task's metrics; `tokenizer` is needed for retrieval.
// `on_batch(done, total)` reports progress.
absl::StatusOr<Metrics> Evaluate(
    model::InternVideoModel& model, EvalTask task,
    const std::vector<data::TrimmedClip>& clips,
    const text::ClipTokenizer* tokenizer, int batch_size = 16,
    const std::function<void(int64_t, int64_t)>& on_batch = {});

}  // namespace iv::trainer

#endif  // TRAINER_EVALUATION_H_
