#include "task_service/question_answerer.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/serving/status.h"

namespace iv::tasks {
namespace {

using internvideo::v1::AnswerQuestionRequest;
using serving::InvalidField;

absl::Status CheckRequest(const AnswerQuestionRequest& request,
                          const TaskOptions& options) {
  if (request.question().empty()) return InvalidField("question", "empty");
  if (static_cast<int>(request.question().size()) >
      options.max_question_bytes) {
    return InvalidField("question",
                        absl::StrCat(request.question().size(),
                                     " bytes, the server's limit is ",
                                     options.max_question_bytes));
  }
  if (request.candidates_size() == 1) {
    return InvalidField("candidates",
                        "1 candidate; give at least 2 for multiple choice, or "
                        "none for an answer from the model's answer set");
  }
  if (request.candidates_size() > options.max_texts) {
    return InvalidField("candidates", absl::StrCat(request.candidates_size(),
                                                   " candidates, the server's "
                                                   "limit is ",
                                                   options.max_texts));
  }
  for (int i = 0; i < request.candidates_size(); ++i) {
    const std::string field = absl::StrCat("candidates[", i, "]");
    const std::string& candidate = request.candidates(i);
    if (candidate.empty()) return InvalidField(field, "empty");
    if (static_cast<int>(candidate.size()) > options.max_text_bytes) {
      return InvalidField(field, absl::StrCat(candidate.size(),
                                              " bytes, the server's limit is ",
                                              options.max_text_bytes));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<internvideo::v1::AnswerQuestionResponse>
QuestionAnswerer::AnswerQuestion(const AnswerQuestionRequest& request,
                                 const serving::Cancelled& cancelled) const {
  if (absl::Status s = CheckRequest(request, options_); !s.ok()) return s;
  absl::StatusOr<int> top_k = ResolveTopK(request.top_k());
  if (!top_k.ok()) return top_k.status();
  absl::StatusOr<ModelPtr> found = registry_->Find(request.model_id());
  if (!found.ok()) return found.status();
  const serving::ModelSnapshot& model = **found;
  const bool multiple_choice = !request.candidates().empty();
  if (model.loaded.tokenizer == nullptr) {
    return Lacks(model, "tokenizer (its config names no vocab_path)",
                 "questions are read by its text encoder");
  }
  const model::InternVideoConfig& config = model.loaded.model->config();
  if (!multiple_choice && !config.vqa) {
    return Lacks(model, "VQA head",
                 "give candidates for multiple choice by video-text matching");
  }
  if (absl::Status s = CheckFitsContext(model, request.question(), "question");
      !s.ok()) {
    return s;
  }
  std::vector<std::string> texts;
  for (int i = 0; i < request.candidates_size(); ++i) {
    texts.push_back(
        absl::StrCat(request.question(), " ", request.candidates(i)));
    if (absl::Status s = CheckFitsContext(
            model, texts.back(),
            absl::StrCat("candidates[", i, "] (with the question)"));
        !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<ModelClips> clips =
      CutModelClips(request.video(), internvideo::v1::ClipSampling(), model,
                    options_, cancelled);
  if (!clips.ok()) return clips.status();

  c10::InferenceMode inference;
  torch::Tensor probabilities;
  std::vector<std::string> labels;
  if (multiple_choice) {
    probabilities = MatchProbabilities(model, *clips, EmbedTexts(model, texts));
    labels = {request.candidates().begin(), request.candidates().end()};
  } else {
    const torch::Tensor tokens =
        model.loaded.tokenizer
            ->Tokenize({request.question()},
                       static_cast<int>(model.config().text.context_length))
            .to(model.device)
            .expand({clips->views, -1});
    probabilities = model.loaded.model.ptr()
                        ->VqaLogits(clips->masked, clips->multimodal, tokens)
                        .to(torch::kFloat32)
                        .softmax(1)
                        .mean(0);
    labels = config.vqa->answers;
  }
  internvideo::v1::AnswerQuestionResponse response;
  AddTopK(probabilities, labels, *top_k, response.mutable_alternatives());
  response.set_answer(response.alternatives(0).label());
  response.set_score(response.alternatives(0).score());
  *response.mutable_model() = model.Ref();
  return response;
}

}  // namespace iv::tasks
