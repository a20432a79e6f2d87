#include "task_service/task_inputs.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/serving/status.h"
#include "common/serving/video_source.h"

namespace iv::tasks {

using serving::InvalidField;
using serving::ModelSnapshot;

absl::Status Lacks(const ModelSnapshot& model, absl::string_view part,
                   absl::string_view advice) {
  return absl::FailedPreconditionError(absl::StrCat(
      "model \"", model.model_id, "\" has no ", part, "; ", advice));
}

absl::StatusOr<ModelClips> CutModelClips(
    const internvideo::v1::VideoSource& video,
    const internvideo::v1::ClipSampling& sampling, const ModelSnapshot& model,
    const TaskOptions& options, const serving::Cancelled& cancelled) {
  video::DecoderOptions decoding;
  decoding.cancelled = cancelled;
  absl::StatusOr<std::unique_ptr<video::VideoDecoder>> decoder =
      serving::OpenVideoSource(video, options.allowed_roots, decoding);
  if (!decoder.ok()) return decoder.status();
  serving::ClipRequest request;
  request.video = video;
  request.sampling = sampling;
  absl::StatusOr<serving::VideoClips> cut =
      serving::CutVideoClips(**decoder, request, model, options.clips);
  if (!cut.ok()) return cut.status();
  ModelClips clips;
  clips.views = cut->video_rows;
  const torch::Tensor rows =
      cut->rows.slice(0, 0, cut->video_rows).to(model.device);
  // Cut as the model's ClipInputOf says: for the multimodal encoder when
  // it has one, and the masked encoder reads the same pixels renormalized.
  if (model.loaded.model->config().multimodal) clips.multimodal = rows;
  clips.masked = model.MaskedVideo(rows);
  return clips;
}

int TextTokens(const ModelSnapshot& model, const std::string& text) {
  return static_cast<int>(model.loaded.tokenizer->Encode(text).size()) + 2;
}

absl::Status CheckFitsContext(const ModelSnapshot& model,
                              const std::string& text,
                              absl::string_view field) {
  const int tokens = TextTokens(model, text);
  const int64_t context = model.config().text.context_length;
  if (tokens <= context) return absl::OkStatus();
  return InvalidField(field,
                      absl::StrCat(tokens,
                                   " tokens, more than the text encoder's "
                                   "context length of ",
                                   context));
}

torch::Tensor EmbedTexts(const ModelSnapshot& model,
                         const std::vector<std::string>& texts) {
  const torch::Tensor tokens = model.loaded.tokenizer->Tokenize(
      texts, static_cast<int>(model.config().text.context_length));
  return torch::nn::functional::normalize(
      model.multimodal()->EncodeText(tokens.to(model.device)),
      torch::nn::functional::NormalizeFuncOptions().dim(1));
}

torch::Tensor MatchProbabilities(const ModelSnapshot& model,
                                 const ModelClips& clips,
                                 const torch::Tensor& text_embeddings) {
  const torch::Tensor videos = torch::nn::functional::normalize(
      model.EmbedVideos(clips.multimodal),
      torch::nn::functional::NormalizeFuncOptions().dim(1));
  const torch::Tensor logits = model.multimodal()->logit_scale().exp() *
                               videos.matmul(text_embeddings.t());
  return logits.softmax(1).mean(0);
}

absl::StatusOr<int> ResolveTopK(int top_k) {
  if (top_k < 0) {
    return InvalidField("top_k", absl::StrCat("must be >= 0, got ", top_k));
  }
  return top_k == 0 ? 5 : top_k;
}

void AddTopK(
    const torch::Tensor& probabilities, const std::vector<std::string>& labels,
    int top_k,
    google::protobuf::RepeatedPtrField<internvideo::v1::LabelScore>* scores) {
  const torch::Tensor values =
      probabilities.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t k = std::min<int64_t>(top_k, values.numel());
  const auto [best, indices] = values.topk(k);
  for (int64_t i = 0; i < k; ++i) {
    const int64_t index = indices[i].item<int64_t>();
    internvideo::v1::LabelScore* score = scores->Add();
    score->set_label(index < static_cast<int64_t>(labels.size())
                         ? labels[index]
                         : absl::StrCat(index));
    score->set_index(static_cast<int32_t>(index));
    score->set_score(best[i].item<float>());
  }
}

}  // namespace iv::tasks
