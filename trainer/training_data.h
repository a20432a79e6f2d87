// What a recipe's DataConfig turns into: the clips of its manifests and a
// ClipLoader cutting them to the model's input geometry.
#ifndef TRAINER_TRAINING_DATA_H_
#define TRAINER_TRAINING_DATA_H_

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/data/clip_loader.h"
#include "common/data/manifest.h"
#include "common/model/internvideo/internvideo_model.h"
#include "protos/training.pb.h"

namespace iv::trainer {

// The samples of a DataConfig: trimmed clips, or untrimmed videos for
// temporal localization.
struct Dataset {
  std::vector<data::TrimmedClip> clips;
  std::vector<data::UntrimmedVideo> videos;
};

// The clips (or, when `untrimmed`, the videos) of every manifest of `data`
// in order, each repeated round(weight) times (weight 0 = 1; at least once
// when weight > 0), cut to max_samples. Action names become class ids
// through `class_names` (the model's ModelConfig.class_names; when empty,
// a row's own action_id holds). Errors name the manifest.
absl::StatusOr<Dataset> ReadDataset(
    const internvideo::v1::DataConfig& data, bool untrimmed,
    const std::vector<std::string>& class_names = {});

// INVALID_ARGUMENT naming the first clip whose action is not one of the
// model's `num_classes` classes, for objectives that learn action labels.
absl::Status CheckActionLabels(const std::vector<data::TrimmedClip>& clips,
                               int64_t num_classes);

// The loader's samples: recognition samples of the clips (mirroring
// SynthWorld's directional actions by name, data::RecognitionSamples), or
// one sample (label -1, never flipped) per video.
std::vector<data::ClipSample> DatasetSamples(const Dataset& dataset);

// What stands for a clip without captions where a text is needed:
// SynthWorld's "color shape action" triple for rows with its scene,
// otherwise the action's name (a Kinetics-style row).
std::string FallbackCaption(const data::TrimmedClip& clip);

// Which clips a retrieval query counts as hits: those with an equal key.
// SynthWorld clips showing the same event share it (synthworld::ClipKey);
// other clips match only themselves (their path), as MSR-VTT's protocol.
std::string RetrievalKey(const data::TrimmedClip& clip);

// How clips are cut for `model`: the ClipSpec every service cuts with
// (video::ResolveClipSpec of the model's ClipInputOf, `data.sampling` on
// top) in one view per sample, plus the recipe's augmentation and workers.
// INVALID_ARGUMENT naming `<field>.sampling.<name>`.
absl::StatusOr<data::ClipLoaderOptions> LoaderOptions(
    const model::InternVideoConfig& model,
    const internvideo::v1::DataConfig& data, bool train,
    absl::string_view field = "recipe.train_data");

}  // namespace iv::trainer

#endif  // TRAINER_TRAINING_DATA_H_
