// Trimmed clips as recognition samples for ClipLoader, with the label a
// horizontally mirrored clip carries. Which actions a mirror changes is the
// dataset's knowledge (mmaction2's flip_label_map; SynthWorld's is
// synthworld::MirroredActions()), given here by action name.
#ifndef COMMON_DATA_RECOGNITION_SAMPLES_H_
#define COMMON_DATA_RECOGNITION_SAMPLES_H_

#include <map>
#include <string>
#include <vector>

#include "common/data/clip_loader.h"
#include "common/data/manifest.h"

namespace iv::data {

// Each clip's path and action_id. The flipped label is the id of the action
// `mirrored` maps its action to (ids as the clips themselves pair names and
// ids), its own id when `mirrored` does not name its action, and -1 (the
// sample is never flipped) when the mirrored action is not among the clips.
std::vector<ClipSample> RecognitionSamples(
    const std::vector<TrimmedClip>& clips,
    const std::map<std::string, std::string>& mirrored = {});

}  // namespace iv::data

#endif  // COMMON_DATA_RECOGNITION_SAMPLES_H_
