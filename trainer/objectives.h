// The training objectives of a recipe: which parts of the model each one
// trains, and its loss on a batch.
//   masked video modeling  VideoMAE: tube masking, MSE on masked tubelets
//   multimodal pretraining symmetric InfoNCE (negatives from every rank)
//                          + teacher-forced captioning cross-entropy
//   CMA                    both video encoders frozen; cross-entropy of the
//                          summed heads of cross-model attention, plus
//                          InfoNCE of its projected class feature against
//                          the captions when it has a video projection
//   recognition            cross-entropy of the masked encoder's head, plus
//                          (attribute_weight) those of the scene-attribute
//                          head: the actor's color, shape, object count
//   captioning             the caption decoder alone, teacher forced
//   localization           the localization head alone on each untrimmed
//                          video's window features (frozen extractor,
//                          computed once per video): sigmoid focal loss
//                          per (window, class) + generalized IoU loss of
//                          the boundary offsets of windows inside an action
//   VQA                    the VQA head alone (encoders frozen):
//                          cross-entropy over its answers, one manifest
//                          question drawn per (epoch, clip)
#ifndef TRAINER_OBJECTIVES_H_
#define TRAINER_OBJECTIVES_H_

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/clip_loader.h"
#include "common/data/manifest.h"
#include "common/model/internvideo/internvideo_model.h"
#include "common/text/clip_tokenizer.h"
#include "protos/training.pb.h"
#include "trainer/evaluation.h"
#include "trainer/training_data.h"

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
  virtual std::vector<internvideo::v1::ModelPart> TrainedParts() const {
    return {};
  }
  // Further parameter-name prefixes it trains: a plug-in's head,
  // "heads.<name>.".
  virtual std::vector<std::string> TrainedPrefixes() const { return {}; }
  // Parameter-name prefixes inside those parts that stay frozen (and in
  // eval mode), e.g. a tower of an encoder whose other tower trains.
  virtual std::vector<std::string> FrozenPrefixes() const { return {}; }
  // The scalar loss of `batch` (normalized as the loader made it).
  virtual torch::Tensor Loss(model::InternVideoModel& model,
                             const data::ClipBatch& batch,
                             const StepContext& context) = 0;
  // The task of the evaluation that tracks it (as `iv eval --task` names
  // it), "" for none.
  virtual std::string eval_task() const = 0;
};

// The objective of `recipe` (a plug-in's for `plugin`), over `train` (the
// training set, for captions, questions and segments; batches' sample ids index
// it) with `tokenizer` (objectives that read text need one).
absl::StatusOr<std::unique_ptr<Objective>> CreateObjective(
    const internvideo::v1::TrainingRecipe& recipe,
    const model::InternVideoConfig& config, const Dataset* train,
    const text::ClipTokenizer* tokenizer);

// ActionFormer's targets and losses for one video: windows whose centre
// lies inside an action (the shortest one, if several) are positives for
// its class and regress the distances to its start and end in strides.
// Returns focal loss (alpha 0.25, gamma 2) summed over (window, class) plus
// the mean generalized IoU loss over positives, both divided as ActionFormer
// does by the number of positives (at least 1).
torch::Tensor LocalizationLoss(const model::LocalizationOutput& output,
                               const std::vector<double>& centres_s,
                               double stride_s,
                               const std::vector<data::ActionSegment>& actions);

// The captions' teacher-forcing labels: tokens [B, N] shifted by one with
// padding (id 0) marked -100, [B, N - 1].
torch::Tensor CaptionLabels(const torch::Tensor& tokens);

}  // namespace iv::trainer

#endif  // TRAINER_OBJECTIVES_H_
