// Video question answering (VQAService.AnswerQuestion) without gRPC.
#ifndef TASK_SERVICE_QUESTION_ANSWERER_H_
#define TASK_SERVICE_QUESTION_ANSWERER_H_

#include "absl/status/statusor.h"
#include "common/serving/model_registry.h"
#include "protos/task_service.pb.h"
#include "task_service/task_inputs.h"

namespace iv::tasks {

class QuestionAnswerer {
 public:
  // `registry` is not owned and must outlive the answerer.
  QuestionAnswerer(const TaskOptions& options,
                   const serving::ModelRegistry* registry)
      : options_(options), registry_(registry) {}

  // The video is cut as the model's sampling defaults say (one centred view
  // unless the config asks for more; views' probabilities are averaged).
  // Open vocabulary: softmax of InternVideoModel::VqaLogits over the VQA
  // head's answers, the question tokenized as the trainer's evaluation
  // tokenizes it. Multiple choice: each candidate's text "<question>
  // <candidate>" through the text encoder, softmax over the candidates of
  // exp(logit_scale) x cosine with the video embedding.
  // `cancelled` is polled while the video is decoded.
  absl::StatusOr<internvideo::v1::AnswerQuestionResponse> AnswerQuestion(
      const internvideo::v1::AnswerQuestionRequest& request,
      const serving::Cancelled& cancelled = {}) const;

 private:
  const TaskOptions options_;
  const serving::ModelRegistry* registry_;
};

}  // namespace iv::tasks

#endif  // TASK_SERVICE_QUESTION_ANSWERER_H_
