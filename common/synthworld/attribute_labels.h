// Labels for the scene-attribute head (model::AttributeConfig) from
// SynthWorld's scene fields: the actor's color and shape and the number of
// objects in view, which manifests of other datasets do not have.
#ifndef COMMON_SYNTHWORLD_ATTRIBUTE_LABELS_H_
#define COMMON_SYNTHWORLD_ATTRIBUTE_LABELS_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/manifest.h"

namespace iv::synthworld {

// Per clip: [color class, shape class, count class] as indices into the
// head's `colors` and `shapes` and num_objects - 1, as int64 [clips, 3].
// INVALID_ARGUMENT naming the first clip whose actor color or shape is not
// among the head's classes or whose count is outside 1..max_objects.
absl::StatusOr<torch::Tensor> AttributeLabels(
    const std::vector<data::TrimmedClip>& clips,
    const std::vector<std::string>& colors,
    const std::vector<std::string>& shapes, int64_t max_objects);

}  // namespace iv::synthworld

#endif  // COMMON_SYNTHWORLD_ATTRIBUTE_LABELS_H_
