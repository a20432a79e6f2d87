// The object-count task: trains the object-count head alone (every encoder
// frozen) with cross-entropy against each clip's num_objects, and measures
// its accuracy. `iv eval --task object_count`; recipes:
//   plugin { task: "object_count" }
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/plugin/options.h"
#include "heads/object_count/object_count_head.h"
#include "trainer/task_plugin.h"

namespace iv::heads {
namespace {

using internvideo::heads::v1::ObjectCountTraining;

// Count classes of clips: num_objects - 1.
torch::Tensor CountLabels(const trainer::Dataset& data,
                          const std::vector<int64_t>& sample_ids) {
  std::vector<int64_t> labels;
  for (int64_t id : sample_ids) {
    labels.push_back(data.clips.at(id).num_objects - 1);
  }
  return torch::tensor(labels, torch::kInt64);
}

class ObjectCountObjective : public trainer::Objective {
 public:
  ObjectCountObjective(const trainer::Dataset& train, double label_smoothing)
      : train_(train), label_smoothing_(label_smoothing) {}

  std::vector<std::string> TrainedPrefixes() const override {
    return {absl::StrCat("heads.", kObjectCount, ".")};
  }
  torch::Tensor Loss(model::InternVideoModel& model,
                     const data::ClipBatch& batch,
                     const trainer::StepContext&) override {
    const torch::Tensor logits = ObjectCountLogits(
        model, model->MaskedVideo(batch.video),
        model->config().multimodal ? batch.video : torch::Tensor());
    return torch::nn::functional::cross_entropy(
        logits, CountLabels(train_, batch.sample_ids),
        torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(
            label_smoothing_));
  }
  std::string eval_task() const override { return kObjectCount; }

 private:
  const trainer::Dataset& train_;
  const double label_smoothing_;
};

// "accuracy" of the predicted counts, "n" clips.
class ObjectCountEvaluator : public trainer::ClipEvaluator {
 public:
  ObjectCountEvaluator(model::InternVideoModel model,
                       const trainer::Dataset& data)
      : model_(std::move(model)), data_(data) {}
  absl::Status Add(const data::ClipBatch& batch,
                   const torch::Tensor& masked_video,
                   const torch::Tensor& multimodal_video) override {
    const torch::Tensor predicted =
        ObjectCountLogits(model_, masked_video, multimodal_video).argmax(1);
    hits_ += predicted.eq(CountLabels(data_, batch.sample_ids))
                 .sum()
                 .item<int64_t>();
    n_ += predicted.size(0);
    return absl::OkStatus();
  }
  absl::StatusOr<trainer::Metrics> Finish() override {
    return trainer::Metrics{{"accuracy", n_ == 0 ? 0.0 : hits_ / n_},
                            {"n", n_}};
  }

 private:
  model::InternVideoModel model_;
  const trainer::Dataset& data_;
  double hits_ = 0, n_ = 0;
};

class ObjectCountTask : public trainer::TaskPlugin {
 public:
  absl::Status Validate(const google::protobuf::Any& options,
                        const model::InternVideoConfig& model,
                        const std::string& field) const override {
    ObjectCountTraining training;
    if (absl::Status s = plugin::UnpackOptions(options, field, &training);
        !s.ok()) {
      return s;
    }
    if (training.label_smoothing() < 0 || training.label_smoothing() >= 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".label_smoothing: must be in [0, 1)"));
    }
    if (!model.proto.heads().contains(kObjectCount)) {
      return absl::InvalidArgumentError(
          absl::StrCat("recipe.model.heads[", kObjectCount,
                       "]: the object_count task trains that head; add it"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<trainer::Objective>> CreateObjective(
      const google::protobuf::Any& options,
      const model::InternVideoConfig& model, const trainer::Dataset& train,
      const text::ClipTokenizer*) const override {
    const int64_t max_objects = ObjectCountConfig(model).max_objects();
    for (const data::TrimmedClip& clip : train.clips) {
      if (clip.num_objects < 1 || clip.num_objects > max_objects) {
        return absl::InvalidArgumentError(absl::StrCat(
            "recipe.model.heads[", kObjectCount,
            "].max_objects: training clip ", clip.file, " shows ",
            clip.num_objects, " objects, the head counts 1 to ", max_objects));
      }
    }
    ObjectCountTraining training;
    options.UnpackTo(&training);
    return std::make_unique<ObjectCountObjective>(train,
                                                  training.label_smoothing());
  }

  absl::StatusOr<std::unique_ptr<trainer::ClipEvaluator>> NewEvaluator(
      model::InternVideoModel& model, const trainer::Dataset& data,
      const text::ClipTokenizer*) const override {
    if (!model->plugin_head(kObjectCount)) {
      return absl::FailedPreconditionError(
          absl::StrCat(kObjectCount, ": the model has no object_count head"));
    }
    return std::make_unique<ObjectCountEvaluator>(model, data);
  }
};

const bool kRegistered = [] {
  trainer::RegisterTaskPlugin(kObjectCount,
                              std::make_unique<ObjectCountTask>());
  return true;
}();

}  // namespace
}  // namespace iv::heads
