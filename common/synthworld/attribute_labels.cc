#include "common/synthworld/attribute_labels.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace iv::synthworld {
namespace {

// The position of `name` in `names`, or -1.
int64_t IndexOf(const std::vector<std::string>& names,
                const std::string& name) {
  const auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? -1 : it - names.begin();
}

}  // namespace

absl::StatusOr<torch::Tensor> AttributeLabels(
    const std::vector<data::TrimmedClip>& clips,
    const std::vector<std::string>& colors,
    const std::vector<std::string>& shapes, int64_t max_objects) {
  torch::Tensor labels =
      torch::empty({static_cast<int64_t>(clips.size()), 3}, torch::kInt64);
  auto rows = labels.accessor<int64_t, 2>();
  for (size_t i = 0; i < clips.size(); ++i) {
    const data::TrimmedClip& clip = clips[i];
    rows[i][0] = IndexOf(colors, clip.actor.color);
    rows[i][1] = IndexOf(shapes, clip.actor.shape);
    rows[i][2] = clip.num_objects - 1;
    if (rows[i][0] < 0 || rows[i][1] < 0 || rows[i][2] < 0 ||
        rows[i][2] >= max_objects) {
      return absl::InvalidArgumentError(absl::StrCat(
          "clip ", clip.file, " (", clip.actor.color, " ", clip.actor.shape,
          ", ", clip.num_objects,
          " objects) is outside the head's colors, shapes or max_objects"));
    }
  }
  return labels;
}

}  // namespace iv::synthworld
