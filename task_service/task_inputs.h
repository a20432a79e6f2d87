// What every task RPC reads from its request besides its own fields: the
// model that answers, the video's clips cut for that model's encoders, texts
// through the text encoder, and the top-k of a probability vector. The
// clips and texts are checked here so that each RPC's errors name the
// request's field.
#ifndef TASK_SERVICE_TASK_INPUTS_H_
#define TASK_SERVICE_TASK_INPUTS_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/serving/cancellation.h"
#include "common/serving/model_registry.h"
#include "common/serving/video_clips.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "protos/task_service.pb.h"

namespace iv::tasks {

struct TaskOptions {
  // Folders whose files video.path may name; empty = paths are refused.
  std::vector<std::string> allowed_roots;
  serving::ClipLimits clips;
  int max_question_bytes = 512;
  int max_texts = 256;        // zero_shot.labels, candidates
  int max_text_bytes = 1024;  // per label or candidate
  // Window features of recent videos kept for Localize (0 = no cache).
  int64_t feature_cache_bytes = int64_t{256} << 20;
  int feature_batch = 16;  // windows per forward when computing them
  // Most windows Localize computes for one video (the localization head's
  // window_s / stride_s fix how many a video makes).
  int64_t max_localize_windows = 14400;
};

using ModelPtr = std::shared_ptr<const serving::ModelSnapshot>;

// FAILED_PRECONDITION "model \"<id>\" has no <part>; <advice>".
absl::Status Lacks(const serving::ModelSnapshot& model, absl::string_view part,
                   absl::string_view advice);

// One video's views (clips x crops), each a row for each encoder: the same
// pixels normalized for the multimodal encoder and, when the model has a
// masked encoder, for that one (both encoders read the same frames, as the
// trainer's evaluation feeds them). On the model's device.
struct ModelClips {
  torch::Tensor multimodal;  // [views, 3, T, S, S]; undefined without one
  torch::Tensor masked;      // undefined without a masked encoder
  int64_t views = 0;
};

// Decodes and cuts `video` (its `segment` too) with `sampling`, polling
// `cancelled` while decoding (CANCELLED once it is true).
// INVALID_ARGUMENT for bad sampling or a file that is not a video,
// PERMISSION_DENIED / NOT_FOUND for paths.
absl::StatusOr<ModelClips> CutModelClips(
    const internvideo::v1::VideoSource& video,
    const internvideo::v1::ClipSampling& sampling,
    const serving::ModelSnapshot& model, const TaskOptions& options,
    const serving::Cancelled& cancelled = {});

// The number of tokens the text encoder reads for `text` (with its start
// and end tokens).
int TextTokens(const serving::ModelSnapshot& model, const std::string& text);

// INVALID_ARGUMENT naming `field` when `text` does not fit the text
// encoder's context length (it would be truncated, changing its meaning).
absl::Status CheckFitsContext(const serving::ModelSnapshot& model,
                              const std::string& text, absl::string_view field);

// `texts` through the text encoder, L2-normalized: [N, embed_dim] on the
// model's device. The caller checked them with CheckFitsContext.
torch::Tensor EmbedTexts(const serving::ModelSnapshot& model,
                         const std::vector<std::string>& texts);

// exp(logit_scale) x cosine of each view's video embedding with each text
// embedding, softmax over the texts, averaged over the views: [texts].
torch::Tensor MatchProbabilities(const serving::ModelSnapshot& model,
                                 const ModelClips& clips,
                                 const torch::Tensor& text_embeddings);

// INVALID_ARGUMENT "top_k: must be >= 0" for a negative value; else the
// count to return (0 = 5).
absl::StatusOr<int> ResolveTopK(int top_k);

// The `top_k` best of `probabilities` [N] (float, on any device), best
// first, named by `labels` (an index without a name is named by its
// number).
void AddTopK(
    const torch::Tensor& probabilities, const std::vector<std::string>& labels,
    int top_k,
    google::protobuf::RepeatedPtrField<internvideo::v1::LabelScore>* scores);

}  // namespace iv::tasks

#endif  // TASK_SERVICE_TASK_INPUTS_H_
