// The training objectives of a recipe: which parts of the model each one
// trains, and its loss on a batch.
//   masked video modeling  VideoMAE: tube masking, MSE on masked tubelets
//   multimodal pretraining symmetric InfoNCE (negatives from every rank)
//                          + teacher-forced captioning cross-entropy
//   CMA                    both encoders frozen; cross-entropy of the summed
//                          heads of cross-model attention
//   recognition            cross-entropy of the masked encoder's head
//   captioning             the caption decoder alone, teacher forced
#ifndef TRAINER_OBJECTIVES_H_
#define TRAINER_OBJECTIVES_H_

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/clip_loader.h"
#include "common/data/manifest.h"
#include "common/model/internvideo/internvideo_model.h"
#include "common/text/clip_tokenizer.h"
#include "protos/training.pb.h"
#include "trainer/evaluation.h"

namespace iv::trainer {

struct StepContext {
  uint64_t seed = 0;
  int64_t step = 0;
  int epoch = 0;
  int rank = 0;
  // Concatenates a tensor's rows from every rank in rank order, with
  // gradients flowing back to this rank's rows; identity on one process.
  std::function<torch::Tensor(const torch::Tensor&)> all_gather;
  // This rank's row offset in all_gather's result.
  int64_t gather_offset = 0;
};

class Objective {
 public:
  virtual ~Objective() = default;

  // The parts whose parameters this objective trains.
  virtual std::vector<internvideo::v1::ModelPart> TrainedParts() const = 0;
  // The scalar loss of `batch` (normalized as the loader made it).
  virtual torch::Tensor Loss(model::InternVideoModel& model,
                             const data::ClipBatch& batch,
                             const StepContext& context) = 0;
  // The evaluation that tracks it, if any.
  virtual std::optional<EvalTask> eval_task() const = 0;
};

// The objective of `recipe`, over `clips` (the training set, for captions)
// with `tokenizer` (objectives that read text need one).
absl::StatusOr<std::unique_ptr<Objective>> CreateObjective(
    const internvideo::v1::TrainingRecipe& recipe,
    const model::InternVideoConfig& config,
    const std::vector<data::TrimmedClip>* clips,
    const text::ClipTokenizer* tokenizer);

// The captions' teacher-forcing labels: tokens [B, N] shifted by one with
// padding (id 0) marked -100, [B, N - 1].
torch::Tensor CaptionLabels(const torch::Tensor& tokens);

}  // namespace iv::trainer

#endif  // TRAINER_OBJECTIVES_H_
