// Action recognition (RecognitionService.Recognize) without gRPC: a clip or
// a whole video -> the top-k labels with softmax probabilities, from the
// model's trained head or zero-shot from label texts.
#ifndef TASK_SERVICE_RECOGNIZER_H_
#define TASK_SERVICE_RECOGNIZER_H_

#include "absl/status/statusor.h"
#include "common/serving/model_registry.h"
#include "protos/task_service.pb.h"
#include "task_service/task_inputs.h"

namespace iv::tasks {

class Recognizer {
 public:
  // `registry` is not owned and must outlive the recognizer.
  Recognizer(const TaskOptions& options, const serving::ModelRegistry* registry)
      : options_(options), registry_(registry) {}

  // Every view (sampling's clips x crops) is classified; the views'
  // probabilities are averaged. Trained head: softmax of
  // InternVideoModel::RecognitionLogits (CMA's, else the masked encoder's)
  // over the config's class_names. Zero-shot: softmax over the labels of
  // exp(logit_scale) x cosine(video embedding, prompt embedding).
  // `cancelled` is polled while the video is decoded (the gRPC layer passes
  // its client's cancellation and deadline).
  absl::StatusOr<internvideo::v1::RecognizeResponse> Recognize(
      const internvideo::v1::RecognizeRequest& request,
      const serving::Cancelled& cancelled = {}) const;

 private:
  const TaskOptions options_;
  const serving::ModelRegistry* registry_;
};

}  // namespace iv::tasks

#endif  // TASK_SERVICE_RECOGNIZER_H_
