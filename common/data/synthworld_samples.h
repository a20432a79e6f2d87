// SynthWorld trimmed clips as recognition samples for ClipLoader, with the
// labels a mirrored clip would carry: mirroring swaps move_left/move_right and
// turns clockwise rotations counterclockwise, and leaves the rest alone.
#ifndef COMMON_DATA_SYNTHWORLD_SAMPLES_H_
#define COMMON_DATA_SYNTHWORLD_SAMPLES_H_

#include <vector>

#include "common/data/clip_loader.h"
#include "common/data/manifest.h"

namespace iv::data {

// The action id a horizontal mirror of `action_id` shows.
int MirroredAction(int action_id);

std::vector<ClipSample> RecognitionSamples(
    const std::vector<TrimmedClip>& clips);

}  // namespace iv::data

#endif  // COMMON_DATA_SYNTHWORLD_SAMPLES_H_
